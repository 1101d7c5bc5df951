import { connect } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createToken,
  signUpWithApp,
  startTestServer,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const server = setUpTestServer();
let token: string;
let api: Client;

beforeAll(async () => {
  const { client, appId } = await signUpWithApp(server.baseUrl);
  token = (await createToken(client, appId, { name: "protected" })).token;
  api = new Client(server.baseUrl);
});

/** Sends raw bytes, for requests fetch() will not produce (e.g. duplicate headers). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(text));
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
    });
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
  });
}

describe("GET /api header parsing (RFC 6750 and the contract)", () => {
  it.each([
    ["Bearer", (t: string) => `Bearer ${t}`],
    ["lower-case scheme", (t: string) => `bearer ${t}`],
    ["upper-case scheme", (t: string) => `BEARER ${t}`],
    ["several spaces", (t: string) => `Bearer     ${t}`],
    ["surrounding whitespace", (t: string) => `   Bearer ${t}   `],
  ])("accepts %s", async (_name, header) => {
    const res = await api.get("/api", { authorization: header(token) });
    expect(res.status).toBe(200);
    // The answer names the token's user: no cache keeps it, as no refusal is kept.
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it.each([
    ["no header", undefined],
    ["Basic scheme", "Basic dXNlcjpwYXNzd29yZA=="],
    ["a bare token without scheme", "TOKEN"],
  ])("answers %s with 401 and a challenge without error", async (_name, header) => {
    const headers: Record<string, string> =
      header === undefined ? {} : { authorization: header.replace("TOKEN", token) };
    const res = await api.get("/api", headers);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api"');
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });

  it.each([
    ["empty token", () => "Bearer "],
    ["extra words", (t: string) => `Bearer ${t} extra`],
    ["commas", (t: string) => `Bearer ${t}, Bearer ${t}`],
    ["tab separator", (t: string) => `Bearer\t${t}`],
  ])("answers %s with 400 invalid_request", async (_name, header) => {
    const res = await api.get("/api", { authorization: header(token) });
    expect(res.status).toBe(400);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api", error="invalid_request"');
    expect((res.body as { code: string }).code).toBe("invalid_request");
  });

  it("answers two Authorization headers with 400 invalid_request", async () => {
    const port = new URL(server.baseUrl).port;
    const response = await rawRequest(
      Number(port),
      `GET /api HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    );
    expect(response).toMatch(/^HTTP\/1\.1 400/);
    expect(response).toContain('error="invalid_request"');
  });

  it("never accepts a token in the query string, even with a valid header, and never logs it", async () => {
    const inQuery = await api.get(`/api?access_token=${token}`);
    expect(inQuery.status).toBe(400);
    expect(inQuery.headers.get("www-authenticate")).toContain('error="invalid_request"');
    const both = await api.get(`/api?access_token=${token}`, bearer(token));
    expect(both.status).toBe(400);
    expect(server.logs()).not.toContain(token);
  });

  it("gives one identical 401 body for every kind of invalid token", async () => {
    const flipped = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    const unknown = await (async () => {
      // A token with a valid checksum that was never issued.
      const { generateToken } = await import("../core/token.js");
      return generateToken({ bytes: (n) => new Uint8Array(n).fill(7) }, "kw");
    })();
    const answers = await Promise.all(
      [
        flipped,
        unknown,
        token.slice(0, 20),
        `${token}X`,
        "gh_abcdefghijklmnopqrstuvwxyz0123456789",
      ].map((t) => api.get("/api", bearer(t))),
    );
    for (const res of answers) {
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api", error="invalid_token"');
      expect(res.text).toBe(answers[0]?.text);
    }
  });

  it("refuses a bad checksum or wrong length before any storage lookup", async () => {
    const before = server.keyward.store.stats.secretLookups;
    const flipped = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    expect((await api.get("/api", bearer(flipped))).status).toBe(401);
    expect((await api.get("/api", bearer(token.slice(0, -2)))).status).toBe(401);
    expect(server.keyward.store.stats.secretLookups).toBe(before);
  });

  it("answers 403 insufficient_scope for a route whose scope the token lacks", async () => {
    const res = await api.get("/api/scopes/billing:read", bearer(token));
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toBe(
      'Bearer realm="api", error="insufficient_scope"',
    );
  });
});

describe("scopes", () => {
  it("allows a route when the token carries its scope", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const scoped = await createToken(client, appId, { name: "scoped", scopes: ["billing:read"] });
    const allowed = await api.get("/api/scopes/billing:read", bearer(scoped.token));
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("cache-control")).toBe("no-store");
    const refused = await api.get("/api/scopes/billing:write", bearer(scoped.token));
    expect(refused.status).toBe(403);
    expect(refused.headers.get("cache-control")).toBe("no-store");
  });
});

describe("POST /api/v1/verify", () => {
  it("answers valid with the token's identity, and one answer for every invalid token", async () => {
    const ok = await api.post<Record<string, unknown>>("/api/v1/verify", { token });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ valid: true, scopes: [], expiresAt: null });
    expect(ok.body.tokenId).toMatch(/^tok_/);
    const flipped = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    const bad = await api.post("/api/v1/verify", { token: flipped });
    const short = await api.post("/api/v1/verify", { token: "nope" });
    expect(bad.body).toEqual({ valid: false, code: "invalid_token" });
    expect(short.text).toBe(bad.text);
  });

  it("refuses a body that is not JSON or has unknown fields", async () => {
    const text = await api.request("POST", "/api/v1/verify", {
      body: token,
      headers: { "content-type": "text/plain" },
    });
    expect(text.status).toBe(415);
    expect(text.text).not.toContain(token);
    const extra = await api.post("/api/v1/verify", { token, admin: true });
    expect(extra.status).toBe(400);
    const broken = await api.request("POST", "/api/v1/verify", {
      body: `{"token": ${token}`,
      headers: { "content-type": "application/json" },
    });
    expect(broken.status).toBe(400);
    expect(broken.text).not.toContain(token);
  });
});

describe("storage unreachable", () => {
  it("answers 503 with Retry-After, never 200", async () => {
    const own = await startTestServer();
    try {
      const { client, appId } = await signUpWithApp(own.baseUrl);
      const fresh = await createToken(client, appId, { name: "down" });
      await own.keyward.store.close();
      const res = await new Client(own.baseUrl).get("/api", bearer(fresh.token));
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBeTruthy();
      expect((res.body as { code: string }).code).toBe("storage_unavailable");
      expect(res.text).not.toMatch(/at .*\.js|SQLITE|select/i);
      const ready = await new Client(own.baseUrl).get("/readyz");
      expect(ready.status).toBe(503);
    } finally {
      await own.close();
    }
  });
});

describe("access log", () => {
  it("writes one line per request, when it completes: method, path, address, status, time", async () => {
    const before = server.logs().length;
    const newLogs = () => server.logs().slice(before);
    // A token in the URL is refused (400), and the query string is not logged.
    expect((await api.get(`/api?access_token=${token}`)).status).toBe(400);
    await pollUntil("the access log line of the 400", () => newLogs().includes('"statusCode":400'));
    const lines = newLogs()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map(
        (line) =>
          JSON.parse(line) as {
            msg?: string;
            req?: { method?: string; url?: string; remoteAddress?: string };
            res?: { statusCode?: number };
            responseTime?: number;
          },
      );
    expect(lines.filter((l) => l.msg === "incoming request")).toHaveLength(0);
    const mine = lines.filter((l) => l.msg === "request completed" && l.res?.statusCode === 400);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.req).toEqual({
      method: "GET",
      url: "/api?[query redacted]",
      remoteAddress: "127.0.0.1",
    });
    expect(mine[0]?.responseTime).toBeGreaterThan(0);
    expect(server.logs()).not.toContain(token);
  });
});
