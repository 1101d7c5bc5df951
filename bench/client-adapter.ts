// The client library's numbers (issue 12), one run: a Fastify route behind
// keyward-client/fastify with a cached valid token against the same route without
// authentication (paired wrk slices, reported as a ratio), and made-up tokens refused by
// the adapter without any call to Keyward. Keyward's service API is played by a small
// in-process server here: after the first verification the token is served from the
// client's cache, so what is measured is the adapter and the cache, not Keyward.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { BASE62_ALPHABET, tokenChecksum } from "keyward-client/token-format";
import { LOAD_CPU, onCore, SERVER_CPU } from "./machine.js";
import { cpuMicrosOfPid as cpuMicrosOf } from "./server.js";
import { BENCH_DIR, ROOT } from "./settings.js";
import { parseWrkReport } from "./wrk.js";

export interface ClientAdapterResult {
  /** Requests per second in each paired slice. */
  pairs: { open: number; protected: number; ratio: number; cpuRatio: number }[];
  /** Median of the paired ratios protected/open. */
  ratio: number;
  /**
   * Median of the paired capacity ratios: the host's CPU time per request on /open over
   * that on /protected (less disturbed by the machine's other load than requests/s).
   */
  cpuRatio: number;
  openRps: number;
  protectedRps: number;
  protectedP99Ms: number;
  /** Made-up tokens (bad checksum) sent through the adapter, and the calls they caused. */
  madeUpSent: number;
  madeUpRefused: number;
  madeUpKeywardCalls: number;
  /** Calls to Keyward's verify over the whole run (the cached token: one). */
  verifyCalls: number;
}

function token(prefix: string, validChecksum: boolean): string {
  let random = "";
  for (const b of randomBytes(30)) random += BASE62_ALPHABET[b % 62];
  const body = `${prefix}_${random}`;
  const sum = tokenChecksum(body);
  return body + (validChecksum ? sum : `${sum.slice(0, -1)}${sum.endsWith("0") ? "1" : "0"}`);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

async function wrk(url: string, seconds: number, connections: number, authorization?: string) {
  const args = [
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    "-s",
    join(BENCH_DIR, "fixed.lua"),
    url,
  ];
  const env = {
    ...process.env,
    KEYWARD_BENCH_DIR: BENCH_DIR,
    KEYWARD_BENCH_AUTHORIZATION: authorization ?? "",
  };
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(...onCore(LOAD_CPU, "wrk", args), { env });
    let text = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
    });
    child.on("error", reject);
    // Once its output is all read (see `runCommand` in wrk.ts).
    child.on("close", () => resolve(text));
  });
  const report = parseWrkReport(out);
  if (!report) throw new Error(`wrk gave no result: ${out}`);
  if (report.errors.status > 0)
    throw new Error(`${url}: ${report.errors.status} refusals under load`);
  return { rps: report.requests / (report.durationUs / 1e6), p99Ms: report.latencyUs.p99 / 1000 };
}

export async function clientAdapterBench(options: {
  pairs: number;
  sliceSeconds: number;
  connections: number;
  log: (line: string) => void;
}): Promise<ClientAdapterResult> {
  const serviceKey = token("kwsk", true);
  const hot = token("kw", true);
  let verifyCalls = 0;
  const keyward = createServer((req, res) => {
    if (req.url === "/api/v1/service/events") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(": connected\n\n");
      return;
    }
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", () => {
      verifyCalls++;
      const asked = (JSON.parse(body) as { token: string }).token;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          asked === hot
            ? {
                valid: true,
                applicationId: "app_AAAAAAAAAAAAAAAAAAAA",
                userId: "usr_AAAAAAAAAAAAAAAAAAAA",
                tokenId: "tok_AAAAAAAAAAAAAAAAAAAA",
                scopes: [],
                expiresAt: null,
                externalId: "bench",
              }
            : { valid: false, code: "invalid_token" },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => keyward.listen(0, "127.0.0.1", resolve));
  const keywardUrl = `http://127.0.0.1:${(keyward.address() as AddressInfo).port}`;

  const nodeArgs = [join(BENCH_DIR, "client-host.mjs")];
  const host = spawn(...onCore(SERVER_CPU, process.execPath, nodeArgs), {
    cwd: ROOT,
    env: { ...process.env, KEYWARD_URL: keywardUrl, KEYWARD_SERVICE_KEY: serviceKey },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let text = "";
      host.stdout.on("data", (d: Buffer) => {
        text += d.toString();
        const match = /KEYWARD_HOST_PORT (\d+)/.exec(text);
        if (match) resolve(Number(match[1]));
      });
      host.on("exit", (code) => reject(new Error(`the host exited (${code})`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const first = await fetch(`${base}/protected`, { headers: { authorization: `Bearer ${hot}` } });
    if (first.status !== 200) throw new Error(`the host refused the valid token: ${first.status}`);

    // Made-up tokens: refused with 401 by the offline format check, Keyward never asked.
    const before = verifyCalls;
    const madeUpSent = 2000;
    let madeUpRefused = 0;
    for (let i = 0; i < madeUpSent; i++) {
      const res = await fetch(`${base}/protected`, {
        headers: { authorization: `Bearer ${token("kw", false)}` },
      });
      await res.arrayBuffer();
      if (res.status === 401) madeUpRefused++;
    }
    const madeUpKeywardCalls = verifyCalls - before;

    // Warm-up, then paired slices: open and protected alternate, so drift hits both.
    await wrk(`${base}/open`, 1, options.connections, `Bearer ${hot}`);
    await wrk(`${base}/protected`, 1, options.connections, `Bearer ${hot}`);
    const pairs: ClientAdapterResult["pairs"] = [];
    let p99 = 0;
    const slice = async (path: "/open" | "/protected") => {
      const cpuBefore = cpuMicrosOf(host.pid);
      const result = await wrk(
        `${base}${path}`,
        options.sliceSeconds,
        options.connections,
        // The same request to both routes, header included: the ratio is the adapter's
        // cost, not that of parsing one more header (docs/performance.md, case 8).
        `Bearer ${hot}`,
      );
      const cpuPerRequest =
        (cpuMicrosOf(host.pid) - cpuBefore) / (result.rps * options.sliceSeconds);
      return { ...result, cpuPerRequest };
    };
    for (let i = 0; i < options.pairs; i++) {
      // ABBA: which route goes first alternates, so a drift within a pair hits both alike.
      const openFirst = i % 2 === 0;
      const first = await slice(openFirst ? "/open" : "/protected");
      const second = await slice(openFirst ? "/protected" : "/open");
      const [open, guarded] = openFirst ? [first, second] : [second, first];
      p99 = Math.max(p99, guarded.p99Ms);
      pairs.push({
        open: open.rps,
        protected: guarded.rps,
        ratio: guarded.rps / open.rps,
        cpuRatio: open.cpuPerRequest / guarded.cpuPerRequest,
      });
      options.log(
        `client adapter pair ${i + 1}: open ${open.rps.toFixed(0)} rps (${open.cpuPerRequest.toFixed(1)} CPU µs/req), protected ${guarded.rps.toFixed(0)} rps (${guarded.cpuPerRequest.toFixed(1)} CPU µs/req): ${(guarded.rps / open.rps).toFixed(3)}x`,
      );
    }
    return {
      pairs,
      ratio: median(pairs.map((p) => p.ratio)),
      cpuRatio: median(pairs.map((p) => p.cpuRatio)),
      openRps: median(pairs.map((p) => p.open)),
      protectedRps: median(pairs.map((p) => p.protected)),
      protectedP99Ms: p99,
      madeUpSent,
      madeUpRefused,
      madeUpKeywardCalls,
      verifyCalls,
    };
  } finally {
    host.kill("SIGTERM");
    keyward.closeAllConnections();
    keyward.close();
  }
}
