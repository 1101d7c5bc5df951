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
  adminQuery,
  createTestDatabase,
  postgresAvailable,
  TEST_DATABASE_URL,
  type TestDatabase,
} from "../../src/test-support/postgres.js";
import { requireBuild, type ServerProcess } from "../../src/test-support/process.js";
import { TcpProxy } from "../../src/test-support/tcp-proxy.js";
import { Cluster, fmt, listenerConnected, summarize } from "./cluster.js";
import { PrivatePostgres, postgresBinDir } from "./daemons.js";

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
    proxy = await TcpProxy.inFrontOf(TEST_DATABASE_URL ?? "");
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
    const proxy = await TcpProxy.inFrontOf(TEST_DATABASE_URL ?? "");
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

// Issue 18: three processes serving load when every connection of theirs is terminated
// (pg_terminate_backend), and when PostgreSQL is gone for a while (the proxy refuses).
/** A PostgreSQL for the outage tests: its database, and a way to take it away and back. */
interface OutageTarget {
  url: string;
  /** The database's name on the shared server (for pg_terminate_backend). */
  name: string;
  /** The server's URL for inspecting it, when it is not the shared test server. */
  adminUrl?: string;
  /** Makes PostgreSQL unreachable: the proxy cut, or the server stopped. */
  take(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Three processes under load through an outage of `open()`'s PostgreSQL: the tests named
 * in `tests` (terminating every connection; PostgreSQL gone and back).
 */
function outageUnderLoad(
  title: string,
  enabledHere: boolean,
  open: () => Promise<OutageTarget>,
  tests: { terminate: boolean; gone: string },
) {
  describe.skipIf(!enabledHere)(title, () => {
    const cluster = new Cluster();
    let target: OutageTarget;
    let servers: ServerProcess[];
    let owner: Client;
    let appId: string;

    beforeAll(async () => {
      requireBuild();
      target = await open();
      servers = await cluster.start(3, {
        DATABASE_URL: target.url,
        VERIFY_CACHE_MAX_AGE_MS: "5000",
        TOKEN_CREATIONS_PER_USER_PER_HOUR: "1000000",
        MAX_ACTIVE_TOKENS_PER_USER: "100000",
        VERIFY_RATE_LIMIT_PER_MINUTE: "10000000",
        BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "10000000",
      });
      ({ client: owner } = await signUpUser(servers[0]?.baseUrl ?? ""));
      appId = await createApp(owner);
    }, 60_000);
    afterAll(async () => {
      await cluster.stop();
      await target?.close();
    });

    const onServer = (i: number) => {
      const client = new Client(servers[i % servers.length]?.baseUrl ?? "");
      client.cookie = owner.cookie;
      return client;
    };

    /**
     * Load on all three processes until `stop()`: verifications of valid tokens and of
     * `revoked` (each asked of every process in turn), and token creations whose 201s are
     * kept (acknowledged writes).
     */
    function startLoad(valid: readonly string[], revoked: string) {
      let running = true;
      const statuses: Record<number, number> = {};
      const revokedAccepted: number[] = [];
      const acknowledged: string[] = [];
      let n = 0;
      const verifier = async (worker: number) => {
        while (running) {
          const i = n++;
          const api = new Client(servers[(i + worker) % servers.length]?.baseUrl ?? "");
          const token = i % 5 === 0 ? revoked : (valid[i % valid.length] ?? "");
          const status = await api
            .get("/api", bearer(token))
            .then((r) => r.status)
            .catch(() => 0);
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (token === revoked && status === 200) revokedAccepted.push(status);
        }
      };
      const writer = async () => {
        while (running) {
          const i = written++;
          const res = await onServer(i)
            .post<{ apiToken: { id: string } }>(`/api/v1/applications/${appId}/tokens`, {
              name: `load ${i}`,
            })
            .catch(() => undefined);
          if (res === undefined) continue;
          const status = res.status;
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === 201) acknowledged.push(res.body.apiToken.id);
        }
      };
      const workers = [...[0, 1, 2, 3].map(verifier), writer()];
      return {
        statuses,
        revokedAccepted,
        acknowledged,
        stop: async () => {
          running = false;
          await Promise.all(workers);
        },
      };
    }

    async function cachedEverywhere(count: number, name: string) {
      const tokens = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          createToken(owner, appId, { name: `${name} ${i}` }),
        ),
      );
      for (const t of tokens)
        for (let i = 0; i < servers.length; i++)
          expect(
            (await new Client(servers[i]?.baseUrl ?? "").get("/api", bearer(t.token))).status,
          ).toBe(200);
      return tokens;
    }

    let probes = 0;
    let written = 0;

    /** Revokes `token` and waits until every process refuses it (the bound's own window). */
    async function revokeEverywhere(token: { id: string; token: string }) {
      expect((await owner.delete(`/api/v1/applications/${appId}/tokens/${token.id}`)).status).toBe(
        204,
      );
      for (const s of servers)
        await pollUntil(
          "the revocation to reach every process",
          async () => (await new Client(s.baseUrl).get("/api", bearer(token.token))).status === 401,
          { timeoutMs: 1000, intervalMs: 5 },
        );
    }

    /** ms until every process is ready and verifies a token it has never seen (from storage). */
    async function recovery(since: number): Promise<number> {
      let last = "";
      const fresh = await pollUntil(
        () => `a token to be created after the outage (last answer: ${last})`,
        async () => {
          const res = await onServer(0)
            .post<{ token: string }>(`/api/v1/applications/${appId}/tokens`, {
              name: `probe ${probes++}`,
            })
            .catch((error: unknown) => {
              last = String(error);
              return undefined;
            });
          if (res !== undefined) last = `${res.status} ${res.text}`;
          return res?.status === 201 ? res.body.token : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 10 },
      );
      await Promise.all(
        servers.map((s) =>
          pollUntil(
            `${s.baseUrl} to recover`,
            async () =>
              (await fetch(`${s.baseUrl}/readyz`)).status === 200 &&
              (await new Client(s.baseUrl).get("/api", bearer(fresh))).status === 200 &&
              (await listenerConnected(s, target.adminUrl)),
            { timeoutMs: 15_000, intervalMs: 10 },
          ),
        ),
      );
      return performance.now() - since;
    }

    /** After recovery: revocations through one process refused by the next (ms each). */
    async function revocationTimes(trials: number): Promise<number[]> {
      const times: number[] = [];
      const tokens = await cachedEverywhere(trials, "after");
      for (const [i, t] of tokens.entries()) {
        const watcher = new Client(servers[(i + 1) % servers.length]?.baseUrl ?? "");
        expect(
          (await onServer(i).delete(`/api/v1/applications/${appId}/tokens/${t.id}`)).status,
        ).toBe(204);
        const acknowledged = performance.now();
        for (;;) {
          const status = (await watcher.get("/api", bearer(t.token))).status;
          if (status === 401) break;
          expect(status).toBe(200);
          if (performance.now() - acknowledged > 10_000) throw new Error("never refused");
        }
        times.push(performance.now() - acknowledged);
      }
      return times;
    }

    async function allAcknowledgedExist(ids: readonly string[]) {
      const missing: string[] = [];
      for (const id of ids) {
        const res = await owner.get(`/api/v1/applications/${appId}/tokens/${id}`);
        if (res.status !== 200) missing.push(`${id}: ${res.status}`);
      }
      expect(missing).toEqual([]);
    }

    it.skipIf(!tests.terminate)(
      "recovers without a restart when every connection is terminated, never accepting a revoked token",
      async () => {
        const valid = (await cachedEverywhere(10, "valid")).map((t) => t.token);
        const [revoked] = await cachedEverywhere(1, "to revoke");
        if (revoked === undefined) throw new Error("no token");
        await revokeEverywhere(revoked);
        const load = startLoad(valid, revoked.token);
        await pollUntil(
          () => `load to run: ${JSON.stringify(load.statuses)}`,
          () => load.acknowledged.length >= 1 && (load.statuses[200] ?? 0) >= 100,
          { timeoutMs: 20_000 },
        );
        const terminated = await adminQuery<{ ok: boolean }>(
          "select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
          [target.name],
        );
        const killedAt = performance.now();
        // Every process had its query connections and its LISTEN connection.
        expect(terminated.length).toBeGreaterThanOrEqual(6);
        const recoveredMs = await recovery(killedAt);
        const times = await revocationTimes(20);
        await load.stop();
        const s = summarize(times);
        console.log(
          `pg_terminate_backend of ${terminated.length} connections under load: recovered in ${fmt(recoveredMs)}; ` +
            `statuses ${JSON.stringify(load.statuses)}; revocations after: p50 ${fmt(s.p50)}, max ${fmt(s.max)}`,
        );
        expect(load.revokedAccepted).toEqual([]);
        expect(
          Object.keys(load.statuses).filter((k) => !["200", "201", "401", "503"].includes(k)),
        ).toEqual([]);
        expect(recoveredMs).toBeLessThan(10_000);
        expect(s.max).toBeLessThanOrEqual(1000);
        await allAcknowledgedExist(load.acknowledged);
      },
      90_000,
    );

    it(tests.gone, async () => {
      const valid = (await cachedEverywhere(10, "valid2")).map((t) => t.token);
      const [revoked] = await cachedEverywhere(1, "to revoke 2");
      if (revoked === undefined) throw new Error("no token");
      await revokeEverywhere(revoked);
      const load = startLoad(valid, revoked.token);
      await pollUntil(
        () => `load to run: ${JSON.stringify(load.statuses)}`,
        () => load.acknowledged.length >= 1 && (load.statuses[200] ?? 0) >= 100,
        { timeoutMs: 20_000 },
      );
      await target.take();
      const goneAt = performance.now();
      for (const s of servers)
        await pollUntil(
          `${s.baseUrl} to report not ready`,
          async () => (await fetch(`${s.baseUrl}/readyz`)).status === 503,
          { timeoutMs: 10_000 },
        );
      const notReadyMs = performance.now() - goneAt;
      // While it is gone: every verification needs storage (the channel is down), so 503.
      for (const s of servers) {
        const res = await new Client(s.baseUrl).get("/api", bearer(valid[0] ?? ""));
        expect(res.status).toBe(503);
        expect((res.body as { code: string }).code).toBe("storage_unavailable");
      }
      await target.restore();
      const backAt = performance.now();
      const recoveredMs = await recovery(backAt);
      const times = await revocationTimes(20);
      await load.stop();
      const s = summarize(times);
      console.log(
        `PostgreSQL gone under load: all three not ready after ${fmt(notReadyMs)}; recovered ${fmt(recoveredMs)} after its return; ` +
          `statuses ${JSON.stringify(load.statuses)}; revocations after: p50 ${fmt(s.p50)}, max ${fmt(s.max)}`,
      );
      expect(load.revokedAccepted).toEqual([]);
      expect(load.statuses[503] ?? 0).toBeGreaterThan(0);
      expect(
        Object.keys(load.statuses).filter((k) => !["200", "201", "401", "503"].includes(k)),
      ).toEqual([]);
      expect(recoveredMs).toBeLessThan(10_000);
      expect(s.max).toBeLessThanOrEqual(1000);
      await allAcknowledgedExist(load.acknowledged);
    }, 90_000);
  });
}

outageUnderLoad(
  "three processes through a PostgreSQL outage under load",
  enabled,
  async () => {
    const database = await createTestDatabase({ durable: true });
    const proxy = await TcpProxy.inFrontOf(TEST_DATABASE_URL ?? "");
    return {
      url: proxy.urlFor(database.url),
      name: database.name,
      take: async () => proxy.cut(),
      restore: async () => proxy.restore(),
      close: async () => {
        await proxy.close();
        await database.drop();
      },
    };
  },
  {
    terminate: true,
    gone: "answers 503 and is not ready while PostgreSQL is gone, then recovers by itself",
  },
);

// The same through a real restart (`pg_ctl stop -m fast`, then start), of a PostgreSQL
// this test runs itself: the shared server must stay up for everything else.
const postgresBin = postgresBinDir();
if (postgresBin === undefined)
  console.warn(
    "PostgreSQL restart under load: SKIPPED, the PostgreSQL server programs are not installed (Debian package postgresql)",
  );
outageUnderLoad(
  "three processes through a restart of PostgreSQL under load",
  postgresBin !== undefined,
  async () => {
    const server = await PrivatePostgres.start(postgresBin ?? "");
    return {
      url: server.url(),
      name: "postgres",
      adminUrl: server.url(),
      take: () => server.stopServer(),
      restore: () => server.startServer(),
      close: () => server.close(),
    };
  },
  {
    terminate: false,
    gone: "answers 503 and is not ready while PostgreSQL restarts, then recovers by itself",
  },
);
