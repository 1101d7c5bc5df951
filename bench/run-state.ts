import type { BareReferenceResult } from "./bare.js";
import type { CaseRow } from "./cases.js";
import type { ClientAdapterResult } from "./client-adapter.js";
import type { ClientRevocationResult } from "./client-revocation.js";
import type { MetricsCostResult } from "./metrics-cost.js";
import type { PeerResult } from "./peer.js";
import type { RevocationResult } from "./revocation.js";
import type { RevocationUnderLoadResult } from "./revocation-under-load.js";
import type { BenchOptions, BenchSettings } from "./settings.js";
import type { StreamFanOutResult } from "./stream-fanout.js";

/** Peak RSS with the verification cache filled to its default size (SQLite, large store). */
export interface FullCacheResult {
  entries: number;
  peakRssMiB: number;
  seconds: number;
}

export interface SeedSeconds {
  sqliteLarge?: number;
  sqliteSmall?: number;
  postgres?: number;
}

/**
 * What one bench run has measured and said so far, and its progress log. Every stage
 * adds to it; the report and the JSON results are made from it at the end.
 */
export interface BenchRun {
  options: BenchOptions;
  settings: BenchSettings;
  rows: CaseRow[];
  revocation: RevocationResult | undefined;
  /** Case 13: case 7 while three processes serve paced verified traffic. */
  revocationUnderLoad: RevocationUnderLoadResult | undefined;
  /** Case 9: the revocation stream's fan-out to many readers on another process. */
  streamFanOut: StreamFanOutResult | undefined;
  fullCache: FullCacheResult | undefined;
  /** Case 0: a bare node:http server against case 1, on the large SQLite stage. */
  bare: BareReferenceResult | undefined;
  /** Case 12: Better Auth's API-key plugin against case 2, on the large SQLite stage. */
  peer: PeerResult | undefined;
  /** Case 8: keyward-client's Fastify adapter against the same route unauthenticated. */
  clientAdapter: ClientAdapterResult | undefined;
  /** Case 10: a revocation reaching keyward-client in a host process. */
  clientRevocation: ClientRevocationResult | undefined;
  /** Case 11: the cost of recording metrics per verified request. */
  metricsCost: MetricsCostResult | undefined;
  seedSeconds: SeedSeconds;
  skipped: string[];
  notices: string[];
  elapsedMs(): number;
  /** A progress line on stdout, stamped with the seconds since the start. */
  log(line: string): void;
  /** A progress line that also goes into the results' notices. */
  notice(line: string): void;
  /** Records a part of the run that did not happen, and why. */
  skip(reason: string): void;
  /** True (and recorded as skipped) when the run's time budget is spent. */
  outOfTime(what: string): boolean;
  /** Whether case `n` runs (case 1, the baseline, always does). */
  wants(n: number): boolean;
  /** A number unique to each wrk run of this bench: seeds its token order and names. */
  nextRunId(): number;
}

export function createBenchRun(options: BenchOptions): BenchRun {
  const { settings, onlyCases } = options;
  let runCounter = 0;
  const run: BenchRun = {
    options,
    settings,
    rows: [],
    revocation: undefined,
    revocationUnderLoad: undefined,
    streamFanOut: undefined,
    fullCache: undefined,
    bare: undefined,
    peer: undefined,
    clientAdapter: undefined,
    clientRevocation: undefined,
    metricsCost: undefined,
    seedSeconds: {},
    skipped: [],
    notices: [],
    elapsedMs: () => Date.now() - options.startedAt,
    log(line) {
      console.log(`[${(run.elapsedMs() / 1000).toFixed(0).padStart(3)} s] ${line}`);
    },
    notice(line) {
      run.notices.push(line);
      run.log(line);
    },
    skip(reason) {
      run.skipped.push(reason);
      run.notice(`skipped: ${reason}`);
    },
    outOfTime(what) {
      if (run.elapsedMs() < settings.budgetMs) return false;
      run.skipped.push(`${what}: skipped, the run's time budget is spent`);
      run.notice(`skipped: ${what} (time budget of ${settings.budgetMs / 60000} min spent)`);
      return true;
    },
    wants: (n) => n === 1 || onlyCases === undefined || onlyCases.has(n),
    nextRunId: () => ++runCounter,
  };
  return run;
}
