import { spawn } from "node:child_process";
import { join } from "node:path";
import { LOAD_CPU, onCore } from "./machine.js";
import type { BenchRun } from "./run-state.js";
import type { SeededStore } from "./seeding.js";
import { type BenchServer, cpuMicros } from "./server.js";
import { BENCH_DIR, ROOT } from "./settings.js";

/** One wrk run against one case: throughput, latency, and the server's CPU per request. */
export interface WrkSlice {
  case: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Answers with a status of 400 or more. */
  refused: number;
  socketErrors: number;
  cpuUsPerRequest: number;
  /** Server CPU time over wall time: how much of its core the server used. */
  serverCpuShare: number;
}

/** The line report.lua prints when a wrk run ends. */
interface WrkReport {
  requests: number;
  durationUs: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { p50: number; p99: number; p999: number; max: number };
}

interface WrkInvocation {
  env: NodeJS.ProcessEnv;
  script: string;
  url: string;
  /** Arguments of the script's init(). */
  args: string[];
}

/** The wrk command line and environment for one case against one server. */
function wrkInvocation(
  caseNumber: number,
  server: BenchServer,
  store: SeededStore,
  runId: number,
  /** Unique to this bench invocation: a reused store (--work-dir) keeps earlier runs' tokens. */
  runStamp: string,
): WrkInvocation {
  const env = { ...process.env, KEYWARD_BENCH_DIR: BENCH_DIR };
  const fixed = join(BENCH_DIR, "fixed.lua");
  switch (caseNumber) {
    case 0:
    case 12:
      // The bare server (bench/bare.ts) and the peer (bench/peer.ts, whose store carries
      // its own key as the hot token) answer any path; the request is case 2's.
      return {
        env: { ...env, KEYWARD_BENCH_AUTHORIZATION: `Bearer ${store.hotToken}` },
        script: fixed,
        url: `${server.baseUrl}/api`,
        args: [],
      };
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
    case 14:
      return {
        env: {
          ...env,
          KEYWARD_BENCH_METHOD: "POST",
          KEYWARD_BENCH_AUTHORIZATION: `Bearer ${store.serviceKey}`,
          KEYWARD_BENCH_BODY: JSON.stringify({ token: store.hotToken }),
        },
        script: fixed,
        url: `${server.baseUrl}/api/v1/service/verify`,
        args: [],
      };
    case 6:
      return {
        env,
        script: join(BENCH_DIR, "create-token.lua"),
        url: server.baseUrl,
        // Token names must not repeat for an owner (409), across runs on one store too.
        args: [store.sessionsFile, server.baseUrl, `r${runStamp}-${runId}`],
      };
    default:
      throw new Error(`no case ${caseNumber}`);
  }
}

/** Runs a command to completion, with a time bound. */
function runCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolveRun({ code: -1, out, err: `${err}${error.message}` });
    });
    // "close", not "exit": a process's output may still be unread when it exits (seen
    // under case 13's load, as a report with nothing in it), and is all read at "close".
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? (signal ? -1 : 0), out, err });
    });
  });
}

/** Finds report.lua's line in wrk's output and checks it has every number we read. */
export function parseWrkReport(output: string): WrkReport | undefined {
  const line = /KEYWARD_BENCH (\{.*\})/.exec(output)?.[1];
  if (!line) return undefined;
  const report = JSON.parse(line) as WrkReport;
  const numbers = [
    report.requests,
    report.durationUs,
    ...Object.values(report.errors ?? {}),
    report.latencyUs?.p50,
    report.latencyUs?.p99,
    report.latencyUs?.p999,
    report.latencyUs?.max,
  ];
  if (numbers.length !== 11 || numbers.some((n) => typeof n !== "number"))
    throw new Error(`wrk's report line is not what report.lua prints: ${line}`);
  return report;
}

/** One wrk run of `seconds` against a case; returns requests/s and latency percentiles. */
export async function runSlice(
  run: BenchRun,
  caseNumber: number,
  server: BenchServer,
  store: SeededStore,
  seconds: number,
): Promise<WrkSlice> {
  const w = wrkInvocation(caseNumber, server, store, run.nextRunId(), run.options.stamp);
  const wrkArgs = [
    "-t1",
    `-c${run.settings.connections}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "-s",
    w.script,
    w.url,
    ...(w.args.length ? ["--", ...w.args] : []),
  ];
  const [command, args] = onCore(LOAD_CPU, "wrk", wrkArgs);
  const cpuBefore = cpuMicros(server);
  const r = await runCommand(command, args, w.env, seconds * 1000 + 30_000);
  const cpuUsed = cpuMicros(server) - cpuBefore;
  const s = parseWrkReport(r.out);
  if (!s) throw new Error(`wrk gave no result (${r.code}): ${r.err || r.out}`.trim());
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
