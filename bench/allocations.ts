import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LOAD_CPU, pinned, SERVER_CPU } from "./machine.js";
import { BENCH_DIR, CLI, HOST, ROOT } from "./settings.js";
import { parseWrkReport } from "./wrk.js";

/**
 * What a request allocates, garbage included: `GET /healthz` and `GET /api` with one
 * token, each on a fresh server (from `dist/`, as the bench runs it) under wrk, sampled
 * with V8's allocation sampler (bench/allocation-sampler.mjs) over 5 s after 3 s of
 * warm-up. Prints bytes a request and the functions that allocate the most.
 *
 *   npx tsx bench/allocations.ts <store.db> <tokens.txt> [top]
 *
 * The store is copied first (the servers write usage counts); `tokens.txt` is the bench's
 * file of plaintext tokens for it (`npm run bench -- --work-dir <dir>`: `small.db` and
 * `small-tokens.txt`), whose first line is the token sent.
 */
const [source, tokensFile] = process.argv.slice(2);
if (!source || !tokensFile)
  throw new Error("usage: bench/allocations.ts <store.db> <tokens.txt> [top]");
const TOP = Number(process.argv[4] ?? 15);
const token = readFileSync(tokensFile, "utf8").split("\n")[0]?.trim() ?? "";

const dir = mkdtempSync(join(tmpdir(), "keyward-allocations-"));
const store = join(dir, "store.db");
copyFileSync(source, store);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.on("error", reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address
          ? resolvePort(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

function wrk(url: string, seconds: number, authorization: string): number {
  const args = ["-t1", "-c16", `-d${seconds}s`, "-s", join(BENCH_DIR, "fixed.lua"), url];
  const result = spawnSync(
    pinned ? "taskset" : "wrk",
    pinned ? ["-c", LOAD_CPU, "wrk", ...args] : args,
    {
      env: {
        ...process.env,
        KEYWARD_BENCH_DIR: BENCH_DIR,
        KEYWARD_BENCH_AUTHORIZATION: authorization,
      },
      encoding: "utf8",
    },
  );
  const report = parseWrkReport(result.stdout ?? "");
  if (!report) throw new Error(`wrk gave no result: ${result.stderr || result.error}`);
  return report.requests;
}

async function sample(label: string, path: string, authorization: string): Promise<void> {
  const port = await freePort();
  const out = join(dir, `profile-${port}.json`);
  const args = ["--import", join(BENCH_DIR, "allocation-sampler.mjs"), CLI, "start"];
  const child = spawn(
    pinned ? "taskset" : process.execPath,
    pinned ? ["-c", SERVER_CPU, process.execPath, ...args] : args,
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        HOST,
        DATABASE_URL: `sqlite:${store}`,
        VERIFY_RATE_LIMIT_PER_MINUTE: "100000000",
        BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "100000000",
        KEYWARD_ALLOCATIONS_OUT: out,
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const said = async (text: string) => {
    for (let i = 0; i < 300 && !stderr.includes(text); i++) await sleep(50);
    if (!stderr.includes(text)) throw new Error(`the server did not say "${text}": ${stderr}`);
  };
  try {
    const base = `http://${HOST}:${port}`;
    for (let i = 0; ; i++) {
      const answer = await fetch(`${base}/healthz`).catch(() => undefined);
      if (answer?.ok) break;
      if (i > 300) throw new Error(`the server did not start: ${stderr}`);
      await sleep(100);
    }
    wrk(`${base}${path}`, 3, authorization);
    child.kill("SIGUSR2");
    await said("allocations sampling");
    const requests = wrk(`${base}${path}`, 5, authorization);
    child.kill("SIGUSR2");
    await said("allocations written");
    report(label, JSON.parse(readFileSync(out, "utf8")).head as ProfileNode, requests);
  } finally {
    const exited = new Promise((resolveExit) => child.once("exit", resolveExit));
    child.kill("SIGTERM");
    await exited;
  }
}

function report(label: string, head: ProfileNode, requests: number): void {
  const bytes = new Map<string, number>();
  let total = 0;
  const walk = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = `${functionName || "(anonymous)"} ${url.split("/").slice(-2).join("/")}:${lineNumber + 1}`;
    total += node.selfSize;
    if (node.selfSize > 0) bytes.set(where, (bytes.get(where) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(head);
  console.log(
    `${label}: ${(total / requests).toFixed(0)} bytes a request over ${requests} requests`,
  );
  for (const [where, size] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    console.log(`  ${(size / requests).toFixed(0).padStart(6)}  ${where}`);
}

try {
  await sample("GET /healthz", "/healthz", "");
  await sample("GET /api, one token", "/api", `Bearer ${token}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
