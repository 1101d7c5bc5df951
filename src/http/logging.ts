import {
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from "fastify";
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

/** Header values that carry credentials, removed from every log line. */
export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
  'headers["set-cookie"]',
  "token",
  "password",
];

// Long runs of token characters: a token is 36+ of them after its prefix, our ids are
// 20, so nothing a route needs is hidden.
const SECRET_LIKE = /[A-Za-z0-9_]{30,}/g;

/**
 * The URL as logged: no query string, and nothing token-shaped in the path, because
 * a token pasted into a URL must not reach the log.
 */
export function loggableUrl(url: string | undefined): string {
  if (!url) return "";
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

export function loggerOptions(
  level: string,
  stream?: NodeJS.WritableStream,
  format: LogFormat = "json",
  colorize = true,
): FastifyServerOptions["logger"] {
  const destination =
    format === "pretty" ? prettyStream(stream ?? 1, colorize) : (stream ?? undefined);
  return {
    level,
    ...(destination ? { stream: destination } : {}),
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
