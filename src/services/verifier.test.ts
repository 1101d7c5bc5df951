import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateToken } from "../core/token.js";
import { cryptoRandom } from "../platform/system.js";
import { createSqliteStore } from "../storage/sqlite/sqlite-store.js";
import { serviceDepsForTest } from "../test-support/service-deps.js";
import { createApplication } from "./applications.js";
import type { ServiceDeps } from "./deps.js";
import type { Store } from "./ports.js";
import { createToken, regenerateToken, revokeToken, setTokenAllowedAddresses } from "./tokens.js";
import { UsageRecorder } from "./usage-recorder.js";
import { TokenVerifier, type VerifierOptions } from "./verifier.js";

let dir: string;
let store: Store;
let now: number;
let deps: ServiceDeps;
let verifier: TokenVerifier;
let usage: UsageRecorder;

const user = { id: "usr_AAAAAAAAAAAAAAAAAAAA", email: "a@example.com", name: "A", createdAt: 0 };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-verifier-"));
  store = await createSqliteStore({ path: join(dir, "k.db") });
  now = Date.UTC(2026, 0, 1, 23, 59, 0);
  const clock = { now: () => now };
  usage = new UsageRecorder(store.usage);
  verifier = new TokenVerifier(store.tokens, clock, usage, {
    tokenPrefix: "kw",
    cacheSize: 2,
    cacheMaxAgeMs: 5000,
  });
  deps = serviceDepsForTest(store, clock, {
    tokenChanged: async (ids) => verifier.invalidate(ids),
    tokensRevoked: async (ids) => verifier.revoke(ids),
  });
  await store.users.insertUser({ ...user, passwordHash: "x" });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Two new tokens of a new application of `user`. */
async function twoTokens() {
  const app = await createApplication(deps, user, { name: "A" });
  return [
    await createToken(deps, user, app.id, { name: "first" }),
    await createToken(deps, user, app.id, { name: "second" }),
  ] as const;
}

/** How many storage reads verifying `token` (valid) took. */
async function readsOf(token: string, by: TokenVerifier = verifier): Promise<number> {
  const before = store.stats.reads;
  expect((await by.verify(token)).ok).toBe(true);
  return store.stats.reads - before;
}

/** A verifier over the same store and clock as `verifier`, with other cache options. */
function verifierWith(options: Partial<VerifierOptions>): TokenVerifier {
  return new TokenVerifier(store.tokens, { now: () => now }, usage, {
    tokenPrefix: "kw",
    cacheSize: 10,
    cacheMaxAgeMs: 5000,
    ...options,
  });
}

describe("TokenVerifier", () => {
  it("says why a token failed, as data", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t", expiresAt: now + 1000 });
    expect(await verifier.verify(issued.token)).toMatchObject({ ok: true });
    expect(await verifier.verify("nope")).toEqual({ ok: false, reason: "malformed" });
    expect(
      await verifier.verify(
        `${issued.token.slice(0, -1)}${issued.token.endsWith("0") ? "1" : "0"}`,
      ),
    ).toEqual({ ok: false, reason: "checksum" });
    expect(await verifier.verify(generateToken(cryptoRandom, "kw"))).toEqual({
      ok: false,
      reason: "unknown",
    });
    now += 1000;
    expect(await verifier.verify(issued.token)).toMatchObject({ ok: false, reason: "expired" });
    const other = await createToken(deps, user, app.id, { name: "u" });
    await revokeToken(deps, user, app.id, other.record.id);
    expect(await verifier.verify(other.token)).toMatchObject({ ok: false, reason: "revoked" });
  });

  it("answers without a promise when memory decides, and counts each answer once", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t" });
    // A miss reads storage: a promise.
    const first = verifier.verifyNow(issued.token);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toMatchObject({ ok: true });
    // A cached token, and tokens refused offline: the answer itself.
    expect(verifier.verifyNow(issued.token)).toMatchObject({ ok: true });
    expect(verifier.verifyNow("nope")).toEqual({ ok: false, reason: "malformed" });
    const wrongChecksum = `${issued.token.slice(0, -1)}${issued.token.endsWith("0") ? "1" : "0"}`;
    expect(verifier.verifyNow(wrongChecksum)).toEqual({ ok: false, reason: "checksum" });
    // A revocation heard is answered from memory too.
    await revokeToken(deps, user, app.id, issued.record.id);
    expect(verifier.verifyNow(issued.token)).toMatchObject({ ok: false, reason: "revoked" });
    // A made-up token of our format: SQLite's filter of every stored secret answers from
    // memory. The same store without that answer goes through a lookup's promise.
    const madeUp = generateToken(cryptoRandom, "kw");
    expect(verifier.verifyNow(madeUp)).toEqual({ ok: false, reason: "unknown" });
    const withoutMemoryAnswer = new TokenVerifier(
      { ...store.tokens, mayHoldSecret: undefined },
      { now: () => now },
      new UsageRecorder(store.usage),
      { tokenPrefix: "kw", cacheSize: 2, cacheMaxAgeMs: 5000 },
    );
    const lookedUp = withoutMemoryAnswer.verifyNow(madeUp);
    expect(lookedUp).toBeInstanceOf(Promise);
    expect(await lookedUp).toEqual({ ok: false, reason: "unknown" });
    expect(verifier.counts.outcomes).toMatchObject({
      ok: 2,
      malformed: 1,
      checksum: 1,
      revoked: 1,
      unknown: 1,
    });
    expect([verifier.counts.cacheHits, verifier.counts.cacheMisses]).toEqual([2, 2]);
    expect(usage.unflushedRequests).toBe(2);
  });

  it("serves a revocation from the next request although the answer was cached", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t" });
    expect((await verifier.verify(issued.token)).ok).toBe(true);
    expect(verifier.cacheEntries).toBe(1);
    const reads = store.stats.reads;
    expect((await verifier.verify(issued.token)).ok).toBe(true);
    expect(store.stats.reads).toBe(reads);
    await revokeToken(deps, user, app.id, issued.record.id);
    expect(await verifier.verify(issued.token)).toMatchObject({ ok: false, reason: "revoked" });
  });

  it("answers a revoked token from memory: no storage read after the revocation is heard", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t" });
    expect((await verifier.verify(issued.token)).ok).toBe(true);
    await revokeToken(deps, user, app.id, issued.record.id);
    const reads = store.stats.reads;
    const misses = verifier.counts.cacheMisses;
    for (let i = 0; i < 3; i++) {
      expect(await verifier.verify(issued.token)).toEqual({
        ok: false,
        reason: "revoked",
        tokenId: issued.record.id,
      });
    }
    expect(store.stats.reads).toBe(reads);
    expect(verifier.counts.cacheMisses).toBe(misses);
  });

  it("keeps the memory's revoked answer through a plain change heard after it, until the maximum age", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t" });
    expect((await verifier.verify(issued.token)).ok).toBe(true);
    // Heard, but not in storage: what is answered comes from memory alone.
    verifier.revoke([issued.record.id]);
    verifier.invalidate([issued.record.id]);
    const reads = store.stats.reads;
    expect(await verifier.verify(issued.token)).toMatchObject({ ok: false, reason: "revoked" });
    now += 4000;
    verifier.invalidate([issued.record.id]);
    expect(await verifier.verify(issued.token)).toMatchObject({ ok: false, reason: "revoked" });
    expect(store.stats.reads).toBe(reads);
    // Past the maximum age the entry is read again, and storage is the authority.
    now += 1500;
    expect((await verifier.verify(issued.token)).ok).toBe(true);
    expect(store.stats.reads).toBe(reads + 1);
  });

  it("re-reads only the invalidated token, and caches it again from the read after", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const changed = await createToken(deps, user, app.id, { name: "changed" });
    const untouched = await createToken(deps, user, app.id, { name: "untouched" });
    await verifier.verify(changed.token);
    await verifier.verify(untouched.token);
    const reads = store.stats.reads;
    verifier.invalidate([changed.record.id]);
    expect((await verifier.verify(untouched.token)).ok).toBe(true);
    expect(store.stats.reads).toBe(reads);
    expect((await verifier.verify(changed.token)).ok).toBe(true);
    expect(store.stats.reads).toBe(reads + 1);
    // The entry read after the invalidation is fresh: not re-read on every request.
    expect((await verifier.verify(changed.token)).ok).toBe(true);
    now += 4000;
    verifier.invalidate([untouched.record.id]);
    expect((await verifier.verify(changed.token)).ok).toBe(true);
    expect(store.stats.reads).toBe(reads + 1);
  });

  it("keeps a revoked token refused after its invalidation is forgotten, even with the clock set back", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const revoked = await createToken(deps, user, app.id, { name: "revoked" });
    const other = await createToken(deps, user, app.id, { name: "other" });
    expect((await verifier.verify(revoked.token)).ok).toBe(true);
    now -= 10_000; // the system clock is set back: the cached entry looks 10 s younger
    await revokeToken(deps, user, app.id, revoked.record.id);
    now += 6000; // the revocation is older than the cache's maximum age: forgotten
    await revokeToken(deps, user, app.id, other.record.id);
    expect(await verifier.verify(revoked.token)).toMatchObject({ ok: false, reason: "revoked" });
  });

  it("keeps a revoked token refused when its invalidation is forgotten on a cache hit, with the clock set back", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const revoked = await createToken(deps, user, app.id, { name: "revoked" });
    expect((await verifier.verify(revoked.token)).ok).toBe(true);
    now -= 10_000;
    await revokeToken(deps, user, app.id, revoked.record.id);
    now += 6000; // no other invalidation: the hit itself finds every invalidation old
    expect(await verifier.verify(revoked.token)).toMatchObject({ ok: false, reason: "revoked" });
  });

  it("drops every cached secret of a regenerated token, old and new", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t" });
    const regenerated = await regenerateToken(deps, user, app.id, issued.record.id, {
      graceSeconds: 60,
    });
    expect((await verifier.verify(issued.token)).ok).toBe(true);
    expect((await verifier.verify(regenerated.token)).ok).toBe(true);
    await revokeToken(deps, user, app.id, issued.record.id);
    expect(await verifier.verify(issued.token)).toMatchObject({ ok: false, reason: "revoked" });
    expect(await verifier.verify(regenerated.token)).toMatchObject({
      ok: false,
      reason: "revoked",
    });
  });

  it("keeps cached secrets working through changes that are not revocations", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t" });
    expect((await verifier.verify(issued.token)).ok).toBe(true);
    // Regenerated with a grace period: the old secret keeps working, as does the new one.
    const regenerated = await regenerateToken(deps, user, app.id, issued.record.id, {
      graceSeconds: 60,
    });
    expect((await verifier.verify(issued.token)).ok).toBe(true);
    expect((await verifier.verify(regenerated.token)).ok).toBe(true);
    // An allowlist that holds the caller's address.
    await setTokenAllowedAddresses(deps, user, app.id, issued.record.id, ["10.0.0.0/8"]);
    expect((await verifier.verify(regenerated.token, "10.1.2.3")).ok).toBe(true);
    expect((await verifier.verify(issued.token, "10.1.2.3")).ok).toBe(true);
  });

  it("shares one frozen scope list between tokens with the same scopes", async () => {
    const app = await createApplication(deps, user, { name: "A", scopes: ["read", "write"] });
    const tokens = await Promise.all(
      ["a", "b"].map((name) => createToken(deps, user, app.id, { name, scopes: ["read"] })),
    );
    const [first, second] = await Promise.all(tokens.map((t) => verifier.verify(t.token)));
    if (!first?.ok || !second?.ok) throw new Error("not verified");
    expect(first.token.scopes).toEqual(["read"]);
    expect(first.token.scopes).toBe(second.token.scopes);
    expect(() => first.token.scopes.push("write")).toThrow(TypeError);
  });

  it("keeps the cache within its size and re-reads entries past their maximum age", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const tokens = [];
    for (let i = 0; i < 5; i++)
      tokens.push((await createToken(deps, user, app.id, { name: `t${i}` })).token);
    // Each twice: once the cache is full, the second miss lets a token in, evicting.
    for (const t of tokens) {
      expect((await verifier.verify(t)).ok).toBe(true);
      expect((await verifier.verify(t)).ok).toBe(true);
    }
    expect(verifier.cacheEntries).toBe(2);
    const last = tokens[4] as string;
    const reads = store.stats.reads;
    await verifier.verify(last);
    expect(store.stats.reads).toBe(reads);
    now += 5001;
    await verifier.verify(last);
    expect(store.stats.reads).toBe(reads + 1);
  });

  it("lets a token into a full cache only on its second miss, so one-off tokens do not churn it", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = [];
    for (let i = 0; i < 4; i++)
      issued.push(await createToken(deps, user, app.id, { name: `t${i}` }));
    const [first, second, third, fourth] = issued.map((t) => t.token) as [
      string,
      string,
      string,
      string,
    ];
    await verifier.verify(first);
    await verifier.verify(second);
    expect(verifier.cacheEntries).toBe(2);
    // Seen once: read, and the cached entries stay.
    expect(await readsOf(third)).toBe(1);
    expect(await readsOf(fourth)).toBe(1);
    expect(await readsOf(first)).toBe(0);
    expect(await readsOf(second)).toBe(0);
    // Seen again: read once more and cached, in place of the oldest entry.
    expect(await readsOf(third)).toBe(1);
    expect(await readsOf(third)).toBe(0);
    expect(await readsOf(first)).toBe(1);
    expect(verifier.cacheEntries).toBe(2);
    // A revocation still reaches an entry admitted this way.
    await revokeToken(deps, user, app.id, issued[2]?.record.id ?? "");
    expect(await verifier.verify(third)).toMatchObject({ ok: false, reason: "revoked" });
  });

  it("takes tokens at their first miss up to its rate a second, and past it only at their second", async () => {
    const limited = verifierWith({ freeAdmissionsPerSecond: 2 });
    const app = await createApplication(deps, user, { name: "A" });
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++)
      tokens.push((await createToken(deps, user, app.id, { name: `t${i}` })).token);
    const [first, second, third, fourth] = tokens as [string, string, string, string];
    // Two in this second: cached at once.
    expect(await readsOf(first, limited)).toBe(1);
    expect(await readsOf(second, limited)).toBe(1);
    expect(await readsOf(first, limited)).toBe(0);
    expect(await readsOf(second, limited)).toBe(0);
    // The third in the same second: read, remembered, and cached at its second miss.
    expect(await readsOf(third, limited)).toBe(1);
    expect(limited.cacheEntries).toBe(2);
    expect(await readsOf(third, limited)).toBe(1);
    expect(await readsOf(third, limited)).toBe(0);
    // A new second: a token is cached at its first miss again.
    now += 1000;
    expect(await readsOf(fourth, limited)).toBe(1);
    expect(await readsOf(fourth, limited)).toBe(0);
    expect(limited.cacheEntries).toBe(4);
  });

  it("sweeps out entries past their maximum age, oldest first, and stops at the first one alive", async () => {
    const roomy = verifierWith({});
    const app = await createApplication(deps, user, { name: "A" });
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++)
      tokens.push((await createToken(deps, user, app.id, { name: `t${i}` })).token);
    const [a, b, c, d] = tokens as [string, string, string, string];
    for (const t of [a, b, c]) expect((await roomy.verify(t)).ok).toBe(true);
    now += 3000;
    expect((await roomy.verify(d)).ok).toBe(true);
    expect(roomy.cacheEntries).toBe(4);
    // Nothing is past its age yet: nothing goes.
    expect(roomy.sweepExpired()).toBe(0);
    now += 2500;
    // a, b and c are 5.5 s old, d 2.5 s: at most `limit` go per call.
    expect(roomy.sweepExpired(2)).toBe(2);
    expect(roomy.cacheEntries).toBe(2);
    expect(roomy.sweepExpired()).toBe(1);
    expect(roomy.cacheEntries).toBe(1);
    // d is still answered from memory.
    expect(await readsOf(d, roomy)).toBe(0);
    now += 3000;
    expect(roomy.sweepExpired()).toBe(1);
    expect(roomy.cacheEntries).toBe(0);
  });

  it("sweeps no further than the first entry alive, even with expired ones behind it (clock set back)", async () => {
    const [first, second] = await twoTokens();
    expect((await verifier.verify(first.token)).ok).toBe(true);
    now -= 10_000;
    expect((await verifier.verify(second.token)).ok).toBe(true);
    now += 5500; // second is 5.5 s old; first, cached "later" by the clock, looks young
    expect(verifier.sweepExpired()).toBe(0);
    expect(verifier.cacheEntries).toBe(2);
    // Not answered from memory all the same: past its age, it is read again.
    expect(await readsOf(second.token)).toBe(1);
    now += 10_000;
    expect(verifier.sweepExpired()).toBe(2);
  });

  it("starts a new second of first-miss admissions when the clock is set back", async () => {
    const limited = verifierWith({ freeAdmissionsPerSecond: 1 });
    const [first, second] = await twoTokens();
    expect((await limited.verify(first.token)).ok).toBe(true);
    now -= 500;
    expect(await readsOf(second.token, limited)).toBe(1);
    expect(await readsOf(second.token, limited)).toBe(0);
  });

  it("sweeps out entries made stale by an invalidation since forgotten, whatever their age", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const kept = await createToken(deps, user, app.id, { name: "kept" });
    const changed = await createToken(deps, user, app.id, { name: "changed" });
    const other = await createToken(deps, user, app.id, { name: "other" });
    expect((await verifier.verify(kept.token)).ok).toBe(true);
    // The clock is set back: the entry looks young for another 10 s.
    now -= 10_000;
    verifier.invalidate([changed.record.id]);
    expect(verifier.sweepExpired()).toBe(0);
    now += 6000;
    // A later invalidation forgets the first, so every entry cached before that one is
    // stale: never answered from again, though its age says young.
    verifier.invalidate([other.record.id]);
    expect(verifier.sweepExpired()).toBe(1);
    expect(verifier.cacheEntries).toBe(0);
  });

  it("counts uses per UTC day and flushes them with lastUsedAt", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t" });
    await verifier.verify(issued.token);
    await verifier.verify(issued.token);
    now += 120_000; // past midnight UTC
    await verifier.verify(issued.token);
    expect(usage.unflushedRequests).toBe(3);
    await usage.flush();
    expect(usage.unflushedRequests).toBe(0);
    expect(await store.usage.dailyUsage(issued.record.id, "2026-01-01")).toEqual([
      { day: "2026-01-01", requests: 2 },
      { day: "2026-01-02", requests: 1 },
    ]);
    const record = await store.tokens.findToken(app.id, issued.record.id);
    expect(record?.lastUsedAt).toBe(now);
  });

  it("keeps counts of a failed flush for the next one", async () => {
    const app = await createApplication(deps, user, { name: "A" });
    const issued = await createToken(deps, user, app.id, { name: "t" });
    await verifier.verify(issued.token);
    await store.close(); // storage becomes unreachable
    await expect(usage.flush()).rejects.toThrow(/unavailable/i);
    expect(usage.unflushedRequests).toBe(1);
  });
});
