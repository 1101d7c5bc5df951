import { spawn } from "node:child_process";
import { join } from "node:path";
import { LOAD_CPU, pinned } from "./machine.js";
import { type RevocationResult, revocationPropagation } from "./revocation.js";
import type { BenchRun } from "./run-state.js";
import type { SeededStore } from "./seeding.js";
import type { BenchServer } from "./server.js";
import { BENCH_DIR, ROOT } from "./settings.js";
import { parseWrkReport, runSlice } from "./wrk.js";

/** Case 13: case 7's measurement while three processes serve paced verified traffic. */
export interface RevocationUnderLoadResult extends RevocationResult {
  /** Verified requests/s of the three processes together, each saturated at once. */
  capacityRps: number;
  /** What the paced load actually got served while the revocations ran. */
  servedRps: number;
  /** servedRps over capacityRps. */
  share: number;
  /** The share the pacing aimed at. */
  targetShare: number;
}

const CONNECTIONS_PER_SERVER = 32;
const TARGET_SHARE = 0.6;

/**
 * wrk with paced.lua against case 2's request, for `seconds` or until `stop()`; resolves
 * to its request count and seconds.
 */
function pacedLoad(server: BenchServer, store: SeededStore, delayMs: number, seconds: number) {
  const wrkArgs = [
    "-t1",
    `-c${CONNECTIONS_PER_SERVER}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "-s",
    join(BENCH_DIR, "paced.lua"),
    `${server.baseUrl}/api`,
  ];
  // At the lowest priority: the load stands for clients on other machines, so where cores
  // are shared it is wrk that waits, not the servers and PostgreSQL being measured.
  const child = spawn(
    "nice",
    ["-n", "19", ...(pinned ? ["taskset", "-c", LOAD_CPU, "wrk"] : ["wrk"]), ...wrkArgs],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        KEYWARD_BENCH_DIR: BENCH_DIR,
        KEYWARD_BENCH_AUTHORIZATION: `Bearer ${store.hotToken}`,
        KEYWARD_BENCH_DELAY_MS: delayMs.toFixed(3),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<{ requests: number; seconds: number; failures: number }>(
    (resolve, reject) =>
      child.on("close", () => {
        const report = parseWrkReport(out);
        if (!report) return reject(new Error(`paced wrk gave no result: ${out}`));
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
 * Case 13 (PostgreSQL, three processes): measures the capacity of the three together (case 2
 * on each at once), then paces case 2's load on all three at TARGET_SHARE of it while
 * `count` revocations are made on A and watched on B, as case 7 does.
 */
export async function revocationUnderLoad(
  run: BenchRun,
  servers: readonly [BenchServer, BenchServer, BenchServer],
  store: SeededStore,
  count: number,
): Promise<RevocationUnderLoadResult> {
  const seconds = run.settings.sliceSeconds;
  const saturated = await Promise.all(servers.map((s) => runSlice(run, 2, s, store, seconds)));
  const capacityRps = saturated.reduce((sum, slice) => sum + slice.rps, 0);
  // A connection's cycle is its wait plus the answer's latency, which the load raises: a
  // 2-second calibration run measures that latency, and the wait is set for it.
  const connections = CONNECTIONS_PER_SERVER * servers.length;
  const cycleMs = (1000 * connections) / (TARGET_SHARE * capacityRps);
  let waitMs = cycleMs;
  // Twice: the latency measured at the first wait rises at the shorter second one.
  for (let round = 0; round < 2; round++) {
    const calibration = await Promise.all(servers.map((s) => pacedLoad(s, store, waitMs, 2).done));
    const calibratedRps = calibration.reduce((sum, c) => sum + c.requests / c.seconds, 0);
    const latencyMs = Math.max(0, (1000 * connections) / calibratedRps - waitMs);
    waitMs = Math.max(0, cycleMs - latencyMs);
  }
  const loads = servers.map((s) => pacedLoad(s, store, waitMs, 600));
  let revocation: RevocationResult;
  try {
    revocation = await revocationPropagation(servers[0], servers[1], store, count);
  } finally {
    for (const load of loads) load.stop();
  }
  const served = await Promise.all(loads.map((load) => load.done));
  const failures = served.reduce((sum, s) => sum + s.failures, 0);
  if (failures > 0) run.notice(`case 13: ${failures} failed requests in the paced load`);
  const servedRps = served.reduce((sum, s) => sum + s.requests / s.seconds, 0);
  return {
    ...revocation,
    capacityRps,
    servedRps,
    share: servedRps / capacityRps,
    targetShare: TARGET_SHARE,
  };
}
