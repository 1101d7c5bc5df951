import { generateToken, hashToken } from "../src/core/token.js";
import { cryptoRandom } from "../src/platform/system.js";
import type { Clock, TokenStore, UsageStore } from "../src/services/ports.js";
import { UsageRecorder } from "../src/services/usage-recorder.js";
import { TokenVerifier } from "../src/services/verifier.js";
import { toSecretRecord } from "../src/storage/rows.js";

/**
 * Memory of the verification cache: the heap after verifying ENTRIES distinct tokens
 * (each cached, with realistic names, scopes and ids), minus the heap before, per
 * 100,000 entries. Usage counts (one per token) are included, as in a running process.
 *
 *   node --expose-gc --import tsx bench/cache-memory.ts
 */
const ENTRIES = Number(process.env.ENTRIES ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

const tokens = Array.from({ length: ENTRIES }, () => generateToken(cryptoRandom, "kw"));
// One record per secret, the same at every read of it; the index is built before the
// heap is first measured, so that only the cache's and the usage counts' memory is counted.
const indexOf = new Map(tokens.map((token, i) => [hashToken(token), i]));
const store = {
  findSecret: async (hash: string) => {
    const i = indexOf.get(hash);
    if (i === undefined) throw new Error("a secret this script did not make");
    return toSecretRecord({
      token_id: `tok_${i.toString(36).padStart(22, "0")}`,
      token_name: `deploy key for service ${i}`,
      scopes: '["read","write"]',
      application_id: "app_0000000000000000000001",
      application_name: "Billing",
      user_id: `usr_${(i >> 4).toString(36).padStart(22, "0")}`,
      user_email: `user${i >> 4}@example.com`,
      external_id: null,
      expires_at: null,
      revoked_at: null,
      secret_expires_at: null,
      allowed_addresses: null,
      imported_at: null,
    });
  },
} as unknown as TokenStore;
const usage = new UsageRecorder({} as UsageStore);
// A clock that stands still: no entry passes its maximum age however long a large run
// takes, so the count below checks the cache, not the machine's speed.
const stoppedClock: Clock = { now: () => 1_800_000_000_000 };
const verifier = new TokenVerifier(store, stoppedClock, usage, {
  tokenPrefix: "kw",
  cacheSize: ENTRIES,
  cacheMaxAgeMs: 5000,
});
gc();
const before = process.memoryUsage();
// Twice each, as clients that come back: a cache with room takes only its first
// FREE_ADMISSIONS_PER_SECOND tokens at their first miss, the rest at their second.
for (const token of tokens) {
  const result = await verifier.verify(token);
  if (!result.ok) throw new Error("not verified");
}
for (const token of tokens) await verifier.verify(token);
if (verifier.cacheEntries !== ENTRIES)
  throw new Error(`${verifier.cacheEntries} of ${ENTRIES} verifications cached`);
gc();
const after = process.memoryUsage();
const per100k = (bytes: number) => ((bytes / ENTRIES) * 100_000) / 2 ** 20;
console.log(
  `${verifier.cacheEntries} cached verifications: heap +${per100k(after.heapUsed - before.heapUsed).toFixed(1)} MiB, ` +
    `RSS +${per100k(after.rss - before.rss).toFixed(1)} MiB per 100,000 entries (usage counts included)`,
);
