import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { onCore, SERVER_CPU } from "./machine.js";
import type { BenchRun } from "./run-state.js";
import { BENCH_DIR, CLI, HOST, RESULTS_DIR, ROOT } from "./settings.js";

/** A Keyward server process under test. */
export interface BenchServer {
  label: string;
  pid: number;
  port: number;
  baseUrl: string;
  stderr(): string;
  /** SIGTERM (SIGKILL after 15 s), resolved once the process has exited. */
  stop(): Promise<void>;
}

/**
 * One of the bench's reference servers (a script in bench/: bare `node:http`, the peer) on
 * the server's core, with `env` beside PATH and HOST. Running once it prints a line that
 * `ready` matches, whose first group is its port; the match is returned for the rest.
 */
export async function startScriptServer(
  label: string,
  script: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<BenchServer & { ready: RegExpExecArray }> {
  const child = spawn(...onCore(SERVER_CPU, process.execPath, [join(BENCH_DIR, script)]), {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
      const found = ready.exec(text);
      if (found) resolve(found);
    });
    child.on("exit", (code) => reject(new Error(`${label} exited (${code}): ${stderr}`)));
  });
  if (child.pid === undefined) throw new Error(`${label} has no process id`);
  const port = Number(match[1]);
  return {
    label,
    pid: child.pid,
    port,
    baseUrl: `http://${HOST}:${port}`,
    stderr: () => stderr,
    ready: match,
    // As BenchServer promises: SIGKILL if SIGTERM has not ended it within 15 s.
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A port on HOST that nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

function safeLabel(label: string): string {
  return label.replace(/[^a-z0-9]+/gi, "-");
}

/** The environment a benchmark server gets: defaults, except limits a load test would trip. */
function serverEnv(
  run: BenchRun,
  databaseUrl: string,
  port: number,
  extra: Record<string, string>,
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    PORT: String(port),
    HOST,
    DATABASE_URL: databaseUrl,
    USAGE_FLUSH_INTERVAL_MS: String(run.settings.flushIntervalMs),
    // One client address sends everything: per-address limits would measure 429s instead.
    VERIFY_RATE_LIMIT_PER_MINUTE: "100000000",
    BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "100000000",
    TOKEN_CREATIONS_PER_USER_PER_HOUR: "1000000",
    ...(run.options.logLevel ? { LOG_LEVEL: run.options.logLevel } : {}),
    ...extra,
  };
}

/** Starts `keyward start` on a free port (pinned to its core) and waits until it answers. */
export async function startServer(
  run: BenchRun,
  label: string,
  databaseUrl: string,
  extraEnv: Record<string, string> = {},
): Promise<BenchServer> {
  const port = await freePort();
  // Node flags for the servers, for experiments with V8's settings (docs/performance.md,
  // "How to run").
  const nodeArgs = (process.env.KEYWARD_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  if (run.settings.profile) {
    const dir = join(RESULTS_DIR, `profiles-${run.options.stamp}`, safeLabel(label));
    mkdirSync(dir, { recursive: true });
    nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
  }
  const [command, args] = onCore(SERVER_CPU, process.execPath, [...nodeArgs, CLI, "start"]);
  // Logs go to a real file in the work folder, as a deployment writes them: writing to
  // /dev/null costs the server less than a file does, and the targets are for a file.
  // It is truncated on each start and removed with the work folder.
  const logFile = openSync(join(run.options.workDir, `server-${safeLabel(label)}.log`), "w");
  const child = spawn(command, args, {
    cwd: ROOT,
    env: serverEnv(run, databaseUrl, port, extraEnv),
    stdio: ["ignore", logFile, "pipe"],
  });
  closeSync(logFile);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolveExit) =>
    child.on("exit", (code, signal) => resolveExit(code ?? signal)),
  );
  let exitCode: number | NodeJS.Signals | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  const baseUrl = `http://${HOST}:${port}`;
  const deadline = Date.now() + 60_000;
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
  if (child.pid === undefined) throw new Error(`server ${label} has no process id`);
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

/** Runs `body` against a fresh server, and stops the server whatever happens. */
export async function withServer<T>(
  run: BenchRun,
  label: string,
  databaseUrl: string,
  env: Record<string, string>,
  body: (server: BenchServer) => Promise<T>,
): Promise<T> {
  const server = await startServer(run, label, databaseUrl, env);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

/** The counters of /metrics the bench reads (NaN for one the server does not report). */
export interface ServerMetrics {
  reads: number;
  writes: number;
  cacheEntries: number;
  unflushed: number;
  flushes: number;
}

export async function readMetrics(server: BenchServer): Promise<ServerMetrics> {
  const res = await fetch(`${server.baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  const read = (name: string) =>
    Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
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
export function cpuMicros(server: BenchServer): number {
  return cpuMicrosOfPid(server.pid);
}

/** The same for any process (NaN when /proc cannot tell). */
export function cpuMicrosOfPid(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Peak RSS: VmHWM, reset before each case when the kernel lets us (clear_refs 5). */
export function resetPeakRss(server: BenchServer): boolean {
  try {
    writeFileSync(`/proc/${server.pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

export function peakRssMiB(server: BenchServer): number {
  try {
    const status = readFileSync(`/proc/${server.pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}
