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
import { createToken, regenerateToken } from "./tokens.js";

let dir: string;
let store: Store;
let deps: ServiceDeps;
/** Each announcement, with whether the other token was already revoked in storage then. */
let announced: Array<{ ids: readonly string[]; otherRevoked: boolean }>;
let other: string | undefined;
/** The ids announced as revoked (a stricter notice than a change). */
let revokedAnnouncements: Array<readonly string[]>;

const user = { id: "usr_AAAAAAAAAAAAAAAAAAAA", email: "a@example.com", name: "A", createdAt: 0 };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-leaks-"));
  store = await createSqliteStore({ path: join(dir, "k.db") });
  announced = [];
  revokedAnnouncements = [];
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
        revokedAnnouncements.push(ids);
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

  it("ends only the reported secret when its owner regenerated the token after the report read it", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "racing" });
    const reported = hashToken(issued.token);
    let regenerated: string | undefined;
    // The report reads the secret while it is still current; the owner's regeneration (with
    // a grace period) commits just after that read, before the report acts on it.
    const racingDeps: ServiceDeps = {
      ...deps,
      store: {
        ...store,
        tokens: {
          ...store.tokens,
          findSecret: async (hash) => {
            const read = await store.tokens.findSecret(hash);
            if (hash === reported && regenerated === undefined) {
              regenerated = (
                await regenerateToken(deps, user, app.id, issued.record.id, { graceSeconds: 3600 })
              ).token;
            }
            return read;
          },
        },
      },
    };
    await reportLeakedTokens(racingDeps, [issued.token], NO_CONTEXT);

    if (regenerated === undefined) throw new Error("the regeneration did not run");
    expect(await store.tokens.findSecret(reported)).toBeUndefined();
    expect(await store.tokens.findSecret(hashToken(regenerated))).toMatchObject({
      revokedAt: null,
      secretExpiresAt: null,
    });
    // Announced as a change (the regeneration's, then the report's), never as a revocation.
    expect(announced.map((a) => a.ids)).toEqual([[issued.record.id], [issued.record.id]]);
    expect(revokedAnnouncements).toEqual([]);
  });
});
