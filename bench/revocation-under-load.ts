import { spawn } from "node:child_process";
import { join } from "node:path";
import { LOAD_CPU, onCore } from "./machine.js";
import { type RevocationResult, revocationPropagation } from "./revocation.js";
import type { BenchRun } from "./run-state.js";
import type { SeededStore } from "./seeding.js";
import type { BenchServer } from "./server.js";
import { BENCH_DIR, ROOT } from "./settings.js";
import { parseWrkReport, runSlice } from "./wrk.js";

/** Case 13: case 7's measurement while three processes serve verified traffic. */
export interface RevocationUnderLoadResult extends RevocationResult {
  /** Verified requests/s of the three processes together, each saturated at once (case 2). */
  capacityRps: number;
  /** What the load got served while the revocations ran. */
  servedRps: number;
  /** servedRps over capacityRps. */
  share: number;
}

/**
 * A steady closed loop per process during the revocations: enough to keep each busy well
 * over half the time. (Pacing with wrk's delay() was tried: its wait is in whole
 * milliseconds and its timers bunch the connections, so the share it served was 13-43 %
 * when aiming at 70 %.)
 */
const LOAD_CONNECTIONS = 8;

/** wrk on case 2's request until `stop()`; resolves to its request count and seconds. */
function steadyLoad(server: BenchServer, store: SeededStore) {
  const wrkArgs = [
    "-t1",
    `-c${LOAD_CONNECTIONS}`,
    "-d600s",
    "--timeout",
    "10s",
    "-s",
    join(BENCH_DIR, "fixed.lua"),
    `${server.baseUrl}/api`,
  ];
  const child = spawn(...onCore(LOAD_CPU, "wrk", wrkArgs), {
    cwd: ROOT,
    env: {
      ...process.env,
      KEYWARD_BENCH_DIR: BENCH_DIR,
      KEYWARD_BENCH_AUTHORIZATION: `Bearer ${store.hotToken}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<{ requests: number; seconds: number; failures: number }>(
    (resolve, reject) =>
      child.on("close", () => {
        const report = parseWrkReport(out);
        if (!report) return reject(new Error(`wrk gave no result: ${out}`));
        const e = report.errors;
        resolve({
          requests: report.requests,
          seconds: report.durationUs / 1e6,
          failures: e.connect + e.read + e.write + e.timeout + e.status,
        });
      }),
  );
  // wrk stops on SIGINT and still reports (report.lua's done()).
  return { done, stop: () => child.kill("SIGINT") };
}

/**
 * Case 13 (PostgreSQL, three processes): the capacity of the three together (case 2 on
 * each at once), then `count` revocations made on A and watched on B, as case 7 does, while
 * all three serve case 2's load.
 */
export async function revocationUnderLoad(
  run: BenchRun,
  servers: readonly [BenchServer, BenchServer, BenchServer],
  store: SeededStore,
  count: number,
): Promise<RevocationUnderLoadResult> {
  const seconds = run.settings.sliceSeconds;
  // A warm-up slice first (JIT, connections, the token's cache entry), as the test does:
  // measured cold, the capacity came out at a third of what the same servers then served.
  await Promise.all(servers.map((s) => runSlice(run, 2, s, store, 1)));
  const saturated = await Promise.all(servers.map((s) => runSlice(run, 2, s, store, seconds)));
  const capacityRps = saturated.reduce((sum, slice) => sum + slice.rps, 0);
  const loads = servers.map((s) => steadyLoad(s, store));
  let revocation: RevocationResult;
  try {
    revocation = await revocationPropagation(servers[0], servers[1], store, count);
  } finally {
    for (const load of loads) load.stop();
  }
  const served = await Promise.all(loads.map((load) => load.done));
  const failures = served.reduce((sum, s) => sum + s.failures, 0);
  if (failures > 0) run.notice(`case 13: ${failures} failed requests in the load`);
  const servedRps = served.reduce((sum, s) => sum + s.requests / s.seconds, 0);
  return { ...revocation, capacityRps, servedRps, share: servedRps / capacityRps };
}
