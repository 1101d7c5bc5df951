// Case 12, the peer: Better Auth's API-key plugin verifying a key per request on SQLite,
// rate limit off (bench/peer-server.mjs), on the server's core, answering the same JSON
// body. Run in ABBA pairs against case 2 (`GET /api` with the hot token) of the Keyward
// server, so the target "case 2 ≥ 25 × the peer" is one paired ratio.

import { join } from "node:path";
import type { BenchRun } from "./run-state.js";
import type { SeededStore } from "./seeding.js";
import { type BenchServer, startScriptServer } from "./server.js";
import { runSlice, type WrkSlice } from "./wrk.js";

export interface PeerResult {
  stage: string;
  pairs: { peer: number; api: number; ratio: number; cpuRatio: number; peerCpuUs: number }[];
  /** Median of case 2 / case 12 (requests per second), paired. */
  apiOverPeer: number;
  /** Median of case 12's CPU per request over case 2's. */
  apiCpuOverPeer: number;
  peerRps: number;
  peerCpuUsPerRequest: number;
  /** Answers other than 200 from the peer: each must have been a success. */
  peerRefused: number;
}

async function startPeer(run: BenchRun, body: string): Promise<BenchServer & { key: string }> {
  const server = await startScriptServer(
    "peer (Better Auth API key)",
    "peer-server.mjs",
    {
      KEYWARD_BARE_BODY: body,
      KEYWARD_PEER_DB: join(run.options.workDir, `peer-${Date.now()}.db`),
    },
    /KEYWARD_PEER_PORT (\d+) (\S+)/,
  );
  return { ...server, key: server.ready[2] ?? "" };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const m = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[m] ?? 0) : ((sorted[m - 1] ?? 0) + (sorted[m] ?? 0)) / 2;
};

/** Case 12 against case 2 of `server`, in ABBA pairs. */
export async function peerReference(
  run: BenchRun,
  stage: string,
  server: BenchServer,
  store: SeededStore,
): Promise<PeerResult> {
  const answer = await fetch(`${server.baseUrl}/api`, {
    headers: { authorization: `Bearer ${store.hotToken}` },
  });
  const body = await answer.text();
  if (answer.status !== 200) throw new Error(`GET /api answered ${answer.status}: ${body}`);
  const peer = await startPeer(run, body);
  const peerStore: SeededStore = { ...store, hotToken: peer.key };
  try {
    const { settings } = run;
    if (settings.warmupSeconds > 0) await runSlice(run, 12, peer, peerStore, 1);
    const pairs: PeerResult["pairs"] = [];
    let peerRefused = 0;
    for (let i = 0; i < settings.pairs; i++) {
      const slice = async (c: 2 | 12): Promise<WrkSlice> =>
        c === 12
          ? runSlice(run, 12, peer, peerStore, settings.sliceSeconds)
          : runSlice(run, 2, server, store, settings.sliceSeconds);
      const first = await slice(i % 2 === 0 ? 2 : 12);
      const second = await slice(i % 2 === 0 ? 12 : 2);
      const [api, peerSlice] = i % 2 === 0 ? [first, second] : [second, first];
      peerRefused += peerSlice.refused;
      pairs.push({
        peer: peerSlice.rps,
        api: api.rps,
        ratio: api.rps / peerSlice.rps,
        cpuRatio: peerSlice.cpuUsPerRequest / api.cpuUsPerRequest,
        peerCpuUs: peerSlice.cpuUsPerRequest,
      });
      run.log(
        `case 12 pair ${i + 1}: peer ${peerSlice.rps.toFixed(0)} req/s (${peerSlice.cpuUsPerRequest.toFixed(0)} CPU µs/req), GET /api ${api.rps.toFixed(0)} req/s (${api.cpuUsPerRequest.toFixed(1)} CPU µs/req)`,
      );
    }
    return {
      stage,
      pairs,
      apiOverPeer: median(pairs.map((p) => p.ratio)),
      apiCpuOverPeer: median(pairs.map((p) => p.cpuRatio)),
      peerRps: median(pairs.map((p) => p.peer)),
      peerCpuUsPerRequest: median(pairs.map((p) => p.peerCpuUs)),
      peerRefused,
    };
  } finally {
    await peer.stop();
  }
}
