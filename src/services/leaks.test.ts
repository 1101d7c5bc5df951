import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashToken } from "../core/token.js";
import { createSqliteStore } from "../storage/sqlite/sqlite-store.js";
import { serviceDepsForTest } from "../test-support/service-deps.js";
import { createApplication } from "./applications.js";
import { NO_CONTEXT } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import { reportLeakedTokens } from "./leaks.js";
import type { Store } from "./ports.js";
import { createToken } from "./tokens.js";

let dir: string;
let store: Store;
let deps: ServiceDeps;
/** Each announcement, with whether the other token was already revoked in storage then. */
let announced: Array<{ ids: readonly string[]; otherRevoked: boolean }>;
let other: string | undefined;

const user = { id: "usr_AAAAAAAAAAAAAAAAAAAA", email: "a@example.com", name: "A", createdAt: 0 };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-leaks-"));
  store = await createSqliteStore({ path: join(dir, "k.db") });
  announced = [];
  const otherRevoked = async () =>
    other !== undefined && (await store.tokens.findSecret(hashToken(other)))?.revokedAt !== null;
  deps = serviceDepsForTest(
    store,
    { now: () => Date.UTC(2026, 0, 1) },
    {
      tokenChanged: async (ids) => {
        announced.push({ ids, otherRevoked: await otherRevoked() });
      },
      tokensRevoked: async (ids) => {
        announced.push({ ids, otherRevoked: await otherRevoked() });
      },
    },
  );
  await store.users.insertUser({ ...user, passwordHash: "x" });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a leak report", () => {
  it("announces each revocation as it is made, before it looks at the next reported token", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const first = await createToken(deps, user, app.id, { name: "first" });
    const second = await createToken(deps, user, app.id, { name: "second" });
    other = second.token;
    await reportLeakedTokens(deps, [first.token, second.token], NO_CONTEXT);
    expect(announced).toEqual([
      { ids: [first.record.id], otherRevoked: false },
      { ids: [second.record.id], otherRevoked: true },
    ]);
  });
});
