import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { connect } from "node:net";
import { BASE62_ALPHABET } from "../../src/core/base62.js";
import { TOKEN_RANDOM_LENGTH, tokenChecksum } from "../../src/core/token.js";
import type { PasswordHasher } from "../../src/services/ports.js";
import { Client } from "../../src/test-support/harness.js";

/** Helpers shared by the hostile-input suite. */

export interface RawResponse {
  /** The status code of the first response line, or null when the server sent none. */
  status: number | null;
  /** Everything the server sent, read as latin1. */
  text: string;
}

/**
 * Sends bytes fetch() would never produce (duplicate, oversized or non-ASCII headers, bare
 * control characters) on a fresh connection and reads until the server closes it.
 */
export function rawRequest(
  baseUrl: string,
  request: string | Buffer,
  timeoutMs = 5000,
  /**
   * Half-close after writing. Node's server abandons a request still waiting on storage
   * once the client half-closes, so a request that needs storage is sent with
   * `Connection: close` and left open for the server to close.
   */
  halfClose = true,
): Promise<RawResponse> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), "127.0.0.1", () => {
      // The server answers only for its own host and port (421 otherwise). latin1 maps
      // every byte to one character and back, so a Buffer goes through unchanged.
      const text = typeof request === "string" ? request : request.toString("latin1");
      const bytes = Buffer.from(
        text.replace(/^Host: 127\.0\.0\.1\r\n/gm, `Host: 127.0.0.1:${port}\r\n`),
        "latin1",
      );
      if (halfClose) socket.end(bytes);
      else socket.write(bytes);
    });
    const done = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : null, text });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      done();
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", done);
    // A server that resets the connection after answering still answered.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET" || error.code === "EPIPE") done();
      else {
        clearTimeout(timer);
        reject(error);
      }
    });
  });
}

/** The `code` of the problem document in a raw answer's body, if it has one. */
export function problemCode(res: RawResponse): string | undefined {
  const body = res.text.slice(res.text.indexOf("\r\n\r\n") + 4);
  try {
    return (JSON.parse(body) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

/** A GET /api request with the given Authorization header value, as raw latin1 bytes. */
export function rawGetApi(authorization: string | Buffer, path = "/api"): Buffer {
  const value =
    typeof authorization === "string" ? Buffer.from(authorization, "latin1") : authorization;
  return Buffer.concat([
    Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: `, "latin1"),
    value,
    Buffer.from("\r\nConnection: close\r\n\r\n", "latin1"),
  ]);
}

/** The server still answers: /healthz 200, and (when given) a live token still works. */
export async function expectServing(baseUrl: string, token?: string): Promise<void> {
  const client = new Client(baseUrl);
  const health = await client.get("/healthz");
  if (health.status !== 200) throw new Error(`healthz answered ${health.status}`);
  if (token !== undefined) {
    const res = await client.get("/api", { authorization: `Bearer ${token}` });
    if (res.status !== 200) throw new Error(`a live token answered ${res.status} after the attack`);
  }
}

/** A well-formed token with a correct checksum that no server ever issued. */
export function randomValidToken(prefix = "kw"): string {
  const bytes = randomBytes(TOKEN_RANDOM_LENGTH * 2);
  let body = "";
  for (const byte of bytes) {
    if (byte >= 248) continue; // 248 = 4 * 62: no bias
    body += BASE62_ALPHABET[byte % 62];
    if (body.length === TOKEN_RANDOM_LENGTH) break;
  }
  while (body.length < TOKEN_RANDOM_LENGTH) body += "A";
  const head = `${prefix}_${body}`;
  return head + tokenChecksum(head);
}

/** The token with its character at `index` replaced by a different base62 character. */
export function flipAt(token: string, index: number): string {
  const c = token[index] ?? "";
  const replacement = c === "A" ? "B" : c === "_" ? "-" : "A";
  return token.slice(0, index) + replacement + token.slice(index + 1);
}

/** Runs `fn` over `items` with at most `limit` at a time, in order of start. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** The headers of an answer, minus those that legitimately differ between two requests. */
export function comparableHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (name === "date" || name === "keep-alive" || name === "connection") return;
    // Rate-limit counters go down with every request; they carry no token state.
    if (/^(x-)?ratelimit-/.test(name) || name === "retry-after") return;
    out[name] = value;
  });
  return out;
}

/**
 * A fast stand-in for Argon2id, for files that sign many users up and are not about
 * password storage (Argon2id's 19 MiB per hash dominates their run time on 2 cores).
 */
export const fastPasswordHasher: PasswordHasher = {
  async hash(password) {
    const salt = randomBytes(16).toString("hex");
    return `test-sha256$${salt}$${createHash("sha256")
      .update(salt + password)
      .digest("hex")}`;
  },
  async verify(stored, password) {
    const [scheme, salt, digest] = stored.split("$");
    if (scheme !== "test-sha256" || salt === undefined || digest === undefined) return false;
    const actual = createHash("sha256")
      .update(salt + password)
      .digest();
    const expected = Buffer.from(digest, "hex");
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  },
};
