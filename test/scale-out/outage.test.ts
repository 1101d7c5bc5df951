import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageUnavailableError } from "../../src/core/errors.js";
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
import {
  createTestDatabase,
  postgresAvailable,
  TEST_DATABASE_URL,
  type TestDatabase,
} from "../../src/test-support/postgres.js";
import { TcpProxy } from "./tcp-proxy.js";

const CACHE_MAX_AGE_MS = 2000;
/** Which of the 60 staggered store operations cuts the connections as it starts. */
const CUT_AT_OPERATION = 20;
const enabled = postgresAvailable();

// What a process does when PostgreSQL goes away: it fails closed (503 with Retry-After,
// never a 200 it cannot vouch for) and recovers on its own when PostgreSQL is back.
describe.skipIf(!enabled)("PostgreSQL outages", () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let server: TestServer;
  let owner: Client;
  let appId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const admin = new URL(TEST_DATABASE_URL ?? "");
    proxy = await TcpProxy.start({ host: admin.hostname, port: Number(admin.port || 5432) });
    server = await startTestServer({
      DATABASE_URL: proxy.urlFor(database.url),
      VERIFY_CACHE_MAX_AGE_MS: String(CACHE_MAX_AGE_MS),
    });
    ({ client: owner } = await signUpUser(server.baseUrl));
    appId = await createApp(owner);
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await database?.drop();
  });

  async function cachedToken(name: string) {
    const { token } = await createToken(owner, appId, { name });
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    return { token, api };
  }

  it("answers 503 with Retry-After while PostgreSQL is down, even for a cached token, and recovers", async () => {
    const { token, api } = await cachedToken("down");
    proxy.cut();
    // The listening connection is gone, so the cache can no longer be trusted: refusing is
    // the only answer that cannot be wrong.
    await pollUntil(
      "a 503 once PostgreSQL is cut",
      async () => (await api.get("/api", bearer(token))).status === 503,
      { timeoutMs: 2000 },
    );
    const refused = await api.get("/api", bearer(token));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBeTruthy();
    expect((refused.body as { code: string }).code).toBe("storage_unavailable");
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(503);
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);

    proxy.restore();
    await pollUntil(
      "a 200 once PostgreSQL is back",
      async () => (await api.get("/api", bearer(token))).status === 200,
      { timeoutMs: 10_000 },
    );
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);
    // Once the channel is back, answers are cached again.
    await pollUntil(
      "answers to be cached again",
      async () => {
        await api.get("/api", bearer(token));
        return server.keyward.verifier.cacheEntries > 0;
      },
      { timeoutMs: 10_000 },
    );
  });

  it("never answers from a cache older than the maximum age during a network partition", async () => {
    const { token, api } = await cachedToken("partitioned");
    proxy.blackhole();
    const partitioned = Date.now();
    const answers: Array<{ at: number; status: number }> = [];
    // Ask every 100 ms until the first non-200, for at most the maximum age and a margin.
    await pollUntil(
      () => `a refusal during the partition; answers: ${JSON.stringify(answers)}`,
      async () => {
        const status = (await api.get("/api", bearer(token))).status;
        answers.push({ at: Date.now() - partitioned, status });
        return status !== 200;
      },
      { timeoutMs: CACHE_MAX_AGE_MS + 500, intervalMs: 100 },
    );
    const late = answers.filter((a) => a.status === 200 && a.at > CACHE_MAX_AGE_MS);
    expect(late).toEqual([]);
    expect(answers.at(-1)?.status).toBe(503);

    proxy.restore();
    await pollUntil(
      "a 200 once the partition heals",
      async () => (await api.get("/api", bearer(token))).status === 200,
      { timeoutMs: 15_000 },
    );
  });
});

describe.skipIf(!enabled)("PostgreSQL connections reset under load", () => {
  it("fails the operations in flight with StorageUnavailableError, never crashes, and recovers", async () => {
    const { createPostgresStore } = await import("../../src/storage/postgres/postgres-store.js");
    const database = await createTestDatabase();
    const admin = new URL(TEST_DATABASE_URL ?? "");
    const proxy = await TcpProxy.start({ host: admin.hostname, port: Number(admin.port || 5432) });
    const store = await createPostgresStore({ url: proxy.urlFor(database.url) });
    try {
      const user = {
        id: "usr_1",
        email: "a@example.com",
        name: "A",
        passwordHash: "x",
        createdAt: 1,
      };
      await store.users.insertUser(user);
      await store.applications.insertApplication({
        id: "app_1",
        name: "A",
        ownerId: user.id,
        scopes: [],
        returnOrigins: [],
        branding: null,
        createdAt: 1,
      });
      // Transactions and plain reads in flight on every pooled connection when it is cut.
      // Their starts are spread over 60 ms on purpose (load shaping, not a wait): some
      // begin before the cut and some after it.
      const work = Array.from({ length: 60 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i));
        const token = {
          id: `tok_${i}`,
          applicationId: "app_1",
          userId: user.id,
          name: `t${i}`,
          hint: "h",
          scopes: [],
          createdAt: 1,
          expiresAt: null,
          secretHash: `hash${i}`,
        };
        const operations = Promise.all([
          store.tokens.insertToken(token, { maxActivePerUser: 1000, now: 1 }),
          store.tokens.findSecret(`hash${i}`),
        ]);
        // Cut once twenty operations have started, with this one just sent.
        if (i === CUT_AT_OPERATION) proxy.cut();
        return operations;
      });
      const results = await Promise.allSettled(work);
      const failures = results.filter((r) => r.status === "rejected");
      expect(failures.length).toBeGreaterThan(0);
      for (const f of failures) {
        expect((f as PromiseRejectedResult).reason).toBeInstanceOf(StorageUnavailableError);
      }
      proxy.restore();
      await pollUntil(
        "the store to answer a ping again",
        async () => {
          try {
            await store.ping();
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 10_000 },
      );
      expect(await store.users.findUserById(user.id)).toMatchObject({ id: user.id });
    } finally {
      await store.close();
      await proxy.close();
      await database.drop();
    }
  });
});
