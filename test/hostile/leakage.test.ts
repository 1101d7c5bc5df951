import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/test-support/clock.js";
import {
  bearer,
  Client,
  createApp,
  createToken,
  inviteAndAccept,
  signUpUser,
  startTestServer,
  TEST_STORE,
  type TestServer,
} from "../../src/test-support/harness.js";
import { pollUntil } from "../../src/test-support/poll.js";
import { comparableHeaders, flipAt, randomValidToken, rawRequest } from "./support.js";

/**
 * Leakage. A live "canary" token is sent in every wrong way an integration or an attacker
 * might use; it must never come back in any answer (body or header), never reach the log
 * (at trace level), never appear in a listing or the audit trail, and never be written to
 * the database file. And every kind of invalid token gets one identical answer.
 */

let server: TestServer;
const clock = new ManualClock();
let owner: Client;
let appId: string;
let canary: string;
let canaryId: string;
/** Every answer the server gave in this file, for the final sweep. */
const answers: string[] = [];

/** The canary's secret part: what must not leak even without the prefix. */
const secretPart = () => canary.slice(3, 33);

function record(text: string, headers?: Headers): string {
  let all = text;
  headers?.forEach((value, name) => {
    all += `\n${name}: ${value}`;
  });
  answers.push(all);
  return all;
}

function expectClean(text: string): void {
  expect(text).not.toContain(canary);
  expect(text).not.toContain(secretPart());
}

beforeAll(async () => {
  server = await startTestServer({ LOG_LEVEL: "trace" }, { clock });
  ({ client: owner } = await signUpUser(server.baseUrl));
  appId = await createApp(owner, "Leaky");
  ({ token: canary, id: canaryId } = await createToken(owner, appId, { name: "canary" }));
});
afterAll(async () => {
  await server.close();
});

type Way = () => Promise<{ text: string; headers?: Headers }>;

const api = () => new Client(server.baseUrl);
const raw = async (request: string) => {
  const res = await rawRequest(server.baseUrl, request);
  return { text: res.text };
};

const WRONG_WAYS: Array<[string, Way]> = [
  ["in ?access_token=", () => api().get(`/api?access_token=${canary}`)],
  ["in ?token=", () => api().get(`/api?token=${canary}`)],
  ["as a path segment of the protected API", () => api().get(`/api/${canary}`)],
  ["as a scope in the path", () => api().get(`/api/scopes/${canary}`, bearer(canary))],
  ["as an application id in the path", () => owner.get(`/api/v1/applications/${canary}/tokens`)],
  [
    "as a token id in a revoke path",
    () => owner.delete(`/api/v1/applications/${appId}/tokens/${canary}`),
  ],
  [
    "as an extra body field",
    () => owner.post(`/api/v1/applications/${appId}/tokens`, { name: "x", token: canary }),
  ],
  [
    "as a JSON key",
    () => owner.post(`/api/v1/applications/${appId}/tokens`, { name: "x", [canary]: 1 }),
  ],
  ["as a JSON key in verify", () => api().post("/api/v1/verify", { [canary]: true })],
  [
    "inside malformed JSON",
    () =>
      api().request("POST", "/api/v1/verify", {
        body: `{"token":${canary}`,
        headers: { "content-type": "application/json" },
      }),
  ],
  [
    "as a text/plain body",
    () =>
      api().request("POST", "/api/v1/verify", {
        body: canary,
        headers: { "content-type": "text/plain" },
      }),
  ],
  [
    "as a form body",
    () =>
      api().request("POST", "/api/v1/verify", {
        body: `token=${canary}`,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
  ],
  [
    "in verify with an extra field",
    () => api().post("/api/v1/verify", { token: canary, extra: canary }),
  ],
  [
    "in verify as a 300-character value",
    () => api().post("/api/v1/verify", { token: canary.repeat(8) }),
  ],
  ["in verify as a number-typed field", () => api().post("/api/v1/verify", { token: [canary] })],
  [
    "in a Basic header",
    () =>
      api().get("/api", { authorization: `Basic ${Buffer.from(`${canary}:`).toString("base64")}` }),
  ],
  ["in a Basic header, unencoded", () => api().get("/api", { authorization: `Basic ${canary}` })],
  ["under the Token scheme", () => api().get("/api", { authorization: `Token ${canary}` })],
  [
    "twice in one Bearer header",
    () => api().get("/api", { authorization: `Bearer ${canary} ${canary}` }),
  ],
  ["after a tab", () => api().get("/api", { authorization: `Bearer\t${canary}` })],
  ["as a bare Authorization value", () => api().get("/api", { authorization: canary })],
  [
    "in two Authorization headers",
    () =>
      raw(
        `GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${canary}\r\nAuthorization: Bearer ${canary}\r\nConnection: close\r\n\r\n`,
      ),
  ],
  ["in X-Api-Key", () => api().get("/api", { "x-api-key": canary })],
  ["as the session cookie", () => api().get("/api/v1/me", { cookie: `keyward_session=${canary}` })],
  ["in Referer", () => api().get("/api", { referer: `https://example.com/?t=${canary}` })],
  ["in User-Agent", () => api().get("/api", { "user-agent": canary })],
  ["in X-Forwarded-For", () => api().get("/api", { "x-forwarded-for": canary })],
  ["as a header name", () => api().get("/api", { [`x-${canary.toLowerCase()}`]: "1" })],
  [
    "in the Content-Type",
    () =>
      api().request("POST", "/api/v1/verify", {
        body: "{}",
        headers: { "content-type": `application/${canary}` },
      }),
  ],
  [
    "in the Origin of a cookie write",
    () =>
      owner.request("POST", `/api/v1/applications/${appId}/tokens`, {
        body: { name: "o" },
        origin: `https://${canary}.example`,
      }),
  ],
  [
    "with a session and a bearer token on management",
    () =>
      owner.request("POST", "/api/v1/applications", {
        body: { name: "b" },
        headers: bearer(canary),
      }),
  ],
  [
    "as the sign-in password",
    () => api().post("/api/v1/auth/signin", { email: "nobody@example.com", password: canary }),
  ],
  [
    "as the sign-in email",
    () =>
      api().post("/api/v1/auth/signin", {
        email: `${canary}@example.com`,
        password: "whatever-it-is",
      }),
  ],
  [
    "as a sign-up with the token as password and too short a name",
    () => api().post("/api/v1/auth/signup", { email: "x@example.com", password: canary, name: "" }),
  ],
  [
    "in a malformed request line",
    () => raw(`GET /api?${canary} HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n`),
  ],
  [
    "in a header with a NUL byte",
    () =>
      raw(
        `GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${canary}\u0000\r\nConnection: close\r\n\r\n`,
      ),
  ],
  [
    "in an invalid header name",
    () =>
      raw(
        `GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header ${canary}: 1\r\nConnection: close\r\n\r\n`,
      ),
  ],
];

describe("a canary token sent in every wrong way", () => {
  it.each(WRONG_WAYS)("never echoes it when sent %s", async (_name, send) => {
    const res = await send();
    expectClean(record(res.text, res.headers));
  });

  it("still works afterwards (nothing above revoked or changed it)", async () => {
    expect((await api().get("/api", bearer(canary))).status).toBe(200);
  });

  it("never appears in the log, at trace level", async () => {
    // A request's log line is written as its answer goes out, so the last lines may still
    // be on their way: a marker request, answered after all of them, is awaited in the log.
    const marker = `/log-marker-${Date.now()}`;
    await api().get(marker);
    await pollUntil("the marker request in the log", () => server.logs().includes(marker));
    const logs = server.logs();
    expect(logs.length).toBeGreaterThan(1000);
    expectClean(logs);
  });

  it("never appears in the log with one of its characters percent-encoded in the path", async () => {
    const at = 20;
    const escaped = `%${canary.charCodeAt(at).toString(16).toUpperCase()}`;
    const sent = `${canary.slice(0, at)}${escaped}${canary.slice(at + 1)}`;
    expect((await api().get(`/api/x/${sent}`)).status).toBe(404);
    const marker = `/log-marker-escaped-${Date.now()}`;
    await api().get(marker);
    await pollUntil("the marker request in the log", () => server.logs().includes(marker));
    const logs = server.logs();
    expect(logs).not.toContain(sent);
    expect(logs).not.toContain(canary.slice(at + 1));
    expect(logs).not.toContain(canary.slice(3, at));
  });

  it("never appears in a listing, the token view or the audit trail", async () => {
    for (const path of [
      `/api/v1/applications/${appId}/tokens?all=1`,
      `/api/v1/applications/${appId}/tokens/${canaryId}`,
      `/api/v1/applications/${appId}/audit`,
      "/api/v1/me/audit",
      "/api/v1/me",
      "/api/v1/applications",
    ]) {
      const res = await owner.get(path);
      expect(res.status, path).toBe(200);
      expectClean(record(res.text, res.headers));
      expect(res.text).not.toMatch(/kw_[0-9A-Za-z]{36}/);
    }
  });

  it.runIf(TEST_STORE === "postgres")(
    "is never written to any PostgreSQL table (only its hash is)",
    async () => {
      if (server.config.database.kind !== "postgres")
        throw new Error("expected a PostgreSQL store");
      const client = new pg.Client({ connectionString: server.config.database.url });
      await client.connect();
      try {
        const tables = await client.query<{ tablename: string }>(
          "select tablename from pg_tables where schemaname = 'public'",
        );
        expect(tables.rows.length).toBeGreaterThan(5);
        for (const { tablename } of tables.rows) {
          const rows = await client.query<{ row: string }>(
            `select t::text as row from "${tablename}" t`,
          );
          const text = rows.rows.map((r) => r.row).join("\n");
          expect(text.includes(canary), tablename).toBe(false);
          expect(text.includes(secretPart()), tablename).toBe(false);
        }
      } finally {
        await client.end();
      }
    },
  );

  it.runIf(TEST_STORE === "sqlite")(
    "is never written to the database file (only its hash is)",
    () => {
      const files = readdirSync(server.dataDir).filter((f) => f.startsWith("keyward.db"));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const bytes = readFileSync(join(server.dataDir, file)).toString("latin1");
        expect(bytes.includes(canary), file).toBe(false);
        expect(bytes.includes(secretPart()), file).toBe(false);
      }
    },
  );

  it("is not in any answer this file received", () => {
    expect(answers.length).toBeGreaterThan(WRONG_WAYS.length);
    for (const text of answers) expectClean(text);
  });
});

describe("a leak report", () => {
  it("revokes the reported token without echoing it, logging it or storing its plaintext", async () => {
    const { token, id } = await createToken(owner, appId, { name: "reported" });
    const res = await api().post("/api/v1/leaks", { tokens: [token, randomValidToken()] });
    expect(res.status).toBe(202);
    expect(res.text).not.toContain(token);
    expect((await api().get("/api", bearer(token))).status).toBe(401);
    const view = await owner.get<{ status: string }>(`/api/v1/applications/${appId}/tokens/${id}`);
    expect(view.body.status).toBe("revoked");
    const audit = await owner.get(`/api/v1/applications/${appId}/audit?tokenId=${id}`);
    expect(audit.text).not.toContain(token);
    expect(server.logs()).not.toContain(token);
  });
});

describe("one answer for every invalid token", () => {
  /** The ways a well-formed token can be invalid, each made real on the server. */
  async function invalidTokens(): Promise<Array<[string, string]>> {
    const a = await createToken(owner, appId, { name: `revoked-${Date.now()}` });
    await owner.delete(`/api/v1/applications/${appId}/tokens/${a.id}`);
    const expiresAt = new Date(clock.now() + 60_000).toISOString();
    const b = await createToken(owner, appId, { name: `expired-${Date.now()}`, expiresAt });
    const c = await createToken(owner, appId, { name: `rotated-${Date.now()}` });
    await owner.post(`/api/v1/applications/${appId}/tokens/${c.id}/regenerate`);
    const { client: member, user } = await signUpUser(server.baseUrl);
    await inviteAndAccept(owner, appId, member, user.email, "member");
    const d = await createToken(member, appId, { name: "removed member's" });
    await owner.delete(`/api/v1/applications/${appId}/members/${user.id}`);
    const e = await createToken(owner, appId, { name: `leaked-${Date.now()}` });
    await api().post("/api/v1/leaks", { tokens: [e.token] });
    return [
      ["unknown (valid checksum)", randomValidToken()],
      ["revoked", a.token],
      ["expired", b.token],
      ["replaced by a regeneration", c.token],
      ["of a removed member", d.token],
      ["reported as leaked", e.token],
      ["with a bad checksum", flipAt(canary, canary.length - 1)],
      ["of the wrong length", canary.slice(0, -1)],
      ["of another prefix", randomValidToken("gh")],
    ];
  }

  it("answers GET /api with the same status, headers and body for each kind", async () => {
    const kinds = await invalidTokens();
    clock.advance(61_000);
    try {
      const results = [];
      for (const [kind, token] of kinds) {
        // Twice: the second answer may come from the verifier's cache.
        for (let i = 0; i < 2; i++) {
          const res = await api().get("/api", bearer(token));
          results.push({
            kind,
            status: res.status,
            headers: comparableHeaders(res.headers),
            body: res.text,
          });
        }
      }
      const [first] = results;
      for (const r of results) {
        expect({ ...r, kind: "" }, r.kind).toEqual({ ...first, kind: "" });
      }
      expect(first?.status).toBe(401);
      // The reasons are kept server-side.
      const logs = server.logs();
      for (const reason of ["unknown", "revoked", "expired", "checksum", "malformed"])
        expect(logs).toContain(`"tokenRefused":"${reason}"`);
    } finally {
      clock.advance(-61_000);
    }
  });

  it("answers POST /api/v1/verify with the same status, headers and body for each kind", async () => {
    const kinds = await invalidTokens();
    clock.advance(61_000);
    try {
      const results = [];
      for (const [kind, token] of kinds) {
        const res = await api().post("/api/v1/verify", { token });
        results.push({
          kind,
          status: res.status,
          headers: comparableHeaders(res.headers),
          body: res.text,
        });
      }
      const [first] = results;
      for (const r of results) expect({ ...r, kind: "" }, r.kind).toEqual({ ...first, kind: "" });
      expect(first?.body).toBe('{"valid":false,"code":"invalid_token"}');
    } finally {
      clock.advance(-61_000);
    }
  });
});
