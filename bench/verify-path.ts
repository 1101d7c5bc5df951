import { checkTokenFormat, generateToken } from "../src/core/token.js";
import { cryptoRandom, systemClock } from "../src/platform/system.js";
import type { TokenStore, UsageStore } from "../src/services/ports.js";
import { UsageRecorder } from "../src/services/usage-recorder.js";
import { TokenVerifier } from "../src/services/verifier.js";
import { toSecretRecord } from "../src/storage/rows.js";

/**
 * What verifying a cached token costs in this process, three ways: the offline format
 * check alone, `verifyNow` (answered without a promise, as the protected API's routes
 * call it), and `await verify(…)` (the same answer through a promise). Rounds alternate,
 * medians are kept: the machine's noise is larger than the differences measured.
 *
 *   npx tsx --conditions=keyward-source bench/verify-path.ts
 */
const ITERATIONS = Number(process.env.ITERATIONS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);

const store = {
  findSecret: async () =>
    toSecretRecord({
      token_id: "tok_0000000000000000000001",
      token_name: "deploy key",
      scopes: '["read","write"]',
      application_id: "app_0000000000000000000001",
      application_name: "Billing",
      user_id: "usr_0000000000000000000001",
      user_email: "user@example.com",
      external_id: null,
      expires_at: null,
      revoked_at: null,
      secret_expires_at: null,
      allowed_addresses: null,
      imported_at: null,
    }),
} as unknown as TokenStore;
// Usage is counted in memory and never flushed here: the flush is not on the request path.
const verifier = new TokenVerifier(store, systemClock, new UsageRecorder({} as UsageStore), {
  tokenPrefix: "kw",
  cacheSize: 1000,
  cacheMaxAgeMs: 3_600_000,
});
const token = generateToken(cryptoRandom, "kw");
if (!(await verifier.verify(token)).ok) throw new Error("not verified");

let accepted = 0;
const nsPer = (started: bigint) => Number(process.hrtime.bigint() - started) / ITERATIONS;

function formatCheck(): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) if (checkTokenFormat(token, "kw").ok) accepted++;
  return nsPer(started);
}
function withoutPromise(): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    const result = verifier.verifyNow(token);
    if (!(result instanceof Promise) && result.ok) accepted++;
  }
  return nsPer(started);
}
async function throughPromise(): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) if ((await verifier.verify(token)).ok) accepted++;
  return nsPer(started);
}

const times = { format: [] as number[], now: [] as number[], awaited: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  times.format.push(formatCheck());
  times.now.push(withoutPromise());
  times.awaited.push(await throughPromise());
  times.awaited.push(await throughPromise());
  times.now.push(withoutPromise());
  times.format.push(formatCheck());
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;
console.log(
  `cached token, ns per verification (medians of ${2 * ROUNDS} rounds of ${ITERATIONS}): ` +
    `format check ${median(times.format).toFixed(0)}, ` +
    `verifyNow ${median(times.now).toFixed(0)}, ` +
    `await verify ${median(times.awaited).toFixed(0)} (${accepted > 0 ? "all accepted" : "?"})`,
);
