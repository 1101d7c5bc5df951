// Case 0, the reference below Keyward's own floor: bench/bare-server.mjs on the server's
// core, answering the same JSON `GET /api` answers. Run in pairs against case 1
// (`GET /healthz` of the Keyward server), so every case's ratio to case 1 converts to a
// ratio to case 0: case 1 / case 0 (paired) × case n / case 1 (paired).
//
// Each pair also runs the same bare server writing one access line per request into a
// real file (built by hand, gathered by Keyward's LineBatch: bench/bare-server.mjs), in
// ABC/CBA order: what node:http itself keeps of case 0 under the condition the targets
// against case 0 are set in (an access line per request to a file), measured in the run.

import { rmSync } from "node:fs";
import { join } from "node:path";
import type { BenchRun } from "./run-state.js";
import type { SeededStore } from "./seeding.js";
import { type BenchServer, startScriptServer } from "./server.js";
import { runSlice, type WrkSlice } from "./wrk.js";

export interface BareReferenceResult {
  /** Stage whose case 1 was paired with case 0. */
  stage: string;
  /** Requests/s of case 1 over case 0's in each pair, and their median. */
  pairs: {
    bare: number;
    healthz: number;
    ratio: number;
    cpuRatio: number;
    bareCpuUs: number;
    /** The bare server with an access line: requests/s, CPU µs per request. */
    bareWithLine: number;
    bareWithLineCpuUs: number;
  }[];
  /** Median of case 1 / case 0 (requests per second). */
  healthzOverBare: number;
  /** Median of case 0's CPU per request over case 1's. */
  healthzCpuOverBare: number;
  bareRps: number;
  bareCpuUsPerRequest: number;
  /** Median of (case 0 with an access line) / case 0: the floor of the targets against case 0. */
  bareWithLineOverBare: number;
  bareWithLineCpuUsPerRequest: number;
}

async function startBare(body: string, logFile?: string): Promise<BenchServer> {
  return startScriptServer(
    logFile ? "bare node:http with an access line" : "bare node:http",
    "bare-server.mjs",
    { KEYWARD_BARE_BODY: body, ...(logFile ? { KEYWARD_BARE_LOG: logFile } : {}) },
    /KEYWARD_BARE_PORT (\d+)/,
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const m = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[m] ?? 0) : ((sorted[m - 1] ?? 0) + (sorted[m] ?? 0)) / 2;
};

/** Case 0, with and without an access line, against case 1 of `server` (ABC/CBA). */
export async function bareReference(
  run: BenchRun,
  stage: string,
  server: BenchServer,
  store: SeededStore,
): Promise<BareReferenceResult> {
  const answer = await fetch(`${server.baseUrl}/api`, {
    headers: { authorization: `Bearer ${store.hotToken}` },
  });
  const body = await answer.text();
  if (answer.status !== 200) throw new Error(`GET /api answered ${answer.status}: ${body}`);
  // Its lines are only written, never read: removed afterwards, so a kept work folder
  // (--work-dir) does not gather them run after run.
  const accessLog = join(run.options.workDir, "bare-access.log");
  const bare = await startBare(body);
  const withLine = await startBare(body, accessLog).catch(async (error: unknown) => {
    await bare.stop();
    throw error;
  });
  try {
    const { settings } = run;
    if (settings.warmupSeconds > 0) {
      await runSlice(run, 0, bare, store, settings.warmupSeconds);
      await runSlice(run, 0, withLine, store, settings.warmupSeconds);
    }
    const pairs: BareReferenceResult["pairs"] = [];
    const servers = [server, bare, withLine] as const;
    for (let i = 0; i < settings.pairs; i++) {
      // ABC, then CBA: each server's slices sit as often early as late in the pairs.
      const order = i % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
      const slices: WrkSlice[] = [];
      for (const k of order) {
        slices[k] = await runSlice(
          run,
          k === 0 ? 1 : 0,
          servers[k] ?? server,
          store,
          settings.sliceSeconds,
        );
      }
      const [healthz, bareSlice, lineSlice] = slices;
      if (!healthz || !bareSlice || !lineSlice) throw new Error("a slice of case 0 is missing");
      pairs.push({
        bare: bareSlice.rps,
        healthz: healthz.rps,
        ratio: healthz.rps / bareSlice.rps,
        cpuRatio: bareSlice.cpuUsPerRequest / healthz.cpuUsPerRequest,
        bareCpuUs: bareSlice.cpuUsPerRequest,
        bareWithLine: lineSlice.rps,
        bareWithLineCpuUs: lineSlice.cpuUsPerRequest,
      });
      run.log(
        `case 0 pair ${i + 1}: bare ${bareSlice.rps.toFixed(0)} req/s (${bareSlice.cpuUsPerRequest.toFixed(1)} CPU µs/req), ` +
          `with an access line ${lineSlice.rps.toFixed(0)} req/s (${lineSlice.cpuUsPerRequest.toFixed(1)}), ` +
          `/healthz ${healthz.rps.toFixed(0)} req/s (${healthz.cpuUsPerRequest.toFixed(1)} CPU µs/req)`,
      );
    }
    return {
      stage,
      pairs,
      healthzOverBare: median(pairs.map((p) => p.ratio)),
      healthzCpuOverBare: median(pairs.map((p) => p.cpuRatio)),
      bareRps: median(pairs.map((p) => p.bare)),
      bareCpuUsPerRequest: median(pairs.map((p) => p.bareCpuUs)),
      bareWithLineOverBare: median(pairs.map((p) => p.bareWithLine / p.bare)),
      bareWithLineCpuUsPerRequest: median(pairs.map((p) => p.bareWithLineCpuUs)),
    };
  } finally {
    await Promise.allSettled([bare.stop(), withLine.stop()]);
    rmSync(accessLog, { force: true });
  }
}
