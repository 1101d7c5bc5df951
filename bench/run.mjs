#!/usr/bin/env node
// `npm run bench`: Keyward's benchmark. Seeds a store with `keyward seed-bench`, starts a
// real server process (`node dist/cli/main.js start`) as a user would, and drives it with
// wrk from another core. Each case runs in short slices alternated with case 1 (the bare
// `GET /healthz` of the same server), and is reported as paired ratios: this machine's
// noise (±20% between identical runs) would swamp one long run per case.
//
//   npm run bench                    full run (1,000,000-token store; about 8-10 minutes)
//   BENCH_QUICK=1 npm run bench      smoke run (small store, 1 s slices; well under a minute)
//   node bench/run.mjs --help        every option
//
// Load goes to 127.0.0.1 only. Results: a table on stdout, JSON in bench/results/.

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, "..");
const CLI = join(ROOT, "dist", "cli", "main.js");
const HOST = "127.0.0.1";

const HELP = `Usage: node bench/run.mjs [options]   (npm run bench -- [options])

  --quick               smoke run: small store, 1 s slices, one pair per case (BENCH_QUICK=1)
  --tokens <n>          tokens in the large store (default 1000000; quick: 2000)
  --pg-tokens <n>       tokens in the PostgreSQL store (default: as --tokens)
  --slice <seconds>     length of one slice (default 3; quick: 1)
  --pairs <n>           slice pairs (case 1 + case N) per case (default 3; quick: 1)
  --connections <n>     wrk connections (default 16)
  --cases <list>        only these cases, e.g. 2,4 (case 1 always runs)
  --backends <list>     sqlite,postgres (default both; PostgreSQL only when available)
  --no-postgres         skip PostgreSQL even when TEST_DATABASE_URL is set
  --no-extra            skip the extra stages (cache off, logging cost)
  --profile             run the servers under node --cpu-prof (profiles in bench/results/)
  --out <file>          JSON results (default bench/results/bench-<time>.json)
  --log-level <level>   LOG_LEVEL of every server (default: the server's own, info)
  --work-dir <dir>      keep the seeded stores there and reuse them in later runs
                        (for working on performance; default: a fresh folder, deleted)

PostgreSQL cases run when TEST_DATABASE_URL points at a server the bench may create
databases on (they are dropped afterwards) and the PostgreSQL store starts.`;

// ---------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    tokens: { type: "string" },
    "pg-tokens": { type: "string" },
    slice: { type: "string" },
    pairs: { type: "string" },
    connections: { type: "string" },
    cases: { type: "string" },
    backends: { type: "string", default: "sqlite,postgres" },
    "no-postgres": { type: "boolean", default: false },
    "no-extra": { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    out: { type: "string" },
    "work-dir": { type: "string" },
    "log-level": { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}

const QUICK = flags.quick || process.env.BENCH_QUICK === "1";
function intOption(text, fallback, name) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} must be a positive number (got "${text}")`);
    process.exit(64);
  }
  return value;
}
const tokens = intOption(flags.tokens, QUICK ? 2000 : 1_000_000, "--tokens");
const settings = {
  quick: QUICK,
  tokens,
  pgTokens: intOption(flags["pg-tokens"], tokens, "--pg-tokens"),
  smallTokens: 1000,
  sessionUsers: QUICK ? 50 : 2000,
  fakeTokens: QUICK ? 1000 : 100_000,
  sliceSeconds: intOption(flags.slice, QUICK ? 1 : 3, "--slice"),
  pairs: intOption(flags.pairs, QUICK ? 1 : 3, "--pairs"),
  warmupSeconds: QUICK ? 0 : 2,
  connections: intOption(flags.connections, 16, "--connections"),
  revocations: QUICK ? 5 : 40,
  flushIntervalMs: QUICK ? 250 : 1000,
  extra: !flags["no-extra"],
  profile: flags.profile,
  // The full run must finish within 10 minutes: stages that would start later are skipped.
  budgetMs: QUICK ? 120_000 : 9.5 * 60_000,
};
const onlyCases = flags.cases
  ? new Set(flags.cases.split(",").map((c) => Number(c.trim())))
  : undefined;
const wants = (n) => n === 1 || onlyCases === undefined || onlyCases.has(n);
const backends = new Set(flags.backends.split(",").map((b) => b.trim()));
if (flags["no-postgres"]) backends.delete("postgres");

const started = Date.now();
const stamp = new Date(started).toISOString().replace(/[:.]/g, "-");
const RESULTS_DIR = join(BENCH_DIR, "results");
const KEEP_WORK = flags["work-dir"] !== undefined;
const WORK_DIR = KEEP_WORK ? resolve(flags["work-dir"]) : join(RESULTS_DIR, `work-${process.pid}`);
const outFile = flags.out ?? join(RESULTS_DIR, `bench-${stamp}.json`);

// ---------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const elapsedMs = () => Date.now() - started;
const log = (line) => console.log(`[${(elapsedMs() / 1000).toFixed(0).padStart(3)} s] ${line}`);
const notices = [];
const notice = (line) => {
  notices.push(line);
  log(line);
};

function commandExists(command, args = ["--version"]) {
  const r = spawnSync(command, args, { stdio: "ignore" });
  return !r.error;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Runs a command to completion, with a time bound. */
function run(command, args, { env, timeoutMs, stdout = "pipe" } = {}) {
  return new Promise((resolveRun) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: env ?? process.env,
      stdio: ["ignore", stdout, "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout?.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs ?? 600_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolveRun({ code: -1, out, err: `${err}${error.message}` });
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? (signal ? -1 : 0), out, err });
    });
  });
}

// ---------------------------------------------------------------------------------------
// The machine

const cores = availableParallelism();
const hasWrk = commandExists("wrk", ["-v"]);
const hasTaskset = commandExists("taskset", ["-V"]);
const pin = hasTaskset && cores >= 2;
const SERVER_CPU = "0";
const LOAD_CPU = "1";

function machine() {
  let cpuModel = cpus()[0]?.model ?? "unknown";
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) cpuModel = m[1].trim();
  } catch {}
  const wrkVersion = hasWrk
    ? (/wrk (\S+)/.exec(spawnSync("wrk", ["-v"], { encoding: "utf8" }).stdout ?? "")?.[1] ??
      "unknown")
    : null;
  return {
    nproc: cores,
    cpuModel,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    wrk: wrkVersion,
    pinned: pin ? { server: SERVER_CPU, loadGenerator: LOAD_CPU } : null,
    loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

// ---------------------------------------------------------------------------------------
// Seeding and servers

async function seed(databaseUrl, count, name) {
  const tokensFile = join(WORK_DIR, `${name}-tokens.txt`);
  const sessionsFile = join(WORK_DIR, `${name}-sessions.txt`);
  const doneFile = join(WORK_DIR, `${name}-${count}.seeded`);
  if (KEEP_WORK && databaseUrl.startsWith("sqlite:") && existsSync(doneFile)) {
    log(`reusing the seeded store ${name} (${count} tokens) in ${WORK_DIR}`);
    return { tokensFile, sessionsFile, seedSeconds: 0, tokens: count };
  }
  if (databaseUrl.startsWith("sqlite:")) {
    const file = databaseUrl.slice("sqlite:".length);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
  }
  const t0 = Date.now();
  const r = await run(
    process.execPath,
    [
      CLI,
      "seed-bench",
      `--tokens=${count}`,
      `--session-users=${settings.sessionUsers}`,
      `--seed=${name}`,
      `--tokens-out=${tokensFile}`,
      `--sessions-out=${sessionsFile}`,
    ],
    { env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl }, timeoutMs: 300_000 },
  );
  if (r.code !== 0) throw new Error(`seed-bench failed (${r.code}): ${r.err || r.out}`.trim());
  const seconds = (Date.now() - t0) / 1000;
  log(`${r.out.trim()} (wall ${seconds.toFixed(1)} s)`);
  if (KEEP_WORK) writeFileSync(doneFile, "");
  return { tokensFile, sessionsFile, seedSeconds: seconds, tokens: count };
}

/** The environment a benchmark server gets: defaults, except limits a load test would trip. */
function serverEnv(databaseUrl, port, extra = {}) {
  return {
    PATH: process.env.PATH,
    PORT: String(port),
    HOST,
    DATABASE_URL: databaseUrl,
    USAGE_FLUSH_INTERVAL_MS: String(settings.flushIntervalMs),
    // One client address sends everything: per-address limits would measure 429s instead.
    VERIFY_RATE_LIMIT_PER_MINUTE: "100000000",
    BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "100000000",
    TOKEN_CREATIONS_PER_USER_PER_HOUR: "1000000",
    ...(flags["log-level"] ? { LOG_LEVEL: flags["log-level"] } : {}),
    ...extra,
  };
}

async function startServer(label, databaseUrl, extraEnv = {}) {
  const port = await freePort();
  const nodeArgs = [];
  if (settings.profile) {
    const dir = join(RESULTS_DIR, `profiles-${stamp}`, label.replace(/[^a-z0-9]+/gi, "-"));
    mkdirSync(dir, { recursive: true });
    nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
  }
  const command = pin ? "taskset" : process.execPath;
  const args = pin
    ? ["-c", SERVER_CPU, process.execPath, ...nodeArgs, CLI, "start"]
    : [...nodeArgs, CLI, "start"];
  // Logs go to /dev/null: the server still formats and writes every line (the cost a user
  // pays with the default LOG_LEVEL=info), without filling a disk during the run.
  const devNull = openSync("/dev/null", "w");
  const child = spawn(command, args, {
    cwd: ROOT,
    env: serverEnv(databaseUrl, port, extraEnv),
    stdio: ["ignore", devNull, "pipe"],
  });
  closeSync(devNull);
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise((r) => child.on("exit", (code, signal) => r(code ?? signal)));
  const baseUrl = `http://${HOST}:${port}`;
  const deadline = Date.now() + 60_000;
  let exitCode;
  void exited.then((c) => {
    exitCode = c;
  });
  while (true) {
    if (exitCode !== undefined)
      throw new Error(`server exited (${exitCode}) before answering: ${stderr.trim()}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not answer within 60 s: ${stderr.trim()}`);
    }
    try {
      const res = await fetch(`${baseUrl}/healthz`);
      if (res.ok) break;
    } catch {}
    await sleep(100);
  }
  return {
    label,
    pid: child.pid,
    port,
    baseUrl,
    stderr: () => stderr,
    async stop() {
      if (exitCode === undefined) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

async function metrics(server) {
  const res = await fetch(`${server.baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  const read = (name) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return {
    reads: read("keyward_storage_reads_total"),
    writes: read("keyward_storage_writes_total"),
    cacheEntries: read("keyward_verify_cache_entries"),
    unflushed: read("keyward_usage_unflushed_requests"),
    flushes: read("keyward_usage_flushes_total"),
  };
}

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/**
 * CPU time the server has used, in µs (utime + stime). Per request it is a second measure
 * that the machine's other load disturbs far less than requests per second.
 */
function cpuMicros(server) {
  try {
    const stat = readFileSync(`/proc/${server.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Peak RSS: VmHWM, reset before each case when the kernel lets us (clear_refs 5). */
function resetPeak(server) {
  try {
    writeFileSync(`/proc/${server.pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}
function peakRssMiB(server) {
  try {
    const status = readFileSync(`/proc/${server.pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------------------------------
// Cases

function tokenAt(file, index) {
  const text = readFileSync(file, "utf8");
  const width = text.indexOf("\n") + 1;
  return text.slice(index * width, index * width + width - 1);
}

/** Made-up tokens with a valid prefix, length and checksum: none exists in any store. */
async function writeFakeTokens(count) {
  const file = join(WORK_DIR, "fake-tokens.txt");
  const { generateToken } = await import(join(ROOT, "dist", "core", "token.js"));
  const random = { bytes: (n) => randomBytes(n) };
  const lines = [];
  for (let i = 0; i < count; i++) lines.push(generateToken(random, "kw"));
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

const CASES = {
  1: { title: "GET /healthz (floor of our stack)", expect: "ok" },
  2: { title: "GET /api, one valid token (hot cache)", expect: "ok" },
  3: { title: "GET /api, tokens uniform over the store", expect: "ok" },
  4: { title: "GET /api, made-up tokens (valid checksum)", expect: "refused" },
  5: { title: "POST /api/v1/verify, one valid token", expect: "ok" },
  6: { title: "token creation (API, session cookies)", expect: "ok" },
};

/** The wrk command line and environment for one case against one server. */
function wrkInvocation(caseNumber, server, store, runId) {
  const env = { ...process.env, KEYWARD_BENCH_DIR: BENCH_DIR };
  const fixed = join(BENCH_DIR, "fixed.lua");
  switch (caseNumber) {
    case 1:
      return { env, script: fixed, url: `${server.baseUrl}/healthz`, args: [] };
    case 2:
      return {
        env: { ...env, KEYWARD_BENCH_AUTHORIZATION: `Bearer ${store.hotToken}` },
        script: fixed,
        url: `${server.baseUrl}/api`,
        args: [],
      };
    case 3:
      return {
        env,
        script: join(BENCH_DIR, "tokens.lua"),
        url: server.baseUrl,
        args: [store.tokensFile, String(runId)],
      };
    case 4:
      return {
        env,
        script: join(BENCH_DIR, "tokens.lua"),
        url: server.baseUrl,
        args: [store.fakeTokensFile, String(runId)],
      };
    case 5:
      return {
        env: {
          ...env,
          KEYWARD_BENCH_METHOD: "POST",
          KEYWARD_BENCH_BODY: JSON.stringify({ token: store.hotToken }),
        },
        script: fixed,
        url: `${server.baseUrl}/api/v1/verify`,
        args: [],
      };
    case 6:
      return {
        env,
        script: join(BENCH_DIR, "create-token.lua"),
        url: server.baseUrl,
        args: [store.sessionsFile, server.baseUrl, `r${runId}`],
      };
    default:
      throw new Error(`no case ${caseNumber}`);
  }
}

let runCounter = 0;

/** One wrk run of `seconds` against a case; returns requests/s and latency percentiles. */
async function slice(caseNumber, server, store, seconds) {
  runCounter++;
  const w = wrkInvocation(caseNumber, server, store, runCounter);
  const wrkArgs = [
    "-t1",
    `-c${settings.connections}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "-s",
    w.script,
    w.url,
    ...(w.args.length ? ["--", ...w.args] : []),
  ];
  const command = pin ? "taskset" : "wrk";
  const args = pin ? ["-c", LOAD_CPU, "wrk", ...wrkArgs] : wrkArgs;
  const cpuBefore = cpuMicros(server);
  const r = await run(command, args, { env: w.env, timeoutMs: seconds * 1000 + 30_000 });
  const cpuUsed = cpuMicros(server) - cpuBefore;
  const line = /KEYWARD_BENCH (\{.*\})/.exec(r.out)?.[1];
  if (!line) throw new Error(`wrk gave no result (${r.code}): ${r.err || r.out}`.trim());
  const s = JSON.parse(line);
  const socketErrors = s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout;
  return {
    case: caseNumber,
    requests: s.requests,
    rps: s.requests / (s.durationUs / 1e6),
    p50Ms: s.latencyUs.p50 / 1000,
    p99Ms: s.latencyUs.p99 / 1000,
    p999Ms: s.latencyUs.p999 / 1000,
    maxMs: s.latencyUs.max / 1000,
    refused: s.errors.status,
    socketErrors,
    cpuUsPerRequest: cpuUsed / s.requests,
    serverCpuShare: cpuUsed / s.durationUs,
  };
}

/** Checks a slice's answers against what the case expects; returns a note or "". */
function answerProblem(caseNumber, slices) {
  const requests = slices.reduce((n, s) => n + s.requests, 0);
  const refused = slices.reduce((n, s) => n + s.refused, 0);
  const socket = slices.reduce((n, s) => n + s.socketErrors, 0);
  const notes = [];
  if (CASES[caseNumber].expect === "ok" && refused > 0) notes.push(`${refused} answers ≥ 400`);
  if (CASES[caseNumber].expect === "refused" && refused < requests)
    notes.push(`${requests - refused} answers < 400`);
  if (socket > 0) notes.push(`${socket} socket errors`);
  return notes.join("; ");
}

function summarize(slices) {
  return {
    rps: median(slices.map((s) => s.rps)),
    p50Ms: median(slices.map((s) => s.p50Ms)),
    p99Ms: median(slices.map((s) => s.p99Ms)),
    p99WorstMs: Math.max(...slices.map((s) => s.p99Ms)),
    maxMs: Math.max(...slices.map((s) => s.maxMs)),
    requests: slices.reduce((n, s) => n + s.requests, 0),
    cpuUsPerRequest: median(slices.map((s) => s.cpuUsPerRequest)),
    serverCpuShare: median(slices.map((s) => s.serverCpuShare)),
  };
}

/**
 * Runs case `n` alternated with case 1 on the same server: pairs of slices, in ABBA
 * order so a drift of the machine during the run falls on both alike.
 */
async function pairedCase(n, server, store, stage) {
  const pairCount = stage.pairs ?? settings.pairs;
  if (settings.warmupSeconds > 0) await slice(n, server, store, settings.warmupSeconds);
  const before = await metrics(server);
  const peakReset = resetPeak(server);
  const t0 = Date.now();
  const pairs = [];
  for (let i = 0; i < pairCount; i++) {
    const order = i % 2 === 0 ? [1, n] : [n, 1];
    const pair = {};
    for (const c of order) pair[c] = await slice(c, server, store, settings.sliceSeconds);
    pairs.push({ base: pair[1], case: pair[n] });
  }
  const after = await settle(server);
  const windowMs = Date.now() - t0;
  const caseSlices = pairs.map((p) => p.case);
  const baseSlices = pairs.map((p) => p.base);
  stage.baseSlices.push(...baseSlices);
  return {
    stage: stage.label,
    backend: stage.backend,
    store: stage.storeLabel,
    case: n,
    title: CASES[n].title,
    ...summarize(caseSlices),
    ratio: median(pairs.map((p) => p.case.rps / p.base.rps)),
    ratioRange: [
      Math.min(...pairs.map((p) => p.case.rps / p.base.rps)),
      Math.max(...pairs.map((p) => p.case.rps / p.base.rps)),
    ],
    p99Ratio: median(pairs.map((p) => p.case.p99Ms / p.base.p99Ms)),
    cpuRatio: median(pairs.map((p) => p.base.cpuUsPerRequest / p.case.cpuUsPerRequest)),
    p99RatioWorst: Math.max(...pairs.map((p) => p.case.p99Ms / p.base.p99Ms)),
    peakRssMiB: peakRssMiB(server),
    peakRssSinceStart: !peakReset,
    writes: after.writes - before.writes,
    reads: after.reads - before.reads,
    flushes: after.flushes - before.flushes,
    flushesAllowed: Math.ceil(windowMs / settings.flushIntervalMs) + 1,
    cacheEntries: after.cacheEntries,
    windowSeconds: windowMs / 1000,
    problem: answerProblem(n, caseSlices),
    slices: pairs,
  };
}

/**
 * Waits until the case's last counts have reached storage (nothing unflushed, and the
 * write counter still between two reads), so every flush is counted with its own case.
 */
async function settle(server) {
  await sleep(settings.flushIntervalMs + 200);
  let last = await metrics(server);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    await sleep(300);
    const now = await metrics(server);
    if (now.unflushed === 0 && now.writes === last.writes && now.flushes === last.flushes)
      return now;
    last = now;
  }
  notice(`notice: ${server.label}: usage still flushing 20 s after a case`);
  return last;
}

/** Case 1 alone first: its own writes (there must be none) and a warm JIT. */
async function baseCase(server, store, stage) {
  if (settings.warmupSeconds > 0) await slice(1, server, store, settings.warmupSeconds);
  const before = await metrics(server);
  const peakReset = resetPeak(server);
  const t0 = Date.now();
  const slices = [];
  slices.push(await slice(1, server, store, settings.sliceSeconds));
  const after = await metrics(server);
  stage.baseSlices.push(...slices);
  return {
    stage: stage.label,
    backend: stage.backend,
    store: stage.storeLabel,
    case: 1,
    title: CASES[1].title,
    ...summarize(slices),
    ratio: 1,
    p99Ratio: 1,
    cpuRatio: 1,
    peakRssMiB: peakRssMiB(server),
    peakRssSinceStart: !peakReset,
    writes: after.writes - before.writes,
    reads: after.reads - before.reads,
    flushes: after.flushes - before.flushes,
    flushesAllowed: Math.ceil((Date.now() - t0) / settings.flushIntervalMs) + 1,
    cacheEntries: after.cacheEntries,
    windowSeconds: (Date.now() - t0) / 1000,
    problem: answerProblem(1, slices),
    slices,
  };
}

/**
 * Peak RSS with the verification cache at its default size: case 3 until the cache holds
 * VERIFY_CACHE_SIZE entries (100,000), bounded to 60 s.
 */
async function fillCache(server, store) {
  const target = 100_000;
  log(`${server.label}: case 3 until the cache holds ${target} entries (peak RSS)`);
  const t0 = Date.now();
  let entries = (await metrics(server)).cacheEntries;
  while (entries < target && Date.now() - t0 < 60_000) {
    await slice(3, server, store, 5);
    entries = (await metrics(server)).cacheEntries;
  }
  await settle(server);
  return { entries, peakRssMiB: peakRssMiB(server), seconds: (Date.now() - t0) / 1000 };
}

// ---------------------------------------------------------------------------------------
// Case 7: revocation propagation between two processes (PostgreSQL)

async function revocationPropagation(serverA, serverB, store, count) {
  const sessions = readFileSync(store.sessionsFile, "utf8").trim().split("\n");
  const [secret, appId] = sessions[sessions.length - 1].split(" ");
  const headers = {
    cookie: `keyward_session=${secret}`,
    origin: serverA.baseUrl,
    "content-type": "application/json",
  };
  const samples = [];
  let stale = 0;
  for (let i = 0; i < count; i++) {
    const created = await fetch(`${serverA.baseUrl}/api/v1/applications/${appId}/tokens`, {
      method: "POST",
      headers,
      body: JSON.stringify({ name: `revocation ${process.pid} ${i}` }),
    });
    if (created.status !== 201) throw new Error(`token creation answered ${created.status}`);
    const { token, apiToken } = await created.json();
    const bearer = { authorization: `Bearer ${token}` };
    // B answers 200 and now holds the token in its cache.
    const warm = await fetch(`${serverB.baseUrl}/api`, { headers: bearer });
    await warm.arrayBuffer();
    if (warm.status !== 200) throw new Error(`process B answered ${warm.status} before revocation`);
    const revoked = await fetch(
      `${serverA.baseUrl}/api/v1/applications/${appId}/tokens/${apiToken.id}`,
      { method: "DELETE", headers: { cookie: headers.cookie, origin: headers.origin } },
    );
    await revoked.arrayBuffer();
    if (revoked.status !== 204) throw new Error(`revocation answered ${revoked.status}`);
    const t0 = performance.now();
    // Poll B until it refuses; bounded by the cache's maximum age and then some.
    let refusedAfter = Number.NaN;
    while (performance.now() - t0 < 10_000) {
      const res = await fetch(`${serverB.baseUrl}/api`, { headers: bearer });
      await res.arrayBuffer();
      if (res.status === 401) {
        refusedAfter = performance.now() - t0;
        break;
      }
    }
    if (Number.isNaN(refusedAfter)) stale++;
    else samples.push(refusedAfter);
  }
  const sorted = samples.slice().sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return {
    revocations: count,
    neverRefusedWithin10s: stale,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: sorted[sorted.length - 1],
  };
}

// ---------------------------------------------------------------------------------------
// Stages: one server process (or two) on one store

const rows = [];
const extras = { seedSeconds: {} };
const skipped = [];
const stages = [];

function outOfTime(what) {
  if (elapsedMs() < settings.budgetMs) return false;
  skipped.push(`${what}: skipped, the run's time budget is spent`);
  notice(`skipped: ${what} (time budget of ${settings.budgetMs / 60000} min spent)`);
  return true;
}

async function runStage(stage, server, store, cases) {
  stage.baseSlices = [];
  stages.push(stage);
  log(`${stage.label}: case 1 (alone)`);
  const base = await baseCase(server, store, stage);
  const caseRows = [];
  for (const n of cases) {
    if (outOfTime(`${stage.label} case ${n}`)) continue;
    log(`${stage.label}: case ${n} alternated with case 1`);
    caseRows.push(await pairedCase(n, server, store, stage));
  }
  // Case 1's row covers every case-1 slice of the stage.
  Object.assign(base, summarize(stage.baseSlices), { slices: stage.baseSlices });
  rows.push(base, ...caseRows);
  return [base, ...caseRows];
}

async function withServer(label, databaseUrl, env, body) {
  const server = await startServer(label, databaseUrl, env);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

async function sqliteStages(fakeTokensFile) {
  const largeDb = join(WORK_DIR, "large.db");
  const smallDb = join(WORK_DIR, "small.db");
  const large = await seed(`sqlite:${largeDb}`, settings.tokens, "large");
  const small = QUICK ? large : await seed(`sqlite:${smallDb}`, settings.smallTokens, "small");
  for (const s of [large, small]) {
    s.fakeTokensFile = fakeTokensFile;
    s.hotToken = tokenAt(s.tokensFile, 0);
  }
  extras.seedSeconds.sqliteLarge = large.seedSeconds;
  if (!QUICK) extras.seedSeconds.sqliteSmall = small.seedSeconds;
  const largeLabel = `${settings.tokens.toLocaleString("en")} tokens`;
  const smallLabel = `${settings.smallTokens.toLocaleString("en")} tokens`;

  const mainCases = [2, 3, 4, 5, 6].filter(wants);
  await withServer("sqlite-large", `sqlite:${largeDb}`, {}, async (server) => {
    await runStage(
      { label: `sqlite, ${largeLabel}`, backend: "sqlite", storeLabel: largeLabel },
      server,
      large,
      mainCases,
    );
    if (wants(3) && !QUICK && !outOfTime("peak RSS with a full cache"))
      extras.fullCache = await fillCache(server, large);
  });
  // The quick run covers the same code paths with the large stage alone.
  if (wants(3) && !QUICK && !outOfTime("sqlite small store")) {
    await withServer("sqlite-small", `sqlite:${smallDb}`, {}, (server) =>
      runStage(
        { label: `sqlite, ${smallLabel}`, backend: "sqlite", storeLabel: smallLabel },
        server,
        small,
        [3],
      ),
    );
  }
  if (!settings.extra || QUICK) return;
  // Storage alone: the same case 3 with the cache off, large store against small store.
  if (wants(3)) {
    for (const [db, store, label] of [
      [largeDb, large, largeLabel],
      [smallDb, small, smallLabel],
    ]) {
      if (outOfTime(`sqlite ${label}, cache off`)) continue;
      await withServer("sqlite-nocache", `sqlite:${db}`, { VERIFY_CACHE_SIZE: "0" }, (server) =>
        runStage(
          {
            label: `sqlite, ${label}, cache off`,
            backend: "sqlite",
            storeLabel: `${label}, cache off`,
            pairs: Math.min(2, settings.pairs),
          },
          server,
          store,
          [3],
        ),
      );
    }
  }
  // What the default per-request info logging costs: case 2 with LOG_LEVEL=warn.
  if (wants(2) && !outOfTime("logging cost")) {
    await withServer("sqlite-warn", `sqlite:${smallDb}`, { LOG_LEVEL: "warn" }, (server) =>
      runStage(
        {
          label: `sqlite, ${smallLabel}, LOG_LEVEL=warn`,
          backend: "sqlite",
          storeLabel: `${smallLabel}, LOG_LEVEL=warn`,
          pairs: Math.min(2, settings.pairs),
        },
        server,
        small,
        [2],
      ),
    );
  }
}

/** PostgreSQL: when TEST_DATABASE_URL is set and the PostgreSQL store starts. */
async function postgresStages(fakeTokensFile) {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!backends.has("postgres")) return skip("PostgreSQL: not selected (--backends)");
  if (!adminUrl) return skip("PostgreSQL: TEST_DATABASE_URL is not set");
  if (outOfTime("PostgreSQL")) return;
  let pg;
  try {
    pg = (await import("pg")).default;
  } catch (error) {
    return skip(`PostgreSQL: the pg module did not load (${error.message})`);
  }
  const name = `keyward_bench_${process.pid}`;
  const url = new URL(adminUrl);
  if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(url.hostname))
    return skip(`PostgreSQL: TEST_DATABASE_URL is not on this machine (${url.hostname})`);
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
    await admin.query(`create database ${name}`);
  } catch (error) {
    await admin.end().catch(() => {});
    return skip(`PostgreSQL: cannot create a database (${error.message})`);
  }
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  try {
    let store;
    try {
      store = await seed(databaseUrl, settings.pgTokens, "pg");
    } catch (error) {
      return skip(`PostgreSQL: the store did not seed (${error.message.split("\n")[0]})`);
    }
    store.fakeTokensFile = fakeTokensFile;
    store.hotToken = tokenAt(store.tokensFile, 0);
    extras.seedSeconds.postgres = store.seedSeconds;
    const label = `${settings.pgTokens.toLocaleString("en")} tokens`;
    let serverA;
    try {
      serverA = await startServer("postgres-a", databaseUrl);
    } catch (error) {
      return skip(`PostgreSQL: the server did not start (${error.message.split("\n")[0]})`);
    }
    try {
      await runStage(
        { label: `postgres, ${label}`, backend: "postgres", storeLabel: label },
        serverA,
        store,
        [2, 3, 4, 5, 6].filter(wants),
      );
      if (wants(7) && !outOfTime("case 7")) {
        log("postgres: case 7, revocation propagation between two processes");
        const serverB = await startServer("postgres-b", databaseUrl);
        try {
          extras.revocation = await revocationPropagation(
            serverA,
            serverB,
            store,
            settings.revocations,
          );
        } finally {
          await serverB.stop();
        }
      }
    } finally {
      await serverA.stop();
    }
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`).catch((error) => {
      notice(`could not drop database ${name}: ${error.message}`);
    });
    await admin.end().catch(() => {});
  }
}

function skip(reason) {
  skipped.push(reason);
  notice(`skipped: ${reason}`);
}

// ---------------------------------------------------------------------------------------
// Targets of issue 6, checked on the numbers of this run

function targets() {
  const find = (backend, store, n) =>
    rows.find((r) => r.backend === backend && r.store === store && r.case === n);
  const large = `${settings.tokens.toLocaleString("en")} tokens`;
  const small = `${settings.smallTokens.toLocaleString("en")} tokens`;
  const out = [];
  const check = (name, ok, measured) => out.push({ target: name, met: ok, measured });
  const c2 = find("sqlite", large, 2);
  if (c2) {
    check("case 2 ≥ 0.85 × case 1", c2.ratio >= 0.85, c2.ratio.toFixed(2));
    check(
      "p99 of case 2 ≤ 1.5 × p99 of case 1 (flushes included)",
      c2.p99Ratio <= 1.5,
      `${c2.p99Ratio.toFixed(2)} (worst pair ${c2.p99RatioWorst.toFixed(2)})`,
    );
  }
  const c3 = find("sqlite", large, 3);
  if (c3) check("case 3 ≥ 0.45 × case 1 (SQLite)", c3.ratio >= 0.45, c3.ratio.toFixed(2));
  const c4 = find("sqlite", large, 4);
  if (c4) check("case 4 ≥ 0.8 × case 1", c4.ratio >= 0.8, c4.ratio.toFixed(2));
  const quiet = rows.filter((r) => r.case <= 5);
  if (quiet.length > 0) {
    const bad = quiet.filter(
      (r) => (r.flushes === 0 && r.writes > 0) || r.flushes > r.flushesAllowed,
    );
    check(
      "cases 1-5: no storage write but batched flushes (≤ 1 per interval)",
      bad.length === 0,
      bad.length === 0
        ? "all cases"
        : bad.map((r) => `${r.backend} case ${r.case}: ${r.writes} writes`).join(", "),
    );
  }
  const largeRows = rows.filter((r) => r.backend === "sqlite" && r.store === large);
  if (largeRows.length > 0) {
    const full = extras.fullCache;
    const peak = Math.max(...largeRows.map((r) => r.peakRssMiB), full?.peakRssMiB ?? 0);
    check(
      `peak RSS ≤ 256 MiB (${large}, default cache)`,
      peak <= 256,
      `${peak.toFixed(0)} MiB${full ? ` (cache filled to ${full.entries} entries)` : " (cache not filled)"}`,
    );
  }
  const c6 = find("sqlite", large, 6);
  if (c6)
    check("case 6 ≥ 300 tokens/s (SQLite, synchronous=FULL)", c6.rps >= 300, c6.rps.toFixed(0));
  const big = find("sqlite", large, 3);
  const little = find("sqlite", small, 3);
  if (big && little) {
    const r = big.ratio / little.ratio;
    check(`case 3: ${large} within 10% of ${small}`, r >= 0.9, r.toFixed(2));
  }
  const bigOff = find("sqlite", `${large}, cache off`, 3);
  const littleOff = find("sqlite", `${small}, cache off`, 3);
  if (bigOff && littleOff) {
    const r = bigOff.ratio / littleOff.ratio;
    check(`case 3, cache off: ${large} within 10% of ${small}`, r >= 0.9, r.toFixed(2));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Output

function formatTable() {
  const header = [
    "store",
    "case",
    "req/s",
    "× case 1",
    "p50 ms",
    "p99 ms",
    "p99 × c1",
    "CPU µs/req",
    "CPU × c1",
    "RSS MiB",
    "writes (flushes)",
    "note",
  ];
  const lines = rows.map((r) => [
    `${r.backend}, ${r.store}`,
    String(r.case),
    r.rps.toFixed(0),
    r.case === 1 ? "1" : r.ratio.toFixed(2),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.case === 1 ? "1" : r.p99Ratio.toFixed(2),
    r.cpuUsPerRequest.toFixed(0),
    r.case === 1 ? "1" : r.cpuRatio.toFixed(2),
    `${r.peakRssMiB.toFixed(0)}${r.peakRssSinceStart ? "*" : ""}`,
    `${r.writes} (${r.flushes})`,
    r.problem,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    fmt(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...lines.map(fmt),
  ].join("\n");
}

function report(result) {
  console.log("");
  console.log(`Keyward benchmark${QUICK ? " (quick smoke run: numbers are not meaningful)" : ""}`);
  const m = result.machine;
  console.log(
    `machine: ${m.nproc} cores, ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, wrk ${m.wrk ?? "absent"}, ` +
      `${m.pinned ? `server on CPU ${m.pinned.server}, wrk on CPU ${m.pinned.loadGenerator}` : "not pinned"}, ` +
      `load average at start ${m.loadAverage}`,
  );
  console.log(
    `slices: ${settings.pairs} pairs of ${settings.sliceSeconds} s per case (ABBA with case 1; ` +
      `${Math.min(2, settings.pairs)} in the cache-off and logging stages), ` +
      `wrk -t1 -c${settings.connections}; medians over slices; flush interval ${settings.flushIntervalMs} ms`,
  );
  console.log("");
  if (rows.length > 0) console.log(formatTable());
  console.log("");
  for (const [n, c] of Object.entries(CASES)) console.log(`  case ${n}: ${c.title}`);
  console.log("  case 7: revocation propagation between two processes (PostgreSQL)");
  console.log(
    "  × case 1: requests/s over case 1's in the paired slice (median of pairs); CPU µs/req: server CPU\n" +
      "  time per request (user+sys), CPU × c1: case 1's CPU per request over this case's (paired),\n" +
      "  a capacity ratio that other load on the machine disturbs less; writes: storage write statements\n" +
      "  in the case's window (flushes: usage batches written); * = peak RSS since server start",
  );
  if (result.revocation) {
    const r = result.revocation;
    console.log(
      `\ncase 7 (PostgreSQL): ${r.revocations} revocations, refused by the other process after ` +
        `p50 ${r.p50Ms?.toFixed(1)} ms, p99 ${r.p99Ms?.toFixed(1)} ms, max ${r.maxMs?.toFixed(1)} ms` +
        (r.neverRefusedWithin10s ? `; ${r.neverRefusedWithin10s} not refused within 10 s` : ""),
    );
  }
  if (result.fullCache) {
    const f = result.fullCache;
    console.log(
      `\npeak RSS with the cache filled (SQLite, large store): ${f.peakRssMiB.toFixed(0)} MiB at ` +
        `${f.entries} cache entries (${f.seconds.toFixed(0)} s of case 3)`,
    );
  }
  if (result.seedSeconds) {
    console.log(
      `\nseed: ${Object.entries(result.seedSeconds)
        .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
        .join(", ")}`,
    );
  }
  if (result.targets.length > 0) {
    console.log(`\ntargets (issue 6)${QUICK ? ", not meaningful in a quick run" : ""}:`);
    for (const t of result.targets)
      console.log(`  ${t.met ? "met   " : "MISSED"}  ${t.target}: ${t.measured}`);
  }
  for (const s of result.skipped) console.log(`skipped: ${s}`);
  console.log(`\nresults: ${relativeToRoot(outFile)}; total ${(elapsedMs() / 1000).toFixed(0)} s`);
}

function relativeToRoot(path) {
  return path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path;
}

// ---------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: run "npm install" (it builds) or "npm run build" first.`);
    process.exit(1);
  }
  mkdirSync(WORK_DIR, { recursive: true });
  const info = machine();
  log(
    `Keyward bench${QUICK ? " (quick)" : ""}: ${info.nproc} cores, ${info.cpuModel}, Node ${info.node}`,
  );
  if (!pin) {
    notice(
      cores < 2
        ? "notice: fewer than 2 cores; server and wrk share the CPU"
        : "notice: taskset not found; server and wrk are not pinned to separate cores",
    );
  }
  try {
    if (!hasWrk) {
      skip("cases 1-6: wrk not found (Debian: apt-get install wrk); seeding and case 7 still run");
    }
    const fakeTokensFile = await writeFakeTokens(settings.fakeTokens);
    if (!backends.has("sqlite")) skip("SQLite: not selected (--backends)");
    else if (hasWrk) await sqliteStages(fakeTokensFile);
    else {
      const db = join(WORK_DIR, "large.db");
      const store = await seed(`sqlite:${db}`, settings.tokens, "large");
      extras.seedSeconds.sqliteLarge = store.seedSeconds;
      await withServer("sqlite-large", `sqlite:${db}`, {}, async (server) => {
        const m = await metrics(server);
        log(`server started; /metrics answers (storage writes ${m.writes})`);
      });
    }
    if (hasWrk) await postgresStages(fakeTokensFile);
    else if (process.env.TEST_DATABASE_URL) skip("PostgreSQL: needs wrk for cases 2-6");
  } finally {
    if (!KEEP_WORK) rmSync(WORK_DIR, { recursive: true, force: true });
  }
  const result = {
    startedAt: new Date(started).toISOString(),
    command: `${QUICK ? "BENCH_QUICK=1 " : ""}npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    machine: info,
    settings,
    rows,
    revocation: extras.revocation,
    fullCache: extras.fullCache,
    seedSeconds: extras.seedSeconds,
    targets: targets(),
    skipped,
    notices,
    totalSeconds: elapsedMs() / 1000,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, "latest.json"), `${JSON.stringify(result, null, 2)}\n`);
  report(result);
}

main().catch((error) => {
  console.error(`bench failed: ${error.stack ?? error}`);
  if (!KEEP_WORK) rmSync(WORK_DIR, { recursive: true, force: true });
  process.exit(1);
});
