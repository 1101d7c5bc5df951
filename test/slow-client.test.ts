import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { setUpTestServer } from "../src/test-support/server-fixture.js";

/**
 * Slow clients (issue "Hardening", item 8): a request that has not arrived whole 30 s after
 * it started gets 408 and its connection closes, at 30 s and not up to twice that (Node
 * checks its request timeouts on an interval; the server checks every second). The store
 * plays no part, so this runs once, on the default store.
 */

const server = setUpTestServer();

interface Outcome {
  /** Milliseconds from the first byte sent to the connection's close. */
  elapsedMs: number;
  text: string;
}

/**
 * Sends `head` at once, then one more byte of `drip` every `everyMs`, never finishing the
 * request, and resolves when the server closes the connection.
 */
function dribble(head: string, drip: string, everyMs: number): Promise<Outcome> {
  const { port } = new URL(server.baseUrl);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    const socket = connect(Number(port), "127.0.0.1", () => {
      socket.write(head);
      timer = setInterval(() => {
        if (next < drip.length && socket.writable) socket.write(drip[next++] ?? "");
      }, everyMs);
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      resolve({
        elapsedMs: performance.now() - started,
        text: Buffer.concat(chunks).toString("latin1"),
      });
    });
    // Far past the bound: the test fails on the elapsed time rather than hanging.
    setTimeout(() => {
      socket.destroy();
      reject(new Error("the server never closed the slow connection"));
    }, 70_000).unref();
  });
}

describe("slow clients", () => {
  it("get 408 problem+json 30 s after the request started, for headers and for bodies alike", async () => {
    const port = new URL(server.baseUrl).port;
    const host = `Host: 127.0.0.1:${port}\r\n`;
    const [headers, body] = await Promise.all([
      // Slowloris: headers trickle in, one byte every 2 s, never ending.
      dribble(`GET /api/v1/me HTTP/1.1\r\n${host}`, "X-Slow: ".padEnd(64, "a"), 2000),
      // A body announced at 100 bytes that arrives a byte every 2 s.
      dribble(
        `POST /api/v1/auth/signin HTTP/1.1\r\n${host}Content-Type: application/json\r\n` +
          "Content-Length: 100\r\n\r\n{",
        '"email":"slow@example.com","password":"x"'.padEnd(99, " "),
        2000,
      ),
    ]);
    for (const outcome of [headers, body]) {
      expect(outcome.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(outcome.text).toContain("application/problem+json");
      expect(outcome.text).toContain('"code":"request_timeout"');
      // 30 s, plus at most the 1 s checking interval and a scheduling margin.
      expect(outcome.elapsedMs).toBeGreaterThanOrEqual(29_500);
      expect(outcome.elapsedMs).toBeLessThan(35_000);
    }
    // And the server still serves.
    const res = await fetch(`${server.baseUrl}/healthz`);
    expect(res.status).toBe(200);
  }, 80_000);
});
