import { writeSync } from "node:fs";
import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from "fastify";
import { pino } from "pino";
import pinoPretty from "pino-pretty";

/** Why a presented token was refused: kept server-side, never in the answer. */
export interface TokenRefusal {
  reason: string;
  tokenId: string | undefined;
}

declare module "fastify" {
  interface FastifyReply {
    /**
     * Set when this request's token was refused. It rides on the `request completed` line
     * instead of a line of its own: under a flood of made-up tokens a third log line per
     * request was a fifth of the server's CPU.
     */
    tokenRefusal: TokenRefusal | null;
  }
}

/**
 * Header values that carry credentials, removed from every log line. A logged `req` or
 * `res` never carries headers (the serializers below keep only what they name, and pino
 * runs a key's serializer before its redaction), so no `req.headers...` path is listed:
 * each listed path under `req` or `res` made pino clone and walk that object on every
 * request line for nothing, a tenth of the line's cost (docs/performance.md).
 */
export const REDACTED_PATHS = [
  "headers.authorization",
  "headers.cookie",
  'headers["set-cookie"]',
  "token",
  "password",
];

// Long runs of token characters: a token is 36+ of them after its prefix, our ids are
// 20, so nothing a route needs is hidden. A percent-escape counts as one of them: a
// token with one character escaped (%58 for X) is still a token to whoever decodes it.
const SECRET_LIKE = /(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}){30,}/g;

/** The scheme and authority of a request target in absolute form. */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The URL as logged: no query string, and nothing token-shaped in the path, because
 * a token pasted into a URL must not reach the log.
 */
export function loggableUrl(target: string | undefined): string {
  if (!target) return "";
  // A request in absolute form (`http://user:pw@host/path`): its path only, never what
  // its authority may carry.
  const url = target.charCodeAt(0) === 47 /* "/" */ ? target : target.replace(ABSOLUTE_FORM, "");
  const q = url.indexOf("?");
  let path = (q === -1 ? url : url.slice(0, q)).replace(SECRET_LIKE, "[redacted]");
  // A portal link's code is a credential whatever its length.
  if (path.startsWith("/portal/")) path = "/portal/[redacted]";
  return q === -1 ? path : `${path}?[query redacted]`;
}

/** JSON lines for machines, or one coloured line per event for people at a terminal. */
export type LogFormat = "json" | "pretty";

/**
 * Pretty lines: time, level, then for a request its method, path (already made loggable),
 * status and time. Redaction runs in pino before a line reaches this stream, so a pretty
 * line hides exactly what a JSON line hides.
 */
export function prettyStream(destination: NodeJS.WritableStream | number, colorize: boolean) {
  return pinoPretty({
    destination,
    colorize,
    // Written as it comes, like the JSON lines: nothing is lost when the process exits.
    sync: true,
    singleLine: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,req,res,responseTime,reqId",
    messageFormat:
      "{if req.method}{req.method} {req.url} {res.statusCode} {responseTime}ms {end}" +
      "{if res.tokenRefused}token refused ({res.tokenRefused}) {end}{msg}",
  });
}

/**
 * At most this long between a JSON line being logged and its reaching the file or pipe:
 * a process killed with SIGKILL (which no code can catch) loses at most the lines of the
 * last interval. Every other end writes them all (flushLogSync).
 */
export const LOG_FLUSH_INTERVAL_MS = 1000;

/** How long a synchronous write waits for a full pipe (EAGAIN) to drain before giving up. */
const BLOCKED_WRITE_GIVE_UP_MS = 1000;

/** Writes all of `text` to `fd` before returning, waiting out a full non-blocking pipe. */
function writeAllSync(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  let offset = 0;
  let waitedMs = 0;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== "EAGAIN" && code !== "EBUSY") || waitedMs >= BLOCKED_WRITE_GIVE_UP_MS)
        throw error;
      // The reader has not caught up: wait for it without returning to the event loop.
      Atomics.wait(pause, 0, 0, 10);
      waitedMs += 10;
    }
  }
}

/** How much of the access log is gathered before it is handed on to be written. */
export const LOG_BLOCK_LENGTH = 32 * 1024;

type SonicBoom = ReturnType<typeof pino.destination>;

/** Every batch not yet ended, written out when the process exits however it exits. */
const openBatches = new Set<LineBatch>();
let exitHookInstalled = false;

function writeOpenBatchesOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    // flushSync never throws: one batch's trouble cannot keep another's lines unwritten.
    for (const batch of openBatches) batch.flushSync();
  });
}

/**
 * Log lines gathered in memory and handed to SonicBoom (pino's destination, which does
 * the writing, retries and partial writes) as one string per LOG_BLOCK_LENGTH, and at the
 * latest every interval. SonicBoom's own gathering (`minLength`) is not used: its write()
 * measures the UTF-8 length of the block it appends to on every line (sonic-boom 4.2.1),
 * which flattens and scans up to a whole block per line; at 30,000 lines a second that was
 * 5-10 µs of CPU per request (docs/performance.md, "Round two, fourth part"). Here a line
 * costs an array push, and SonicBoom measures each block once.
 */
export class LineBatch {
  private lines: string[] = [];
  private gathered = 0;
  private readonly timer: NodeJS.Timeout;
  private ended = false;
  private destroyed = false;

  constructor(
    /** Where the blocks go: written asynchronously, one write per block. */
    readonly sink: SonicBoom,
    private readonly blockLength = LOG_BLOCK_LENGTH,
    flushEveryMs = LOG_FLUSH_INTERVAL_MS,
  ) {
    this.timer = setInterval(() => this.handOn(), flushEveryMs);
    // A quiet log must not keep the process alive; the exit hook writes what is left.
    this.timer.unref();
    openBatches.add(this);
    writeOpenBatchesOnExit();
  }

  write(line: string): boolean {
    if (this.ended) return false;
    this.lines.push(line);
    // UTF-16 units, not bytes: only a threshold, and a line is almost always ASCII.
    this.gathered += line.length;
    if (this.gathered >= this.blockLength) this.handOn();
    return true;
  }

  /**
   * Hands what is gathered on now, to be written without waiting. `done` is called once
   * SonicBoom has taken it, which may be before its write has finished.
   */
  flush(done?: (error?: Error) => void): void {
    this.handOn();
    if (this.sinkClosed()) done?.();
    else this.sink.flush(done);
  }

  /**
   * Writes everything gathered before returning: shutdown, a fatal error, process exit.
   * What SonicBoom holds is written by its own flushSync; what is gathered here is written
   * directly, because handing it on would start an asynchronous write that a process about
   * to exit may never finish (on a full pipe its retry is a timer). Never throws.
   */
  flushSync(): void {
    if (this.destroyed) return;
    const block = this.take();
    if (this.sinkClosed()) return;
    try {
      this.sink.flushSync();
    } catch {
      // Not open yet: the block below is queued behind the opening instead.
    }
    if (block === "") return;
    const fd = (this.sink as unknown as { fd: number }).fd;
    try {
      if (fd < 0) this.sink.write(block);
      else writeAllSync(fd, block);
    } catch {
      // Closed underneath us, or the disk refuses: nothing more can be done on the way out.
    }
  }

  destroy(): void {
    this.destroyed = true;
    this.stop();
    this.lines = [];
    this.gathered = 0;
    this.sink.destroy();
  }

  private stop(): void {
    this.ended = true;
    clearInterval(this.timer);
    openBatches.delete(this);
  }

  /** The gathered lines as one string, and nothing gathered any more. */
  private take(): string {
    if (this.lines.length === 0) return "";
    const block = this.lines.join("");
    this.lines = [];
    this.gathered = 0;
    return block;
  }

  /** Ended or destroyed underneath us (pino ends it before a natural exit): it refuses writes. */
  private sinkClosed(): boolean {
    return (this.sink as unknown as { destroyed: boolean }).destroyed === true;
  }

  private handOn(): void {
    if (this.destroyed || this.lines.length === 0 || this.sinkClosed()) return;
    this.sink.write(this.take());
  }
}

/**
 * Where JSON lines go when no stream is given: standard output, gathered in memory
 * (LineBatch) and written asynchronously (off the event loop, in libuv's thread pool) once
 * 32 KiB have gathered, and at the latest every LOG_FLUSH_INTERVAL_MS. A synchronous write
 * per line was the largest single cost of answering a request with the access log on (one
 * write system call per request; docs/performance.md, "Round two"). What is gathered is
 * written synchronously when the process exits, whether by process.exit or an uncaught
 * error.
 */
export function bufferedDestination(
  dest: number | string = 1,
  flushEveryMs = LOG_FLUSH_INTERVAL_MS,
): LineBatch {
  // Each block is written as soon as it is handed on (minLength 0), in one write.
  const sink = pino.destination({ dest, sync: false, maxWrite: 2 * LOG_BLOCK_LENGTH });
  return new LineBatch(sink, LOG_BLOCK_LENGTH, flushEveryMs);
}

/**
 * Writes every buffered line now, synchronously: on shutdown and on a fatal error, before
 * the process exits. Does nothing for a logger whose stream does not buffer.
 */
export function flushLogSync(log: FastifyBaseLogger): void {
  const stream = (log as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[
    pino.symbols.streamSym
  ];
  if (typeof stream?.flushSync !== "function") return;
  try {
    stream.flushSync();
  } catch {
    // Not open yet, or already closed: nothing was buffered that can still be written.
  }
}

/** The same without waiting: the interval's flush, brought forward (after listening). */
export function flushLog(log: FastifyBaseLogger): void {
  const flush = (log as unknown as { flush?: (cb?: (error?: Error) => void) => void }).flush;
  flush?.call(log, () => {});
}

export function loggerOptions(
  level: string,
  stream?: NodeJS.WritableStream,
  format: LogFormat = "json",
  colorize = true,
): FastifyServerOptions["logger"] {
  // Pretty lines are for a person at a terminal, who wants each line as it happens; JSON
  // lines without a stream of the caller's are the production access log, buffered.
  const destination =
    format === "pretty" ? prettyStream(stream ?? 1, colorize) : (stream ?? bufferedDestination());
  return {
    level,
    stream: destination,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    serializers: {
      req(request: {
        method?: string;
        url?: string;
        ip?: string;
        socket?: { remotePort?: number };
      }) {
        return { method: request.method, url: loggableUrl(request.url), remoteAddress: request.ip };
      },
      res(reply: { statusCode: number; tokenRefusal?: TokenRefusal | null }) {
        const refusal = reply.tokenRefusal;
        if (refusal == null) return { statusCode: reply.statusCode };
        if (refusal.tokenId === undefined) {
          return { statusCode: reply.statusCode, tokenRefused: refusal.reason };
        }
        return {
          statusCode: reply.statusCode,
          tokenRefused: refusal.reason,
          tokenId: refusal.tokenId,
        };
      },
    },
  };
}

/**
 * One `request completed` line per request, with the method, path (no query string),
 * client address, status and time, written when the answer has been sent. Fastify's
 * default adds an `incoming request` line as well, and a pino line is a noticeable share
 * of the CPU that answering `GET /healthz` takes (docs/performance.md). That line still
 * helps to find a request that never completes, so it is written at `debug`.
 */
export class AccessLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.debug({ req: request }, "incoming request");
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    const line = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, "request errored");
    else reply.log.info(line, "request completed");
  }
}
