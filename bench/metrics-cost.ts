// Case 11: what recording metrics costs one verified request, timed in this process on the
// real Metrics and VerificationCounts classes: the counts a verification makes (cache hit,
// outcome) and the request's duration observation, against the same loop recording nothing.
// Several rounds, alternating, and the median kept: the machine's noise is larger than the
// cost measured.

import { Metrics } from "../src/http/metrics.js";
import { VerificationCounts } from "../src/services/verifier.js";

export interface MetricsCostResult {
  iterations: number;
  rounds: number;
  /** Median nanoseconds per verified request spent recording metrics (loop cost removed). */
  nsPerVerification: number;
  /** The same, for a scrape of /metrics's text in milliseconds, once the routes are known. */
  scrapeMs: number;
}

const ROUTES = ["/api", "/api/v1/verify", "/api/scopes/:scope", "/healthz"];
const OK = { ok: true } as const;

function timeLoop(iterations: number, body: (i: number) => void): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) body(i);
  return Number(process.hrtime.bigint() - started) / iterations;
}

export async function metricsCost(iterations = 2_000_000, rounds = 7): Promise<MetricsCostResult> {
  const counts = new VerificationCounts();
  const metrics = new Metrics({
    stats: { reads: 0, writes: 0, secretLookups: 0, serviceKeyLookups: 0 },
    verification: counts,
    cacheEntries: () => 0,
    usage: { unflushedRequests: 0, flushes: 0, onFlushed: undefined },
    revocationStream: { openStreams: 0 },
  });
  let sink = 0;
  const record = (i: number) => {
    counts.cacheHits++;
    counts.count(OK);
    metrics.observeRequest("GET", ROUTES[i & 3] ?? "/api", 200, 0.0002 + (i & 7) * 0.0001);
  };
  const nothing = (i: number) => {
    sink += i & 3;
  };
  // Warm both paths so the optimiser has compiled them before anything is timed.
  timeLoop(200_000, record);
  timeLoop(200_000, nothing);
  const costs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const withMetrics = timeLoop(iterations, record);
    const without = timeLoop(iterations, nothing);
    costs.push(Math.max(0, withMetrics - without));
  }
  costs.sort((a, b) => a - b);
  const scrapeStarted = performance.now();
  await metrics.exposition();
  const scrapeMs = performance.now() - scrapeStarted;
  if (sink < 0) console.log(sink);
  return {
    iterations,
    rounds,
    nsPerVerification: costs[Math.floor(costs.length / 2)] ?? Number.NaN,
    scrapeMs,
  };
}
