import type { FastifyServerOptions } from "fastify";

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

/** The URL without its query string: a token pasted into a URL must not reach the log. */
export function pathOnly(url: string | undefined): string {
  if (!url) return "";
  const q = url.indexOf("?");
  return q === -1 ? url : `${url.slice(0, q)}?[query redacted]`;
}

export function loggerOptions(
  level: string,
  stream?: NodeJS.WritableStream,
): FastifyServerOptions["logger"] {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    serializers: {
      req(request: {
        method?: string;
        url?: string;
        ip?: string;
        socket?: { remotePort?: number };
      }) {
        return { method: request.method, url: pathOnly(request.url), remoteAddress: request.ip };
      },
    },
  };
}
