// The access log's cost per request line, in process: the `request completed` line that
// Keyward writes for every request, through its own logger options, into a real file,
// three ways: "default" (pino's default destination: one asynchronous write as soon as the
// previous one is done, every request path redacted), "sonic-32k" (SonicBoom gathering 32
// KiB itself with `minLength`, as from round two until its fourth part) and "batched" (the
// current way: LineBatch gathers 32 KiB blocks and hands each to SonicBoom once; no
// redaction walk over req/res). CPU time of the whole process, thread pool included.
//
//   npx tsx bench/log-cost.ts [lines]
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { bufferedDestination, loggerOptions, REDACTED_PATHS } from "../src/http/logging.js";

const LINES = Number(process.argv[2] ?? 200_000);
// Lines per turn of the event loop (the server wrote one block per 7 requests or so).
const EVERY = Number(process.argv[3] ?? 7);
const dir = mkdtempSync(join(tmpdir(), "keyward-log-cost-"));
const request = {
  method: "GET",
  url: "/api",
  ip: "127.0.0.1",
  headers: { authorization: "Bearer kw_x", host: "127.0.0.1" },
};
const reply = { statusCode: 200, tokenRefusal: null };

type Options = Exclude<ReturnType<typeof loggerOptions>, boolean | undefined>;
const base = loggerOptions("info", process.stdout) as Options & { stream?: unknown };
const { stream: _unused, ...options } = base;

function variant(name: string, destination: pino.DestinationStream, paths: string[]) {
  const root = pino(
    { ...(options as pino.LoggerOptions), redact: { paths, censor: "[redacted]" } },
    destination,
  );
  return { name, root, destination };
}

async function measure(v: ReturnType<typeof variant>): Promise<number> {
  const log = v.root.child({ reqId: "req-1" });
  const start = process.cpuUsage();
  for (let i = 0; i < LINES; i++) {
    log.info({ req: request, res: reply, responseTime: 0.05 }, "request completed");
    // Let the event loop turn now and then, as between requests.
    if (i % EVERY === EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise<void>((resolve) =>
    (v.destination as unknown as { flush(cb: () => void): void }).flush(resolve),
  );
  const used = process.cpuUsage(start);
  return (used.user + used.system) / LINES;
}

const OLD_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  ...REDACTED_PATHS,
];
const WAYS = ["default", "sonic-32k", "batched"] as const;
const results: Record<string, number[]> = { default: [], "sonic-32k": [], batched: [] };
function destinationFor(which: (typeof WAYS)[number], file: string) {
  if (which === "default") {
    const sink = pino.destination({ dest: file, sync: false });
    return { v: variant(which, sink, OLD_PATHS), sink };
  }
  if (which === "sonic-32k") {
    const sink = pino.destination({
      dest: file,
      sync: false,
      minLength: 32 * 1024,
      maxWrite: 64 * 1024,
      periodicFlush: 1000,
    });
    return { v: variant(which, sink, REDACTED_PATHS), sink };
  }
  const batch = bufferedDestination(file);
  return { v: variant(which, batch, REDACTED_PATHS), sink: batch.sink };
}
for (let round = 0; round < 5; round++) {
  for (const which of round % 2 === 0 ? WAYS : [...WAYS].reverse()) {
    const file = join(dir, `${which}-${round}.log`);
    const { v, sink } = destinationFor(which, file);
    await new Promise((resolve) => sink.once("ready", resolve));
    results[which]?.push(await measure(v));
    if (statSync(file).size === 0) throw new Error(`${which}: nothing written`);
  }
}
rmSync(dir, { recursive: true, force: true });
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? 0;
for (const [name, values] of Object.entries(results))
  console.log(
    `${name}: ${median(values).toFixed(2)} CPU µs per line (rounds ${values.map((v) => v.toFixed(2)).join(", ")})`,
  );
