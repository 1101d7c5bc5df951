import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
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
import { Cluster, fmt, summarize } from "./cluster.js";
import { type Daemon, missingPrograms, PGBOUNCER, startPgBouncer } from "./daemons.js";

const CACHE_MAX_AGE_MS = 5000;
const TRIALS = 100;
const enabled =
  postgresAvailable() && missingPrograms("PgBouncer scale-out tests", [PGBOUNCER]).length === 0;

// Keyward through PgBouncer in transaction pooling mode (Debian's 1.18: no protocol-level
// prepared statements, statement_timeout refused as a startup parameter): queries go
// through the pooler, LISTEN and migrations over DATABASE_LISTEN_URL, straight to PostgreSQL.
describe.skipIf(!enabled)("through PgBouncer in transaction mode", () => {
  const cluster = new Cluster();
  let database: TestDatabase;
  let pgbouncer: Daemon;
  let servers: ServerProcess[];
  let owner: Client;
  let appId: string;
  let pooledUrl: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    requireBuild();
    database = await createTestDatabase({ durable: true });
    const admin = new URL(TEST_DATABASE_URL ?? "");
    pgbouncer = await startPgBouncer({
      target: {
        host: admin.hostname,
        port: Number(admin.port || 5432),
        user: decodeURIComponent(admin.username || "postgres"),
      },
    });
    pooledUrl = pgbouncer.urlFor(database.url);
    // What docs/deployment.md asks operators to do: the statement timeout set on the
    // database (or role), since PgBouncer does not pass the startup parameter on.
    await adminQuery(`alter database "${database.name}" set statement_timeout = 5000`);
    env = {
      DATABASE_URL: pooledUrl,
      DATABASE_LISTEN_URL: database.url,
      DATABASE_PREPARED_STATEMENTS: "false",
      VERIFY_CACHE_MAX_AGE_MS: String(CACHE_MAX_AGE_MS),
      TOKEN_CREATIONS_PER_USER_PER_HOUR: "1000000",
      MAX_ACTIVE_TOKENS_PER_USER: "10000",
      BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "1000000",
      VERIFY_RATE_LIMIT_PER_MINUTE: "10000000",
    };
    // Started together on an empty database: the migration lock runs over the direct URL.
    servers = await cluster.start(3, env);
    ({ client: owner } = await signUpUser(servers[0]?.baseUrl ?? ""));
    appId = await createApp(owner);
  }, 90_000);
  afterAll(async () => {
    await cluster.stop();
    await pgbouncer?.close();
    await database?.drop();
  });

  const server = (i: number) => {
    const s = servers[i];
    if (s === undefined) throw new Error(`no server ${i}`);
    return s;
  };

  it("migrated once and keeps its LISTEN connection out of the pool", async () => {
    for (const s of servers) expect(s.output()).not.toMatch(/"level":(50|60)/);
    // The statement timeout reaches PostgreSQL (from the database setting): no warning.
    for (const s of servers) expect(s.output()).not.toContain("no statement timeout");
    // Each process's LISTEN connection is its own session on PostgreSQL, named by its pid
    // (the test below shows that it is what carries the notifications).
    const listeners = await adminQuery<{ application_name: string }>(
      "select application_name from pg_stat_activity where datname = $1 and application_name like 'keyward-listener:%'",
      [database.name],
    );
    const names = listeners.map((r) => r.application_name).sort();
    expect(names).toEqual(servers.map((s) => `keyward-listener:${s.child.pid}`).sort());
  });

  it("answers 200 parallel verifications spread over three processes, none 500", async () => {
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => createToken(owner, appId, { name: `burst ${i}` })),
    );
    const statuses = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const token = tokens[i % tokens.length];
        const api = new Client(server(i % 3).baseUrl);
        return (await api.get("/api", bearer(token?.token ?? ""))).status;
      }),
    );
    const counts: Record<number, number> = {};
    for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
    expect(counts).toEqual({ 200: 200 });
  });

  it(`refuses a token revoked on one process within 100 ms on another (p99 over ${TRIALS})`, async () => {
    const tokens: Array<{ id: string; token: string }> = [];
    for (let i = 0; i < TRIALS; i += 10) {
      tokens.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, j) => createToken(owner, appId, { name: `r${i + j}` })),
        )),
      );
    }
    const times: number[] = [];
    for (const [i, token] of tokens.entries()) {
      // Revoked through one process, watched on the next.
      const revoker = new Client(server(i % 3).baseUrl);
      revoker.cookie = owner.cookie;
      const watcher = new Client(server((i + 1) % 3).baseUrl);
      expect((await watcher.get("/api", bearer(token.token))).status).toBe(200);
      expect((await watcher.get("/api", bearer(token.token))).status).toBe(200);
      const revoked = await revoker.delete(`/api/v1/applications/${appId}/tokens/${token.id}`);
      expect(revoked.status).toBe(204);
      const acknowledged = performance.now();
      for (;;) {
        const res = await watcher.get("/api", bearer(token.token));
        if (res.status === 401) break;
        expect(res.status).toBe(200);
        if (performance.now() - acknowledged > 2 * CACHE_MAX_AGE_MS) throw new Error("never");
      }
      times.push(performance.now() - acknowledged);
    }
    const s = summarize(times);
    console.log(
      `through PgBouncer (transaction mode), revocation reached another process: p50 ${fmt(s.p50)}, p99 ${fmt(s.p99)}, max ${fmt(s.max)} over ${TRIALS} trials`,
    );
    expect(s.p99).toBeLessThanOrEqual(100);
    expect(s.max).toBeLessThanOrEqual(1000);
  }, 120_000);

  it("without DATABASE_LISTEN_URL, LISTEN through the pooler hears nothing: only the cache age bounds staleness", async () => {
    // The control for the test above: the direct connection is what makes it fast.
    const { DATABASE_LISTEN_URL: _, ...withoutListenUrl } = env;
    const [deaf] = await cluster.start(1, withoutListenUrl);
    if (deaf === undefined) throw new Error("no process");
    const token = await createToken(owner, appId, { name: "deaf" });
    const api = new Client(deaf.baseUrl);
    expect((await api.get("/api", bearer(token.token))).status).toBe(200);
    expect((await api.get("/api", bearer(token.token))).status).toBe(200);
    expect((await owner.delete(`/api/v1/applications/${appId}/tokens/${token.id}`)).status).toBe(
      204,
    );
    const acknowledged = performance.now();
    await pollUntil(
      "the deaf process to refuse the revoked token",
      async () => (await api.get("/api", bearer(token.token))).status === 401,
      { timeoutMs: 2 * CACHE_MAX_AGE_MS },
    );
    const elapsed = performance.now() - acknowledged;
    console.log(`without DATABASE_LISTEN_URL: refused after ${fmt(elapsed)}`);
    expect(elapsed).toBeGreaterThan(1000);
    await deaf.stop();
  }, 30_000);

  it("with named prepared statements left on, the pooler's errors answer 503, never 500", async () => {
    const [prepared] = await cluster.start(1, { ...env, DATABASE_PREPARED_STATEMENTS: "true" });
    if (prepared === undefined) throw new Error("no process");
    // Invalid tokens of the right shape: each one is a cache miss, so a lookup.
    const tokens = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createToken(owner, appId, { name: `prep ${i}` })),
    );
    const api = new Client(prepared.baseUrl);
    const statuses = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const token = tokens[i % tokens.length]?.token ?? "";
        // A different secret each time: never cached, always a lookup.
        const altered = `${token.slice(0, -6)}${String(i).padStart(6, "0")}`;
        const res = await api.get("/api", bearer(i % 2 === 0 ? token : altered));
        return res.status;
      }),
    );
    // Whether the pooler mixes up the statement in a given run depends on timing (0 to 15
    // of 200 in runs here); when it does, the answer is 503. The mapping of its error
    // codes is checked on its own in postgres-store.test.ts.
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    const failed = statuses.filter((s) => s === 503).length;
    console.log(
      `prepared statements on through PgBouncer transaction mode: ${failed}/200 answered 503`,
    );
    await prepared.stop();
  }, 30_000);

  it("answers 503 storage_unavailable while PgBouncer is down, and recovers when it is back", async () => {
    const api = new Client(server(0).baseUrl);
    const fresh = await createToken(owner, appId, { name: "while down" });
    const cached = await createToken(owner, appId, { name: "cached" });
    expect((await api.get("/api", bearer(cached.token))).status).toBe(200);
    await pgbouncer.stop();
    // The direct LISTEN connection is up, so the cache is still trusted: a token verified
    // a moment ago is still answered from memory.
    expect((await api.get("/api", bearer(cached.token))).status).toBe(200);
    // An uncached token needs storage: 503, with Retry-After; never 500, never 200.
    const res = await api.get("/api", bearer(fresh.token));
    expect(res.status).toBe(503);
    expect((res.body as { code: string }).code).toBe("storage_unavailable");
    expect(res.headers.get("retry-after")).toBeTruthy();
    expect((await fetch(`${server(0).baseUrl}/readyz`)).status).toBe(503);
    await pgbouncer.run();
    await pollUntil(
      "a 200 once PgBouncer is back",
      async () => (await api.get("/api", bearer(fresh.token))).status === 200,
      { timeoutMs: 10_000 },
    );
    expect((await fetch(`${server(0).baseUrl}/readyz`)).status).toBe(200);
  }, 30_000);

  it("finds where the statement timeout is enforced: startup parameter, server setting, or only the client", async () => {
    // Eight connections, two of them the lookups' own: through the pooler they must open
    // too, without the startup option PgBouncer refuses.
    const open = (url: string) => createPostgresStore({ url, poolSize: 8, queryTimeoutMs: 4000 });
    const direct = await open(database.url);
    expect(direct.statementTimeout).toEqual({ enforcedBy: "startup", valueMs: 4000 });
    expect(direct.lookupPlanCacheMode).toBe("force_generic_plan");
    await direct.close();
    const pooled = await open(pooledUrl);
    // PgBouncer refused the startup parameter; the database's own setting applies.
    expect(pooled.statementTimeout).toEqual({ enforcedBy: "server", valueMs: 5000 });
    // The lookup connections opened without their option: the server's default.
    expect(pooled.lookupPlanCacheMode).toBe("auto");
    await pooled.close();
    await adminQuery(`alter database "${database.name}" reset statement_timeout`);
    try {
      // PgBouncer keeps server connections: a new pool's RESET shows on fresh ones only.
      await adminQuery(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name not like 'keyward-listener:%'",
        [database.name],
      );
      const bare = await open(pooledUrl);
      expect(bare.statementTimeout).toEqual({ enforcedBy: "client-only", valueMs: 0 });
      await bare.close();
    } finally {
      await adminQuery(`alter database "${database.name}" set statement_timeout = 5000`);
    }
  });
});
