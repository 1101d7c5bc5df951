import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import SqliteDatabase from "better-sqlite3";
import { LOAD_CPU, onCore, SERVER_CPU } from "./machine.js";
import { freePort } from "./server.js";
import { BENCH_DIR, CLI, HOST, ROOT } from "./settings.js";
import { parseWrkReport } from "./wrk.js";

/**
 * What a request allocates, garbage included: `GET /healthz` and `GET /api` with one
 * token, each on a fresh server (from `dist/`, as the bench runs it) under wrk, sampled
 * with V8's allocation sampler (bench/allocation-sampler.mjs) over 5 s after 3 s of
 * warm-up. Prints bytes a request and the functions that allocate the most. The sampling
 * starts a moment before wrk's 5 s and stops a moment after, so the figure is a little
 * high (the server is idle then, and allocates little).
 *
 *   npx tsx bench/allocations.ts <store.db> <tokens.txt> [top]
 *
 * The store is copied first (the servers write usage counts); `tokens.txt` is the bench's
 * file of plaintext tokens for it (`npm run bench -- --work-dir <dir>`: `small.db` and
 * `small-tokens.txt`), whose first line is the token sent. Any answer but 2xx fails the
 * run: it would measure a refusal.
 */
const [source, tokensFile] = process.argv.slice(2);
if (!source || !tokensFile)
  throw new Error("usage: bench/allocations.ts <store.db> <tokens.txt> [top]");
const TOP = Number(process.argv[4] ?? 15);
const token = readFileSync(tokensFile, "utf8").split("\n")[0]?.trim() ?? "";
if (token === "") throw new Error(`no token on the first line of ${tokensFile}`);

const dir = mkdtempSync(join(tmpdir(), "keyward-allocations-"));

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** Requests served in `seconds` of wrk; throws on any refusal or socket error. */
function wrk(url: string, seconds: number, authorization: string): number {
  const args = ["-t1", "-c16", `-d${seconds}s`, "-s", join(BENCH_DIR, "fixed.lua"), url];
  const result = spawnSync(...onCore(LOAD_CPU, "wrk", args), {
    env: {
      ...process.env,
      KEYWARD_BENCH_DIR: BENCH_DIR,
      KEYWARD_BENCH_AUTHORIZATION: authorization,
    },
    encoding: "utf8",
  });
  const report = parseWrkReport(result.stdout ?? "");
  if (!report) throw new Error(`wrk gave no result: ${result.stderr || result.error}`);
  const errors = Object.entries(report.errors).filter(([, count]) => count > 0);
  if (errors.length > 0)
    throw new Error(
      `wrk saw errors (status: answers other than 2xx): ${JSON.stringify(report.errors)}`,
    );
  return report.requests;
}

async function sample(label: string, path: string, authorization: string, store: string) {
  const port = await freePort();
  const out = join(dir, `profile-${port}.json`);
  const args = [
    "--import",
    pathToFileURL(join(BENCH_DIR, "allocation-sampler.mjs")).href,
    CLI,
    "start",
  ];
  const child = spawn(...onCore(SERVER_CPU, process.execPath, args), {
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
  });
  // Listened for from the start: a server that dies at once must not leave us waiting.
  let exit: string | undefined;
  const exited = new Promise<void>((resolveExit) => {
    const ended = (why: string) => {
      exit ??= why;
      resolveExit();
    };
    child.once("exit", (code, signal) => ended(`exited (${code ?? signal})`));
    child.once("error", (error) => ended(`could not start: ${error.message}`));
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const failure = () =>
    exit !== undefined
      ? `the server ${exit}: ${stderr.trim()}`
      : stderr.includes("allocation sampler: failed")
        ? stderr.trim()
        : undefined;
  const said = async (text: string) => {
    for (let i = 0; i < 300 && !stderr.includes(text); i++) {
      const why = failure();
      if (why) throw new Error(why);
      await sleep(50);
    }
    if (!stderr.includes(text)) throw new Error(`the server did not say "${text}": ${stderr}`);
  };
  try {
    const base = `http://${HOST}:${port}`;
    for (let i = 0; ; i++) {
      const why = failure();
      if (why) throw new Error(why);
      const answer = await fetch(`${base}/healthz`).catch(() => undefined);
      if (answer?.ok) break;
      if (i > 300) throw new Error(`the server did not answer within 30 s: ${stderr}`);
      await sleep(100);
    }
    wrk(`${base}${path}`, 3, authorization);
    child.kill("SIGUSR2");
    await said("allocation sampler: sampling");
    const requests = wrk(`${base}${path}`, 5, authorization);
    child.kill("SIGUSR2");
    await said("allocation sampler: written");
    report(label, JSON.parse(readFileSync(out, "utf8")).head as ProfileNode, requests);
  } finally {
    if (exit === undefined) {
      child.kill("SIGTERM");
      const stuck = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(stuck);
    }
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
  // A consistent copy, whatever the source's write-ahead log holds.
  const store = join(dir, "store.db");
  const original = new SqliteDatabase(source, { readonly: true, fileMustExist: true });
  await original.backup(store);
  original.close();
  await sample("GET /healthz", "/healthz", "", store);
  await sample("GET /api, one token", "/api", `Bearer ${token}`, store);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
