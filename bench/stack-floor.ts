// The layers under Keyward's `GET /healthz`, each measured on the server's core in rounds
// that alternate the layers (each round in reverse order of the one before), so that what
// each layer adds to a request is read from one run:
//
//   node:http            bench/bare-server.mjs: no framework, no log (case 0)
//   node:http + log line the same, writing one access line a request with Keyward's fields,
//                        built by hand (no logger), gathered by LineBatch into a real file
//   ..., POST with a body  the same answering a POST whose small JSON body it reads (its
//                        `data` events until `end`) and parses: what Node itself costs for a
//                        request body, under any framework (counted over the GET above it)
//   Fastify              Fastify 5, no logger
//   Fastify + log line   Fastify with Keyward's logger: one `request completed` line a
//                        request, gathered by LineBatch into a real file
//   ..., POST with a body  the same answering a POST with a JSON body shaped and validated
//                        as `POST /api/v1/verify`'s, through a response schema: what Fastify
//                        itself adds for a request body (counted over the GET above it)
//   ..., 100 other routes  "Fastify + log line" with 100 more routes registered, as an API
//                        has them: what `GET /healthz` pays for routes it never runs
//   Keyward              `keyward start` on a fresh SQLite store (default configuration, its
//                        log to a real file): hooks, headers, plugins, routes (counted over
//                        "..., 100 other routes")
//
//   npm run build && npx tsx bench/stack-floor.ts [rounds (default 6)] [seconds (default 3)]
//
// Prints, per layer, the median requests/s and server CPU µs per request, and each as a
// ratio to node:http. Needs wrk; pinned with taskset when there are two cores or more.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasWrk, LOAD_CPU, onCore, SERVER_CPU } from "./machine.js";
import { cpuMicrosOfPid } from "./server.js";
import { BENCH_DIR, CLI, HOST, ROOT } from "./settings.js";

const ROUNDS = Number(process.argv[2] ?? 6);
const SECONDS = Number(process.argv[3] ?? 3);
const CONNECTIONS = 16;
if (!hasWrk) throw new Error("wrk is not installed (apt-get install -y wrk)");

interface Layer {
  name: string;
  /** A JSON body to POST to /healthz instead of a GET. */
  postBody?: string;
  /** The layer whose CPU this one's "added" column is counted from (default: the one above). */
  over?: string;
  start(dir: string): Promise<Running>;
}
interface Running {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

function spawnPinned(args: string[], env: NodeJS.ProcessEnv, stdout: "pipe" | number) {
  return spawn(...onCore(SERVER_CPU, process.execPath, args), {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST, ...env },
    stdio: ["ignore", stdout, "pipe"],
  });
}

async function started(child: ChildProcess, port: () => number | undefined): Promise<Running> {
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const deadline = Date.now() + 20_000;
  let found = port();
  while (found === undefined) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`a layer did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    found = port();
  }
  if (child.pid === undefined) throw new Error("no process id");
  return {
    pid: child.pid,
    port: found,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * A server that prints `KEYWARD_BARE_PORT <port>` on standard output. `logTo` names the
 * variable that gets the path of its log file.
 */
function portPrinter(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  logTo = "KEYWARD_STACK_LOG",
): Layer {
  return {
    name,
    start: async (dir) => {
      const child = spawnPinned(
        [join(BENCH_DIR, script)],
        { ...env, [logTo]: join(dir, `${name}.log`) },
        "pipe",
      );
      let out = "";
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
      });
      return started(child, () => {
        const match = /KEYWARD_BARE_PORT (\d+)/.exec(out);
        return match ? Number(match[1]) : undefined;
      });
    },
  };
}

let keywardStarts = 0;
const keyward: Layer = {
  name: "Keyward GET /healthz",
  start: async (dir) => {
    // A log of its own each time: the port is read from its "Server listening" line.
    const log = join(dir, `keyward-${++keywardStarts}.log`);
    const child = spawnPinned(
      [CLI, "start"],
      { DATABASE_URL: `sqlite:${join(dir, "keyward.db")}`, PORT: "0" },
      openSync(log, "a"),
    );
    return started(child, () => {
      const match = /Server listening at http:\/\/[^:]+:(\d+)/.exec(readFileSync(log, "utf8"));
      return match ? Number(match[1]) : undefined;
    });
  },
};

/** The POST layers' body: `POST /api/v1/verify`'s shape. */
const VERIFY_BODY = JSON.stringify({ token: `kw_${"a".repeat(36)}` });

const LAYERS: Layer[] = [
  portPrinter("node:http", "bare-server.mjs", { KEYWARD_BARE_BODY: '{"status":"ok"}' }),
  portPrinter(
    "node:http + log line",
    "bare-server.mjs",
    { KEYWARD_BARE_BODY: '{"status":"ok"}' },
    "KEYWARD_BARE_LOG",
  ),
  {
    ...portPrinter(
      "node:http + log line, POST with a body",
      "bare-server.mjs",
      { KEYWARD_BARE_BODY: '{"status":"ok"}', KEYWARD_BARE_READ_BODY: "1" },
      "KEYWARD_BARE_LOG",
    ),
    postBody: VERIFY_BODY,
  },
  {
    ...portPrinter("Fastify", "stack-layer-server.mjs", { KEYWARD_STACK_LAYER: "fastify" }),
    over: "node:http",
  },
  portPrinter("Fastify + log line", "stack-layer-server.mjs", {
    KEYWARD_STACK_LAYER: "fastify-line",
  }),
  {
    ...portPrinter("Fastify + log line, POST with a body", "stack-layer-server.mjs", {
      KEYWARD_STACK_LAYER: "fastify-line-post",
    }),
    postBody: VERIFY_BODY,
  },
  {
    ...portPrinter("Fastify + log line, 100 other routes", "stack-layer-server.mjs", {
      KEYWARD_STACK_LAYER: "fastify-line-routes",
    }),
    over: "Fastify + log line",
  },
  { ...keyward, over: "Fastify + log line, 100 other routes" },
];

function wrk(port: number, seconds: number, postBody: string | undefined): Promise<number> {
  const args = ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`];
  // bench/fixed.lua: one fixed request, the method and body from the environment.
  if (postBody) args.push("-s", join(BENCH_DIR, "fixed.lua"));
  args.push(`http://${HOST}:${port}/healthz`);
  const env = postBody
    ? {
        ...process.env,
        KEYWARD_BENCH_DIR: BENCH_DIR,
        KEYWARD_BENCH_METHOD: "POST",
        KEYWARD_BENCH_BODY: postBody,
      }
    : process.env;
  const child = spawn(...onCore(LOAD_CPU, "wrk", args), { env });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve, reject) =>
    // Once its output is all read (see `runCommand` in wrk.ts).
    child.on("close", () => {
      const requests = /(\d+) requests in/.exec(out)?.[1];
      // A layer answering errors would be measured doing something else.
      const failed = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
      if (requests === undefined) reject(new Error(`wrk gave no result: ${out}`));
      else if (failed !== undefined) reject(new Error(`${failed} answers were not 2xx: ${out}`));
      else resolve(Number(requests));
    }),
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const m = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[m] ?? 0) : ((sorted[m - 1] ?? 0) + (sorted[m] ?? 0)) / 2;
};

const dir = mkdtempSync(join(tmpdir(), "keyward-stack-floor-"));
const results = new Map<string, { rps: number[]; cpuUs: number[] }>(
  LAYERS.map((l) => [l.name, { rps: [], cpuUs: [] }]),
);
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const layer of round % 2 === 0 ? LAYERS : [...LAYERS].reverse()) {
      const server = await layer.start(dir);
      try {
        await wrk(server.port, 1, layer.postBody); // warm-up: the JIT, the connections
        const cpuBefore = cpuMicrosOfPid(server.pid);
        const requests = await wrk(server.port, SECONDS, layer.postBody);
        const cpu = cpuMicrosOfPid(server.pid) - cpuBefore;
        const r = results.get(layer.name);
        r?.rps.push(requests / SECONDS);
        r?.cpuUs.push(cpu / requests);
        console.error(
          `round ${round + 1} ${layer.name}: ${(requests / SECONDS).toFixed(0)} req/s, ${(cpu / requests).toFixed(1)} CPU µs/req`,
        );
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const base = results.get("node:http");
const baseRps = median(base?.rps ?? []);
console.log(
  `| layer | req/s | × node:http | CPU µs/req | added CPU µs/req | over |\n| --- | --- | --- | --- | --- | --- |`,
);
const cpuOf = (name: string | undefined) => median(results.get(name ?? "")?.cpuUs ?? []);
LAYERS.forEach((layer, i) => {
  const rps = median(results.get(layer.name)?.rps ?? []);
  const cpu = cpuOf(layer.name);
  const over = i === 0 ? undefined : (layer.over ?? LAYERS[i - 1]?.name);
  const added = over === undefined ? "" : (cpu - cpuOf(over)).toFixed(1);
  console.log(
    `| ${layer.name} | ${rps.toFixed(0)} | ${(rps / baseRps).toFixed(2)} | ${cpu.toFixed(1)} | ${added} | ${over ?? ""} |`,
  );
});
