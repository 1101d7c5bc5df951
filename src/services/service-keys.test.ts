import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSqliteStore } from "../storage/sqlite/sqlite-store.js";
import { pollUntil } from "../test-support/poll.js";
import { serviceDepsForTest } from "../test-support/service-deps.js";
import { createApplication } from "./applications.js";
import type { ServiceDeps } from "./deps.js";
import type { Store } from "./ports.js";
import { ServiceKeyCache } from "./service-key-cache.js";
import { authenticateServiceKey, createServiceKey } from "./service-keys.js";

const MINUTE = 60_000;
let dir: string;
let store: Store;
let now: number;
let cache: ServiceKeyCache;
let deps: ServiceDeps;

const user = { id: "usr_AAAAAAAAAAAAAAAAAAAA", email: "a@example.com", name: "A", createdAt: 0 };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-service-keys-"));
  store = await createSqliteStore({ path: join(dir, "k.db") });
  now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const clock = { now: () => now };
  // Older than the default 5 s: these tests look at cache hits across minutes.
  cache = new ServiceKeyCache(clock, 10 * MINUTE);
  deps = serviceDepsForTest(
    store,
    clock,
    {
      tokenChanged: async (ids) => cache.invalidate(ids),
      tokensRevoked: async (ids) => cache.invalidate(ids),
    },
    {
      serviceKeyCache: cache,
    },
  );
  await store.users.insertUser({ ...user, passwordHash: "x" });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function newKey() {
  const app = await createApplication(deps, user, { name: "Acme" });
  const { key, record } = await createServiceKey(deps, user, app.id, { name: "backend" });
  return { key, record, appId: app.id };
}

async function lastUsedAt(appId: string): Promise<number | null> {
  return (await store.serviceKeys.listServiceKeys(appId))[0]?.lastUsedAt ?? null;
}

describe("authenticateServiceKey", () => {
  it("reads a key once, then serves it from memory", async () => {
    const { key } = await newKey();
    expect((await authenticateServiceKey(deps, key))?.name).toBe("backend");
    const reads = store.stats.reads;
    for (let i = 0; i < 5; i++) expect(await authenticateServiceKey(deps, key)).toBeDefined();
    expect(store.stats.reads).toBe(reads);
  });

  it("does not cache a read during which a change was heard: it may predate a revocation", async () => {
    const { key, record } = await newKey();
    const reading = authenticateServiceKey(deps, key);
    // Heard while the read is under way (the revocation committed after the key was read).
    cache.invalidate([record.id]);
    expect(await reading).toBeDefined();
    const reads = store.stats.reads;
    expect(await authenticateServiceKey(deps, key)).toBeDefined();
    expect(store.stats.reads).toBe(reads + 1);
    // That read saw no change during it: cached from now on.
    expect(await authenticateServiceKey(deps, key)).toBeDefined();
    expect(store.stats.reads).toBe(reads + 1);
  });

  it("records a key's use at most once a minute, cache hits included", async () => {
    const { key, appId } = await newKey();
    const first = now;
    await authenticateServiceKey(deps, key);
    await pollUntil("the first use recorded", async () => (await lastUsedAt(appId)) === first);
    now += 30_000;
    for (let i = 0; i < 5; i++) await authenticateServiceKey(deps, key);
    // The store's one connection runs statements in order: a write these calls started
    // would have landed before this read.
    expect(await lastUsedAt(appId)).toBe(first);
    now += 31_000;
    await authenticateServiceKey(deps, key);
    // Recorded from a cache hit, a minute after the last.
    await pollUntil(
      "the use a minute later recorded",
      async () => (await lastUsedAt(appId)) === first + 61_000,
    );
  });
});
