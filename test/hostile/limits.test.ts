import { connect, type Socket } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../../src/test-support/harness.js";
import { pollUntil } from "../../src/test-support/poll.js";
import { expectServing, pool, randomValidToken, rawRequest } from "./support.js";

/**
 * Resource limits and floods over real HTTP. Guarantees: oversized or pathological input
 * is refused with a 4xx before it costs much (413 for bodies, 431 for headers); floods of
 * made-up tokens neither grow memory (the verifier caches only real tokens) nor stop the
 * server; bursts and half-open connections do not take it down.
 */

const BODY_LIMIT = 4096;
let server: TestServer;
let client: Client;
let appId: string;
let token: string;
let tokenId: string;

beforeAll(async () => {
  server = await startTestServer({
    BODY_LIMIT_BYTES: String(BODY_LIMIT),
    // The flood tests send thousands of bad tokens from one address on purpose; the
    // per-address limit for them is tested where it is built, so it is out of the way here.
    BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "100000000",
    VERIFY_RATE_LIMIT_PER_MINUTE: "100000000",
  });
  ({ client } = await signUpUser(server.baseUrl));
  appId = await createApp(client);
  ({ token, id: tokenId } = await createToken(client, appId, { name: "limits" }));
});
afterAll(async () => {
  await server.close();
});

type Problem = { code: string };

describe("body size", () => {
  const big = { name: "x".repeat(BODY_LIMIT + 100) };
  it.each([
    ["sign-up", () => "/api/v1/auth/signup"],
    ["sign-in", () => "/api/v1/auth/signin"],
    ["token creation", () => `/api/v1/applications/${appId}/tokens`],
    ["application creation", () => "/api/v1/applications"],
    ["verify", () => "/api/v1/verify"],
  ])(
    "answers a body over BODY_LIMIT_BYTES on %s with 413 payload_too_large",
    async (_name, path) => {
      const res = await client.post<Problem>(path(), big);
      expect(res.status).toBe(413);
      expect(res.body.code).toBe("payload_too_large");
    },
  );

  it("answers a chunked body over the limit (no Content-Length) with 413 and keeps serving", async () => {
    const chunk = "x".repeat(1000);
    const chunks = Array.from({ length: 6 }, () => `${(1000).toString(16)}\r\n${chunk}\r\n`).join(
      "",
    );
    const res = await rawRequest(
      server.baseUrl,
      `POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks}0\r\n\r\n`,
    );
    expect(res.status).toBe(413);
    await expectServing(server.baseUrl, token);
  });

  it("answers a Content-Length of 1 GiB with 413 at once, without waiting for the body", async () => {
    const started = Date.now();
    const res = await rawRequest(
      server.baseUrl,
      `POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${2 ** 30}\r\nConnection: close\r\n\r\n{"token":"`,
      3000,
    );
    expect(res.status).toBe(413);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it.each([
    ["a negative Content-Length", "Content-Length: -1"],
    ["a non-numeric Content-Length", "Content-Length: abc"],
    ["both Content-Length and chunked", "Content-Length: 5\r\nTransfer-Encoding: chunked"],
    ["two different Content-Lengths", "Content-Length: 5\r\nContent-Length: 6"],
  ])("answers %s with 400 (no request smuggling) and keeps serving", async (_name, headers) => {
    const res = await rawRequest(
      server.baseUrl,
      `POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}\r\nConnection: close\r\n\r\n{"token":"x"}`,
    );
    expect(res.status).toBe(400);
    await expectServing(server.baseUrl, token);
  });
});

describe("pathological JSON", () => {
  it.each([
    [
      "nested 2000 arrays deep",
      () => `{"name":${"[".repeat(2000)}${"]".repeat(2000)}}`,
      400,
      "validation_failed",
    ],
    [
      "nested 1300 objects deep",
      () => `{"name":${'{"a":'.repeat(650)}1${"}".repeat(650)}}`,
      400,
      "validation_failed",
    ],
    // Over the 4 KiB body limit, so refused before it is parsed.
    [
      "with 800 keys",
      () => `{${Array.from({ length: 800 }, (_, i) => `"k${i}":1`).join(",")}}`,
      413,
      "payload_too_large",
    ],
    [
      "with a number that overflows to Infinity",
      () => '{"name":"n","expiresAt":1e309}',
      400,
      "validation_failed",
    ],
    [
      "with a 3.9 KiB name",
      () => JSON.stringify({ name: "n".repeat(3900) }),
      400,
      "validation_failed",
    ],
    ["truncated", () => '{"name":"trunc', 400, "invalid_json"],
    ["with trailing garbage", () => '{"name":"a"}garbage', 400, "invalid_json"],
    ["with single quotes", () => "{'name':'a'}", 400, "invalid_json"],
    ["with NaN", () => '{"name":NaN}', 400, "invalid_json"],
    ["that is a bare string", () => '"just a string"', 400, "validation_failed"],
    ["that is null", () => "null", 400, "validation_failed"],
    ["that is empty", () => "", 400, "invalid_json"],
  ])(
    "answers a token-creation body %s with %i %s and writes nothing",
    async (_name, body, status, code) => {
      const before = (await client.get(`/api/v1/applications/${appId}/tokens`)).text;
      const res = await client.request("POST", `/api/v1/applications/${appId}/tokens`, {
        body: body(),
        headers: { "content-type": "application/json" },
      });
      expect(res.status).toBe(status);
      expect((res.body as { code: string }).code).toBe(code);
      expect(res.text).not.toMatch(/\bat .*\.(js|ts):\d+/);
      const after = (await client.get(`/api/v1/applications/${appId}/tokens`)).text;
      expect(after.replace(/"lastUsedAt":(null|"[^"]*")/g, "")).toBe(
        before.replace(/"lastUsedAt":(null|"[^"]*")/g, ""),
      );
    },
  );

  it("refuses a name with a lone surrogate (400 validation_failed), and the listing still works afterwards", async () => {
    const res = await client.request("POST", `/api/v1/applications/${appId}/tokens`, {
      body: '{"name":"lone \\ud800 surrogate"}',
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect((res.body as { code: string }).code).toBe("validation_failed");
    const list = await client.get<{ tokens: Array<{ name: string }> }>(
      `/api/v1/applications/${appId}/tokens`,
    );
    expect(list.status).toBe(200);
  });

  it("never answers 5xx to arbitrary JSON values as a token-creation body (property-based)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.json({ maxDepth: 4 }), async (body) => {
        const res = await client.request("POST", `/api/v1/applications/${appId}/tokens`, {
          body,
          headers: { "content-type": "application/json" },
        });
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: 100 },
    );
  });
});

describe("query limits", () => {
  it.each(["0", "367", "99999999", "-1", "abc", "1e3", "1.5", ""])(
    "answers usage?days=%s with 400 validation_failed",
    async (days) => {
      const res = await client.get<Problem>(
        `/api/v1/applications/${appId}/tokens/${tokenId}/usage?days=${days}`,
      );
      expect(res.status).toBe(400);
    },
  );

  it("serves usage?days=366, the largest window, with one entry per day", async () => {
    const res = await client.get<{ daily: unknown[] }>(
      `/api/v1/applications/${appId}/tokens/${tokenId}/usage?days=366`,
    );
    expect(res.status).toBe(200);
    expect(res.body.daily).toHaveLength(366);
  });

  it("clamps the audit page size: limit=999999 returns at most one page", async () => {
    const res = await client.get<{ events: unknown[] }>(
      `/api/v1/applications/${appId}/audit?limit=999999`,
    );
    expect(res.status).toBe(200);
    expect(res.body.events.length).toBeLessThanOrEqual(200);
  });

  it("refuses unknown or malformed query parameters on listings (400)", async () => {
    expect((await client.get(`/api/v1/applications/${appId}/tokens?all=yes`)).status).toBe(400);
    expect((await client.get(`/api/v1/applications/${appId}/tokens?page=2`)).status).toBe(400);
    expect((await client.get(`/api/v1/applications/${appId}/audit?limit=-5`)).status).toBe(400);
  });
});

describe("floods", () => {
  it("answers 2000 random valid-checksum tokens with 401 and does not grow the verifier cache", async () => {
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    const entries = server.keyward.verifier.cacheEntries;
    const made = Array.from({ length: 2000 }, () => randomValidToken());
    const statuses = await pool(made, 64, async (t) => (await api.get("/api", bearer(t))).status);
    expect(statuses.filter((s) => s !== 401)).toEqual([]);
    // None of them is cached (the hot token's own entry may age out on a slow machine).
    expect(server.keyward.verifier.cacheEntries).toBeLessThanOrEqual(entries);
    await expectServing(server.baseUrl, token);
  });

  it("answers 1000 parallel requests with a live token, all 200, and keeps serving", async () => {
    const api = new Client(server.baseUrl);
    const answers = await Promise.all(
      Array.from({ length: 1000 }, () => api.get("/api", bearer(token))),
    );
    expect(answers.filter((a) => a.status !== 200).map((a) => a.status)).toEqual([]);
    await expectServing(server.baseUrl, token);
  });

  it("answers 1000 parallel mixed requests (valid, invalid, malformed, none, verify) each as it would alone", async () => {
    const api = new Client(server.baseUrl);
    // Each kind of request with the status and problem code it gets on a quiet server
    // (the verify endpoint answers 200 either way, with `valid` and a code in the body).
    const kinds: Array<[() => Promise<{ status: number; body: unknown }>, string]> = [
      [() => api.get("/api", bearer(token)), "200"],
      [() => api.get("/api", bearer(randomValidToken())), "401 invalid_token"],
      [() => api.get("/api", { authorization: `Bearer ${token} x` }), "400 invalid_request"],
      [() => api.get("/api"), "401 authentication_required"],
      [() => api.post("/api/v1/verify", { token: randomValidToken() }), "200 invalid_token"],
      [() => api.post("/api/v1/verify", { token }), "200"],
      [() => api.get("/readyz"), "200"],
    ];
    const kindOf = (i: number) => kinds[i % kinds.length] as (typeof kinds)[number];
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => kindOf(i)[0]()));
    const answered = answers.map((a) => {
      const code = (a.body as { code?: string } | undefined)?.code;
      return code === undefined ? String(a.status) : `${a.status} ${code}`;
    });
    expect(answered).toEqual(answers.map((_, i) => kindOf(i)[1]));
  });

  /** Waits until the server has accepted at least `count` open connections. */
  function serverHolds(count: number) {
    const connections = () =>
      new Promise<number>((resolve, reject) =>
        server.keyward.app.server.getConnections((error, n) =>
          error ? reject(error) : resolve(n),
        ),
      );
    return pollUntil(
      `the server to hold ${count} connections`,
      async () => (await connections()) >= count,
    );
  }

  it("keeps serving while 200 connections sit half-open with unfinished headers", async () => {
    const { port } = new URL(server.baseUrl);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        const socket = connect(Number(port), "127.0.0.1");
        socket.on("error", () => {});
        socket.write("GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ");
        sockets.push(socket);
      }
      await serverHolds(200);
      const started = Date.now();
      await expectServing(server.baseUrl, token);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it("keeps serving while 100 connections promise a body they never send", async () => {
    const { port } = new URL(server.baseUrl);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 100; i++) {
        const socket = connect(Number(port), "127.0.0.1");
        socket.on("error", () => {});
        socket.write(
          "POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{",
        );
        sockets.push(socket);
      }
      await serverHolds(100);
      await expectServing(server.baseUrl, token);
      const ok = await new Client(server.baseUrl).post("/api/v1/verify", { token });
      expect(ok.status).toBe(200);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});
