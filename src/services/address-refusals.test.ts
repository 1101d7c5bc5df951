import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SecretRecord } from "../core/model.js";
import { createSqliteStore } from "../storage/sqlite/sqlite-store.js";
import { pollUntil } from "../test-support/poll.js";
import { serviceDepsForTest } from "../test-support/service-deps.js";
import { AddressRefusalRecorder, MAX_ADDRESS_REFUSALS_PER_TOKEN } from "./address-refusals.js";
import { createApplication } from "./applications.js";
import type { Store } from "./ports.js";
import { createToken } from "./tokens.js";

const HOUR = 3_600_000;
const user = { id: "usr_AAAAAAAAAAAAAAAAAAAA", email: "a@example.com", name: "A", createdAt: 0 };
let dir: string;
let store: Store;
let now: number;
let recorder: AddressRefusalRecorder;
let refused: SecretRecord;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-address-refusals-"));
  store = await createSqliteStore({ path: join(dir, "k.db") });
  now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const deps = serviceDepsForTest(
    store,
    { now: () => now },
    {
      tokenChanged: async () => {},
      tokensRevoked: async () => {},
    },
  );
  await store.users.insertUser({ ...user, passwordHash: "x" });
  const app = await createApplication(deps, user, { name: "Acme" });
  const { record } = await createToken(deps, user, app.id, {
    name: "fenced",
    allowedAddresses: ["10.0.0.1"],
  });
  refused = {
    tokenId: record.id,
    applicationId: app.id,
    userId: user.id,
  } as SecretRecord;
  recorder = new AddressRefusalRecorder(
    deps,
    (error) => {
      throw error;
    },
    // The server counts an IPv6 address by its /64; written out for these addresses.
    (address) => (address.includes(":") ? address.split(":").slice(0, 4).join(":") : address),
  );
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const recorded = async () =>
  store.audit.count({ tokenId: refused.tokenId, action: "token.refused" });

describe("AddressRefusalRecorder", () => {
  it("records a network once an hour, a token at most MAX_ADDRESS_REFUSALS_PER_TOKEN times an hour, and again the next hour", async () => {
    for (let i = 1; i <= 3; i++) recorder.record(refused, `2001:db8:1:2::${i}`);
    recorder.record(refused, "192.0.2.1");
    recorder.record(refused, "192.0.2.1");
    await pollUntil("two rows", async () => (await recorded()) === 2);

    for (let n = 1; n <= MAX_ADDRESS_REFUSALS_PER_TOKEN + 20; n++)
      recorder.record(refused, `2001:db8:100:${n}::1`);
    await pollUntil("the hour's rows", async () => (await recorded()) === 100);

    // The next hour counts afresh, and a network seen an hour ago is news again.
    now += HOUR;
    recorder.record(refused, "192.0.2.1");
    recorder.record(refused, "2001:db8:1:2::9");
    await pollUntil("the next hour's rows", async () => (await recorded()) === 102);
    now += HOUR - 1;
    recorder.record(refused, "192.0.2.1");
    // Within that hour: nothing more is written for it (a row for another token shows the
    // writes above have landed).
    const other = { ...refused, tokenId: "tok_BBBBBBBBBBBBBBBBBBBB" };
    recorder.record(other, "192.0.2.1");
    await pollUntil(
      "the other token's row",
      async () => (await store.audit.count({ tokenId: other.tokenId })) === 1,
    );
    expect(await recorded()).toBe(102);
  });
});
