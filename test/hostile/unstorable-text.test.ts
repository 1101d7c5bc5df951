import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Client,
  createApp,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../../src/test-support/harness.js";
import {
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../../src/test-support/postgres.js";

/**
 * Text no store keeps faithfully: NUL and other control characters, and lone UTF-16
 * surrogates (valid in JSON, not in UTF-8). PostgreSQL refuses NUL in text outright, which
 * used to surface as a 500; SQLite accepted both and gave back different text than it
 * acknowledged. The guarantee: such names and emails are refused with 400 on every store,
 * and nothing answers 5xx. Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.
 */

const STORES = [
  { store: "sqlite", enabled: true },
  { store: "postgres", enabled: postgresAvailable() },
] as const;

const HOSTILE_TEXT: Array<[string, string]> = [
  ["a NUL", "nul \u0000 byte"],
  ["a lone high surrogate", "lone \ud800 surrogate"],
  ["a lone low surrogate", "lone \udc00 surrogate"],
  ["an escape (terminal injection)", "ansi \u001b[31m red"],
  ["a C1 control", "c1 \u0085 next-line"],
];

const password = "correct horse battery staple";

describe.each(STORES)("unstorable text on $store", ({ store, enabled }) => {
  let server: TestServer;
  let database: TestDatabase | undefined;
  let client: Client;
  let appId: string;

  beforeAll(async () => {
    if (!enabled) return;
    database = store === "postgres" ? await createTestDatabase() : undefined;
    server = await startTestServer(database ? { DATABASE_URL: database.url } : {});
    ({ client } = await signUpUser(server.baseUrl));
    appId = await createApp(client);
  });
  afterAll(async () => {
    if (!enabled) return;
    await server.close({ keepData: database !== undefined });
    await database?.drop();
  });

  it.skipIf(!enabled).each(HOSTILE_TEXT)(
    "refuses a token name with %s (400 validation_failed) and writes nothing",
    async (_what, text) => {
      const res = await client.post<{ code: string }>(`/api/v1/applications/${appId}/tokens`, {
        name: text,
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      const list = await client.get<{ tokens: unknown[] }>(`/api/v1/applications/${appId}/tokens`);
      expect(list.body.tokens).toEqual([]);
    },
  );

  it.skipIf(!enabled).each(HOSTILE_TEXT)(
    "refuses an application name and a display name with %s (400)",
    async (_what, text) => {
      expect((await client.post("/api/v1/applications", { name: text })).status).toBe(400);
      const signup = await new Client(server.baseUrl).post("/api/v1/auth/signup", {
        email: `u${Date.now()}${Math.random().toString(36).slice(2)}@example.com`,
        password,
        name: text,
      });
      expect(signup.status).toBe(400);
    },
  );

  it.skipIf(!enabled)("refuses a sign-up email with a NUL (400)", async () => {
    const res = await new Client(server.baseUrl).post("/api/v1/auth/signup", {
      email: "nul\u0000@example.com",
      password,
      name: "Nul",
    });
    expect(res.status).toBe(400);
  });

  // PostgreSQL refuses a NUL in text: sign-in must not look such an email up at all.
  (store === "postgres" ? it.skipIf(!enabled) : it)(
    "answers a sign-in whose email holds a NUL with the uniform 401 invalid_credentials",
    async () => {
      const res = await new Client(server.baseUrl).post<{ code: string }>("/api/v1/auth/signin", {
        email: "nul\u0000@example.com",
        password,
      });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("invalid_credentials");
    },
  );
});
