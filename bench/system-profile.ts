// Where a request's CPU goes, the kernel's share included: one server under one load,
// sampled by Linux `perf` (user and kernel stacks; Node's compiled JavaScript named through
// `--perf-basic-prof`), each sample counted to one layer, in CPU µs per request.
// `node --cpu-prof` sees only JavaScript and calls a system call's whole time by the
// JavaScript function that made it; this splits that time by what the kernel did.
//
//   npm run build && npx tsx bench/system-profile.ts <target> [seconds] [store.db] [tokens.txt]
//
//   bare     bench/bare-server.mjs answering `GET /healthz` (the bench's case 0)
//   layer    bench/stack-layer-server.mjs, the layer KEYWARD_PROFILE_LAYER names (default
//            fastify-line; its values are that script's), `GET /healthz` (for
//            fastify-line-post `POST /healthz` with a body, as bench/stack-floor.ts sends it)
//   healthz  `keyward start` on store.db, `GET /healthz` (case 1)
//   api      the same, `GET /api` with the first token of tokens.txt (case 2)
//   spread   the same, `GET /api` with tokens drawn uniformly from tokens.txt (case 3)
//   madeup   as spread, with tokens.txt a file of made-up tokens (the bench's fake-tokens.txt):
//            every answer a 401 (case 4)
//   verify   the same, `POST /api/v1/verify` with the first token of tokens.txt (case 5)
//
// KEYWARD_BENCH_NODE_ARGS="<flags>" gives the server's node more flags, as in the bench
// (--no-turbo-inlining names every function a sample is in, at some cost to what is measured).
// KEYWARD_PROFILE_STACKS=<file> keeps every sample's named stack there (perf script's text).
// store.db and tokens.txt are the bench's (`npm run bench -- --work-dir <dir>`: large.db
// and large-tokens.txt, small.db and small-tokens.txt), or a seeded PostgreSQL database's URL
// (postgres://...; bench/seed.ts). The store is used as it is, as the
// bench uses it. Needs wrk and perf (Debian: `apt-get install -y wrk linux-perf`); the
// server and wrk are pinned to cores of their own when there are two.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { hasWrk, LOAD_CPU, onCore, SERVER_CPU } from "./machine.js";
import { BENCH_DIR, CLI, HOST, ROOT } from "./settings.js";

const TARGETS = ["bare", "layer", "healthz", "api", "spread", "madeup", "verify"] as const;
const [targetArg, secondsArg, storeGiven, tokensGiven] = process.argv.slice(2);
// Both from the caller's directory (the server runs from the repository's).
// A PostgreSQL URL is used as it is (a seeded database: bench/seed.ts).
const storeIsUrl = storeGiven !== undefined && /^postgres(ql)?:\/\//.test(storeGiven);
const storeArg = storeGiven === undefined || storeIsUrl ? storeGiven : resolve(storeGiven);
const tokensArg = tokensGiven === undefined ? undefined : resolve(tokensGiven);
const target = TARGETS.find((t) => t === targetArg);
if (target === undefined)
  throw new Error(
    `usage: bench/system-profile.ts <${TARGETS.join("|")}> [seconds] [store.db] [tokens.txt]`,
  );
const SECONDS = Number(secondsArg ?? 5);
if (!(Number.isInteger(SECONDS) && SECONDS > 0))
  throw new Error(`not a number of seconds: ${secondsArg}`);
/** bench/stack-layer-server.mjs's layer for the `layer` target (KEYWARD_STACK_LAYER's values). */
const layerArg = process.env.KEYWARD_PROFILE_LAYER ?? "fastify-line";
if (target !== "bare" && target !== "layer" && storeArg === undefined)
  throw new Error(`${target} needs a store.db`);
const needsTokens =
  target === "api" || target === "spread" || target === "madeup" || target === "verify";
if (needsTokens && tokensArg === undefined) throw new Error(`${target} needs a tokens.txt`);
// A store path mistyped would have the server make a new, empty store there.
for (const file of [storeIsUrl ? undefined : storeArg, tokensArg])
  if (file !== undefined && !existsSync(file)) throw new Error(`no such file: ${file}`);
if (!hasWrk) throw new Error("wrk is not installed (apt-get install -y wrk)");
if (spawnSync("perf", ["--version"], { stdio: "ignore" }).error)
  throw new Error("perf is not installed (apt-get install -y linux-perf)");

/** Samples a second: enough for a few thousand samples in a short window. */
const FREQUENCY = 2000;
/** Load before the window: the JIT and the connections warmed, as in the bench. */
const WARM_UP_SECONDS = 3;
const CONNECTIONS = 16;
/** Where to keep every sample's named stack (`perf script`'s text), when set. */
const STACKS_FILE =
  process.env.KEYWARD_PROFILE_STACKS === undefined
    ? undefined
    : resolve(process.env.KEYWARD_PROFILE_STACKS);
/** More flags for the server's node, as the bench takes them (e.g. --no-turbo-inlining). */
const EXTRA_NODE_ARGS = (process.env.KEYWARD_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
/** Rows of the table by nearest JavaScript function. */
const TOP_FUNCTIONS = 25;

const dir = mkdtempSync(join(tmpdir(), "keyward-system-profile-"));
/** The end of the server's standard error, for the error when it does not start. */
let stderr = "";

function spawnServer(args: string[], env: NodeJS.ProcessEnv, stdout: "pipe" | number) {
  // V8 writes a log beside the map of compiled code: into the scratch folder, not the
  // working directory.
  const v8Log = [`--logfile=${join(dir, "v8.log")}`, "--no-logfile-per-isolate"];
  const node = ["--perf-basic-prof", ...v8Log, ...EXTRA_NODE_ARGS, ...args];
  const child = spawn(...onCore(SERVER_CPU, process.execPath, node), {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST, ...env },
    stdio: ["ignore", stdout, "pipe"],
  });
  // Read, so that a server writing much to it never blocks; kept for the error below.
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  return child;
}

/** Stops a server, by SIGKILL if SIGINT has not ended it within 10 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function portOf(child: ChildProcess, read: () => number | undefined): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (let port = read(); ; port = read()) {
    if (port !== undefined) return port;
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`the server did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts the target's server; `port` reads its port once it has said it. */
function spawnTarget(): { child: ChildProcess; port: () => number | undefined; done(): void } {
  if (target === "bare" || target === "layer") {
    const layerLog = join(dir, "layer.log");
    const child = spawnServer(
      [join(BENCH_DIR, target === "bare" ? "bare-server.mjs" : "stack-layer-server.mjs")],
      target === "bare"
        ? { KEYWARD_BARE_BODY: '{"status":"ok"}' }
        : { KEYWARD_STACK_LAYER: layerArg, KEYWARD_STACK_LOG: layerLog },
      "pipe",
    );
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const port = () => {
      const match = /KEYWARD_BARE_PORT (\d+)/.exec(out);
      return match ? Number(match[1]) : undefined;
    };
    return { child, port, done: () => {} };
  }
  // The bench's environment (bench/server.ts): defaults, but no per-address limit a single
  // load generator would trip; the log to a real file.
  const log = join(dir, "server.log");
  const logFd = openSync(log, "a");
  const child = spawnServer(
    [CLI, "start"],
    {
      DATABASE_URL: storeIsUrl ? `${storeArg}` : `sqlite:${storeArg}`,
      PORT: "0",
      VERIFY_RATE_LIMIT_PER_MINUTE: "100000000",
      BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "100000000",
    },
    logFd,
  );
  const port = () => {
    const match = /Server listening at http:\/\/[^:]+:(\d+)/.exec(readFileSync(log, "utf8"));
    return match ? Number(match[1]) : undefined;
  };
  return { child, port, done: () => closeSync(logFd) };
}

/** wrk runs still going, stopped if the script ends early. */
const loads = new Set<ChildProcess>();

/** Runs wrk for `seconds`; resolves with its requests per second. */
function wrk(port: number, seconds: number): Promise<number> {
  const path =
    target === "verify"
      ? "/api/v1/verify"
      : target === "api" || target === "spread" || target === "madeup"
        ? "/api"
        : "/healthz";
  const args = ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`];
  const env: NodeJS.ProcessEnv = { ...process.env, KEYWARD_BENCH_DIR: BENCH_DIR };
  if (target === "spread" || target === "madeup") {
    args.push("-s", join(BENCH_DIR, "tokens.lua"), `http://${HOST}:${port}${path}`);
    if (tokensArg !== undefined) args.push("--", tokensArg, "1");
  } else {
    args.push("-s", join(BENCH_DIR, "fixed.lua"), `http://${HOST}:${port}${path}`);
    const token = firstToken();
    if (target === "api") env.KEYWARD_BENCH_AUTHORIZATION = `Bearer ${token}`;
    if (target === "verify") {
      env.KEYWARD_BENCH_METHOD = "POST";
      env.KEYWARD_BENCH_BODY = JSON.stringify({ token });
    }
    // The POST layer answers a body shaped as the public verify's (as bench/stack-floor.ts).
    if (target === "layer" && layerArg === "fastify-line-post") {
      env.KEYWARD_BENCH_METHOD = "POST";
      env.KEYWARD_BENCH_BODY = JSON.stringify({ token: `kw_${"a".repeat(36)}` });
    }
  }
  const child = spawn(...onCore(LOAD_CPU, "wrk", args), { env });
  loads.add(child);
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve, reject) =>
    child.on("close", () => {
      loads.delete(child);
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
      const failed = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
      if (rps === undefined) reject(new Error(`wrk gave no result: ${out}`));
      else if (failed !== undefined && target !== "madeup")
        reject(new Error(`${failed} answers were not 2xx: ${out}`));
      else resolve(Number(rps));
    }),
  );
}

/** The token `api` and `verify` send: the first line of tokens.txt. */
function firstToken(): string {
  return tokensArg === undefined
    ? ""
    : (readFileSync(tokensArg, "utf8").split("\n")[0]?.trim() ?? "");
}

/**
 * One request as the load sends it, checked: a token refused would be profiled without
 * notice (the public verify answers an invalid token with 200 and `valid: false`).
 */
async function checkAnswer(port: number): Promise<void> {
  if (target === "madeup") {
    // wrk counts the answers that are not 2xx, whatever they are: the setup is checked to
    // refuse (401) a made-up token, not to fail on it.
    const answer = await fetch(`http://${HOST}:${port}/api`, {
      headers: { authorization: `Bearer ${firstToken()}` },
    });
    if (answer.status !== 401)
      throw new Error(`the first token of ${tokensArg} is not refused here: ${answer.status}`);
    return;
  }
  if (target !== "api" && target !== "verify") return;
  const token = firstToken();
  const answer =
    target === "api"
      ? await fetch(`http://${HOST}:${port}/api`, { headers: { authorization: `Bearer ${token}` } })
      : await fetch(`http://${HOST}:${port}/api/v1/verify`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token }),
        });
  const body = (await answer.json()) as { valid?: boolean };
  if (answer.status !== 200 || (target === "verify" && body.valid !== true))
    throw new Error(
      `the first token of ${tokensArg} is not valid here: ${answer.status} ${JSON.stringify(body)}`,
    );
}

/** One sample's frames, leaf first, as `perf script -F comm,tid,ip,sym` prints them. */
type Stack = string[];

function readSamples(perfData: string): Stack[] {
  const script = spawnSync("perf", ["script", "-i", perfData, "-F", "comm,tid,ip,sym"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr}`);
  // The named stacks, for questions the tables do not answer (which caller a cost is under).
  if (STACKS_FILE !== undefined) writeFileSync(STACKS_FILE, script.stdout);
  const samples: Stack[] = [];
  let frames: Stack = [];
  for (const line of script.stdout.split("\n")) {
    if (line.trim() === "") {
      if (frames.length > 0) samples.push(frames);
      frames = [];
    } else if (/^\s/.test(line)) {
      // A sample is a line naming its thread, then one indented line a frame,
      // "    7f0c1e2d3a4b name", then a blank line: the name is kept, not the address.
      frames.push(line.trim().replace(/^[0-9a-f]+\s+/, ""));
    }
  }
  if (frames.length > 0) samples.push(frames);
  return samples;
}

/** The layer a sample's time belongs to. */
function layerOf(frames: Stack): string {
  const stack = frames.join("\n");
  const inKernel = /entry_SYSCALL_64|asm_(exc|sysvec|common)_/.test(stack);
  if (inKernel) {
    // Loopback delivers a response to the load generator within the server's write, and
    // wakes it there when it sleeps (on a virtual machine, an interrupt to another CPU).
    if (stack.includes("sock_def_readable")) return "kernel: waking the load generator";
    if (/sock_write_iter|tcp_sendmsg/.test(stack)) return "kernel: socket writes";
    if (stack.includes("sys_pread64")) return "kernel: storage reads (pread)";
    if (stack.includes("sys_fcntl")) return "kernel: storage locks (fcntl)";
    if (/sys_pwrite64|sys_fsync|sys_fdatasync/.test(stack)) return "kernel: storage writes";
    if (/sock_read_iter|tcp_recvmsg/.test(stack)) return "kernel: socket reads";
    return "kernel: other (epoll, timers, faults, the log's and libuv's reads and writes)";
  }
  // The nearest JavaScript function: V8's runtime and builtins under it, and what was
  // inlined into it, count to it. Native code whose stack cannot be walked back to
  // JavaScript (no frame pointers) counts as native.
  const js = frames.find((f) => f.startsWith("JS:"));
  if (js === undefined) return "native, no JavaScript frame (V8's collector, the HTTP parser)";
  if (/ node:/.test(js)) return "Node's own JavaScript";
  // The last node_modules in the path names the package (pnpm nests them).
  const pkg = [...js.matchAll(/node_modules\/((?:@[^/]+\/)?[^/:]+)/g)].at(-1)?.[1];
  if (pkg !== undefined && pkg !== "keyward-client") return `package ${pkg}`;
  if (js.includes(`${ROOT}/dist/`) || js.includes(`${ROOT}/packages/`) || pkg === "keyward-client")
    return "Keyward";
  if (js.includes(`${ROOT}/bench/`)) return "the bench's server";
  return "other JavaScript";
}

const server = spawnTarget();
// Printed once the server is stopped and its files removed: a reader that stops reading
// early (`| head`) then cannot end the script before its clean-up.
const report: string[] = [];
try {
  const port = await portOf(server.child, server.port);
  await checkAnswer(port);
  await wrk(port, WARM_UP_SECONDS);
  const perfData = join(dir, "perf.data");
  // The load runs a second longer on each side of the sampled window.
  const load = wrk(port, SECONDS + 2);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  // The CPU clock, whatever counters the machine has: each sample is then 1/FREQUENCY s
  // of CPU. -N: no copies of the binaries into ~/.debug.
  const record = spawnSync(
    "perf",
    [
      "record",
      "-e",
      "cpu-clock",
      "-F",
      String(FREQUENCY),
      "-g",
      "-N",
      "-p",
      String(server.child.pid),
      "-o",
      perfData,
      "--",
      "sleep",
      String(SECONDS),
    ],
    { encoding: "utf8" },
  );
  if (record.status !== 0) throw new Error(`perf record failed: ${record.stderr}`);
  const rps = await load;
  const samples = readSamples(perfData);
  const requests = rps * SECONDS;
  const microsPerRequest = (count: number) => (count / FREQUENCY / requests) * 1e6;
  const layers = new Map<string, number>();
  const functions = new Map<string, number>();
  const nativeLeaves = new Map<string, number>();
  const runtimeCalls = new Map<string, number>();
  for (const frames of samples) {
    const layer = layerOf(frames);
    layers.set(layer, (layers.get(layer) ?? 0) + 1);
    const js = frames.find((f) => f.startsWith("JS:")) ?? "(no JavaScript frame)";
    functions.set(js, (functions.get(js) ?? 0) + 1);
    // V8's runtime entered from JavaScript: an inline cache that could not answer (a
    // megamorphic site, an object with a map of its own) or a slow path.
    const runtime = frames.find((f) => /^v8::internal::Runtime_\w+/.test(f));
    if (runtime !== undefined) {
      const name = /Runtime_\w+/.exec(runtime)?.[0] ?? runtime;
      runtimeCalls.set(name, (runtimeCalls.get(name) ?? 0) + 1);
    }
    if (layer.startsWith("native")) {
      const leaf = frames.slice(0, 3).join(" < ");
      nativeLeaves.set(leaf, (nativeLeaves.get(leaf) ?? 0) + 1);
    }
  }
  // With kernel symbols hidden (kptr_restrict), kernel time would pass for JavaScript.
  if (![...layers.keys()].some((layer) => layer.startsWith("kernel:")))
    throw new Error("no sample in the kernel: are kernel symbols readable (kptr_restrict)?");
  report.push(
    `${target}: ${rps.toFixed(0)} requests/s, ${samples.length} samples in ${SECONDS} s: ` +
      `${microsPerRequest(samples.length).toFixed(1)} CPU µs a request`,
  );
  /** One table of the samples counted by `key`, the largest first. */
  const table = (title: string, key: string, counts: Map<string, number>, rows = Infinity) => {
    report.push(title, `| ${key} | CPU µs a request | share |\n| --- | --- | --- |`);
    for (const [name, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, rows))
      report.push(
        `| ${name.replace(/\|/g, "\\|")} | ${microsPerRequest(count).toFixed(2)} | ${((100 * count) / samples.length).toFixed(1)} % |`,
      );
  };
  table("", "layer", layers);
  // The same samples by their nearest JavaScript function (kernel and native time under it
  // included), for finding which call a layer's time is spent under.
  table(
    `\nThe ${TOP_FUNCTIONS} nearest JavaScript functions with the most samples:`,
    "function",
    functions,
    TOP_FUNCTIONS,
  );
  table(
    "\nSamples in V8's runtime functions (under any layer above):",
    "runtime function",
    runtimeCalls,
    10,
  );
  table(
    `\nThe ${TOP_FUNCTIONS} commonest innermost frames of the native samples:`,
    "frames, innermost first",
    nativeLeaves,
    TOP_FUNCTIONS,
  );
} finally {
  for (const load of loads) load.kill("SIGKILL");
  await stop(server.child);
  server.done();
  // --perf-basic-prof's map of compiled code grows with the run.
  rmSync(`/tmp/perf-${server.child.pid}.map`, { force: true });
  rmSync(dir, { recursive: true, force: true });
}
console.log(report.join("\n"));
