import { Kysely, Migrator, PostgresDialect } from "kysely";
import { type Client as PgClient, Pool } from "pg";
import { parse as parseConnectionString } from "pg-connection-string";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageUnavailableError } from "../../core/errors.js";
import { insertOwnedTokens } from "../../test-support/owned-tokens.js";
import {
  adminQuery,
  createTestDatabase,
  databaseUrl,
  postgresAvailable,
  type TestDatabase,
} from "../../test-support/postgres.js";
import { defineStoreContract } from "../../test-support/store-contract.js";
import { MIGRATION_LOCK_TABLE, MIGRATION_TABLE, migrateToLatest } from "../migrate.js";
import { migrations } from "../migrations/index.js";
import {
  createPostgresStore,
  isPostgresUnavailable,
  type PostgresStoreOptions,
  splitPool,
  withStartupOptions,
} from "./postgres-store.js";

const enabled = postgresAvailable();
let database: TestDatabase | undefined;

beforeAll(async () => {
  if (!enabled) return;
  database = await createTestDatabase();
  // Migrate once; each test then starts from emptied tables, which is far faster than
  // creating a database per test.
  await (await createPostgresStore({ url: database.url })).close();
});
afterAll(async () => {
  await database?.drop();
});

async function openEmptyStore() {
  if (!database) throw new Error("no test database");
  const store = await createPostgresStore({ url: database.url });
  await store.ping();
  const { Client } = await import("pg");
  const client = new Client({ connectionString: database.url });
  await client.connect();
  try {
    const tables = await client.query<{ tablename: string }>(
      "select tablename from pg_tables where schemaname = 'public' and tablename not like 'keyward\\_migration%'",
    );
    // DELETE on a few rows is much faster than TRUNCATE: children first, tables this list
    // does not know (added by later migrations) before the ones it does.
    const known = [
      "token_usage_daily",
      "token_secrets",
      "tokens",
      "memberships",
      "applications",
      "sessions",
      "users",
    ];
    const names = tables.rows.map((r) => r.tablename);
    const ordered = [...names.filter((t) => !known.includes(t)), ...known];
    try {
      for (const table of ordered) await client.query(`delete from "${table}"`);
    } catch {
      await client.query(`truncate ${names.map((t) => `"${t}"`).join(", ")} cascade`);
    }
  } finally {
    await client.end();
  }
  return store;
}

defineStoreContract("PostgreSQL", openEmptyStore, { skip: !enabled });

/**
 * How many connections to the test database wait on a lock, as the server sees it. (With
 * pg_stat_clear_snapshot: inside a transaction the activity view is read once.)
 */
async function waitingOnLocks(client: PgClient): Promise<number> {
  const result = await client.query(
    "select pg_stat_clear_snapshot(), (select count(*)::int from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock') as n",
  );
  return result.rows[0].n as number;
}

/** Polls until `count` connections wait on a lock; fails with `never` if they do not. */
async function untilWaitingOnLocks(client: PgClient, count: number, never: string) {
  for (let polls = 0; (await waitingOnLocks(client)) < count; polls++) {
    if (polls > 10_000) throw new Error(never);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The lookup connections' plan_cache_mode of a store opened with `options`, then closed. */
async function lookupPlanModeOf(options: PostgresStoreOptions): Promise<string> {
  const store = await createPostgresStore(options);
  try {
    return store.lookupPlanCacheMode;
  } finally {
    await store.close();
  }
}

describe.skipIf(!enabled)("PostgreSQL store specifics", () => {
  it("opens the token lookup's connections asking for one generic plan, with the statement timeout", async () => {
    if (!database) throw new Error("no test database");
    const store = await createPostgresStore({ url: database.url, queryTimeoutMs: 4000 });
    try {
      expect(store.lookupPlanCacheMode).toBe("force_generic_plan");
      expect(store.statementTimeout).toEqual({ enforcedBy: "startup", valueMs: 4000 });
    } finally {
      await store.close();
    }
    // Under 4 connections the lookups share the writers', which keep the server's default.
    expect(await lookupPlanModeOf({ url: database.url, poolSize: 3 })).toBe("auto");
  });

  it("keeps the URL's own startup options on the lookup connections, and adds its own", async () => {
    if (!database) throw new Error("no test database");
    const url = new URL(database.url);
    url.searchParams.set("options", "-c search_path=public");
    const store = await createPostgresStore({ url: url.toString() });
    try {
      // pg takes the URL's options over a pool's own: without the merge, "auto".
      expect(store.lookupPlanCacheMode).toBe("force_generic_plan");
      const hash = "d".repeat(64);
      const ids = await insertOwnedTokens(store, "urloptions", [hash]);
      expect((await store.tokens.findSecret(hash))?.tokenId).toBe(ids[0]);
    } finally {
      await store.close();
    }
    // The URL's own reach the lookups too: here a plan mode of its own, ours a harmless
    // placeholder setting, so that the mode read back can only be the URL's.
    url.searchParams.set("options", "-c plan_cache_mode=force_custom_plan");
    expect(
      await lookupPlanModeOf({ url: url.toString(), lookupStartupOptions: "-c keyward.probe=on" }),
    ).toBe("force_custom_plan");
  });

  it("opens the lookup connections without their option when it is refused, keeps the statement timeout, and says so", async () => {
    if (!database) throw new Error("no test database");
    const warnings: string[] = [];
    const log = { warn: (_fields: object, message: string) => warnings.push(message) };
    const applicationName = `keyward-refused-${process.pid}`;
    // As a server before PostgreSQL 12 refuses plan_cache_mode.
    const store = await createPostgresStore({
      url: database.url,
      queryTimeoutMs: 4000,
      applicationName,
      secretFilter: false,
      log: { ...log, info: () => {} },
      lookupStartupOptions: "-c keyward_no_such_setting=on",
    });
    try {
      expect(store.lookupPlanCacheMode).toBe("auto");
      expect(store.statementTimeout).toEqual({ enforcedBy: "startup", valueMs: 4000 });
      expect(warnings).toEqual([expect.stringContaining("plan_cache_mode")]);
      const hash = "c".repeat(64);
      const ids = await insertOwnedTokens(store, "plancache", [hash]);
      expect((await store.tokens.findSecret(hash))?.tokenId).toBe(ids[0]);
      // The lookups' 3 connections, once: the refused attempt's pool was ended, not left
      // to open connections of its own later.
      const open = await adminQuery<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where application_name = $1",
        [`${applicationName}-lookup`],
      );
      expect(open[0]?.n).toBe(3);
    } finally {
      await store.close();
    }
  });

  it("answers 503 (StorageUnavailableError) when the server cannot be reached, saying where", async () => {
    // Port 1 on localhost refuses at once.
    const failure = await createPostgresStore({
      url: "postgres://postgres:s3cret@127.0.0.1:1/keyward",
      connectionTimeoutMs: 500,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StorageUnavailableError);
    expect((failure as Error).message).toContain("Cannot reach PostgreSQL at 127.0.0.1:1/keyward");
    expect((failure as Error).message).not.toContain("s3cret");
  });

  it("names the database when PostgreSQL refuses it", async () => {
    await expect(
      createPostgresStore({ url: databaseUrl("keyward_test_does_not_exist") }),
    ).rejects.toThrow(/PostgreSQL at .*keyward_test_does_not_exist: database .* does not exist/);
  });

  it("classifies driver errors: connection loss is unavailability, a bad query is not", () => {
    expect(isPostgresUnavailable(Object.assign(new Error("x"), { code: "57P01" }))).toBe(true);
    expect(isPostgresUnavailable(Object.assign(new Error("x"), { code: "08006" }))).toBe(true);
    expect(isPostgresUnavailable(Object.assign(new Error("x"), { code: "ECONNREFUSED" }))).toBe(
      true,
    );
    expect(isPostgresUnavailable(new Error("Connection terminated unexpectedly"))).toBe(true);
    // A transaction-mode pooler that loses or repeats the named lookup (PgBouncer < 1.21
    // with DATABASE_PREPARED_STATEMENTS left on): 503, not 500.
    expect(isPostgresUnavailable(Object.assign(new Error("x"), { code: "26000" }))).toBe(true);
    expect(isPostgresUnavailable(Object.assign(new Error("x"), { code: "42P05" }))).toBe(true);
    expect(isPostgresUnavailable(Object.assign(new Error("x"), { code: "23505" }))).toBe(false);
    expect(isPostgresUnavailable(Object.assign(new Error("x"), { code: "42P01" }))).toBe(false);
  });

  it("reads the URL as pg does, and adds its startup options after the URL's own, or else PGOPTIONS", () => {
    const ours = "-c plan_cache_mode=force_generic_plan";
    const urls = [
      "postgres://u:p%40ss@db:5432/k?sslmode=disable&options=-c%20search_path%3Dapp",
      // A socket, with credentials (not a URL the WHATWG parser reads).
      "postgres://u:pw@/k?host=/var/run/postgresql&options=-c%20search_path%3Dapp",
      // A raw space, which pg's parser encodes first.
      "postgres://u:p%2Fw@db/k?application_name=my app&options=-c%20search_path%3Dapp",
    ];
    for (const url of urls) {
      const asPgReadsIt = parseConnectionString(url);
      expect(asPgReadsIt.options).toMatch(/^-c search_path/);
      expect(withStartupOptions(url, ours)).toEqual({
        ...asPgReadsIt,
        options: `${asPgReadsIt.options} ${ours}`,
      });
    }
    const saved = process.env.PGOPTIONS;
    process.env.PGOPTIONS = "-c work_mem=8MB";
    try {
      expect(withStartupOptions("postgres://u@db/k", ours).options).toBe(`-c work_mem=8MB ${ours}`);
    } finally {
      if (saved === undefined) delete process.env.PGOPTIONS;
      else process.env.PGOPTIONS = saved;
    }
  });

  it("shares DATABASE_POOL_SIZE between lookups (a quarter, rounded up) and writers", () => {
    expect(splitPool(10)).toEqual({ writers: 7, lookups: 3 });
    expect(splitPool(4)).toEqual({ writers: 3, lookups: 1 });
    expect(splitPool(40)).toEqual({ writers: 30, lookups: 10 });
    // Too few to split: one pool for both.
    expect(splitPool(3)).toEqual({ writers: 3, lookups: 0 });
    expect(splitPool(1)).toEqual({ writers: 1, lookups: 0 });
  });

  it("answers a token lookup while every writer connection is waiting on a lock", async () => {
    if (!database) throw new Error("no test database");
    // 4 connections: 3 writers, 1 lookup. The writers' statements may wait longer than
    // the test; a connection is waited for 2 s, so with one shared pool the lookup fails
    // with "timeout exceeded when trying to connect" rather than being served late.
    const store = await createPostgresStore({
      url: database.url,
      poolSize: 4,
      queryTimeoutMs: 60_000,
      connectionTimeoutMs: 2000,
    });
    const { Client } = await import("pg");
    const holder = new Client({ connectionString: database.url });
    await holder.connect();
    try {
      // A row lock the writers will queue behind: an uncommitted counter row.
      const now = Date.now();
      await holder.query("begin");
      await holder.query(
        "insert into rate_counters (key, window_start, count) values ('held', $1, 1)",
        [now],
      );
      // One more than there are writer connections: the fourth waits for a connection.
      const writes = Array.from({ length: 4 }, () => store.counters.increment("held", 60_000, now));
      // All three writers are waiting on the lock, as the server sees it.
      const waitingOnLock = () => waitingOnLocks(holder);
      await untilWaitingOnLocks(holder, 3, "the writers never queued behind the lock");
      await expect(store.tokens.findSecret("0".repeat(64))).resolves.toBeUndefined();
      // Answered while the writers were still waiting, not after them.
      expect(await waitingOnLock()).toBe(3);
      await holder.query("commit");
      const counts = (await Promise.all(writes)).map((w) => w.count).sort();
      expect(counts).toEqual([2, 3, 4, 5]);
    } finally {
      await holder.end();
      await store.close();
    }
  });

  it("counts a token's use without writing to the token's row (no foreign-key lock)", async () => {
    if (!database) throw new Error("no test database");
    const store = await openEmptyStore();
    const { Client } = await import("pg");
    const reader = new Client({ connectionString: database.url });
    await reader.connect();
    try {
      const now = Date.UTC(2030, 0, 1);
      const [tokenId = ""] = await insertOwnedTokens(store, "usage", ["usage-secret"], now);
      // A row lock leaves the locker's transaction id in the row's xmax: a write to the
      // tokens table, and before migration 0019 one for every new usage row. (The token's
      // own insert left one already: its secret's row locks it the same way.)
      const xmax = async () =>
        (
          await reader.query<{ xmax: string }>("select xmax::text from tokens where id = $1", [
            tokenId,
          ])
        ).rows[0]?.xmax;
      const before = await xmax();
      expect(before).not.toBe("0");
      await store.usage.applyUsage([{ tokenId, day: "2030-01-01", requests: 3, lastUsedAt: now }]);
      await store.usage.applyUsage([
        { tokenId, day: "2030-01-02", requests: 2, lastUsedAt: now + 86_400_000 },
      ]);
      expect(await store.usage.totalUsage(tokenId)).toBe(5);
      expect(await xmax()).toBe(before);
    } finally {
      await reader.end();
      await store.close();
    }
  });

  it("gives up migration 0019 after its lock wait, instead of holding up lookups, while a transaction holds tokens", async () => {
    const fresh = await createTestDatabase();
    const pool = new Pool({ connectionString: fresh.url, max: 2 });
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    const { Client } = await import("pg");
    const holder = new Client({ connectionString: fresh.url });
    const migrate = (names: string[]) =>
      new Migrator({
        db,
        provider: {
          getMigrations: async () =>
            Object.fromEntries(Object.entries(migrations).filter(([name]) => names.includes(name))),
        },
        migrationTableName: MIGRATION_TABLE,
        migrationLockTableName: MIGRATION_LOCK_TABLE,
      }).migrateToLatest();
    const before0019 = Object.keys(migrations).filter((name) => name < "0019");
    const foreignKeys = async () =>
      (
        await holder.query(
          "select count(*)::int as n from pg_constraint where conrelid = 'token_usage_daily'::regclass and contype = 'f'",
        )
      ).rows[0].n as number;
    try {
      expect((await migrate(before0019)).error).toBeUndefined();
      await holder.connect();
      expect(await foreignKeys()).toBe(1);
      // A reader's open transaction (a dump) holds a lock that the drop must wait for.
      await holder.query("begin");
      await holder.query("select count(*) from tokens");
      // What the operator starting the server reads.
      await expect(migrateToLatest(db)).rejects.toThrow(
        /Database migration 0019-usage-unchecked-token failed: Migration 0019 could not lock the tokens table within 5s/,
      );
      await holder.query("commit");
      expect(await foreignKeys()).toBe(1);
      expect(await migrateToLatest(db)).toEqual(["0019-usage-unchecked-token"]);
      expect(await foreignKeys()).toBe(0);
    } finally {
      await holder.end();
      await db.destroy();
      await fresh.drop();
    }
  });

  it("decides a leak report after a regeneration under way commits, not from before it", async () => {
    if (!database) throw new Error("no test database");
    const store = await openEmptyStore();
    const { Client } = await import("pg");
    const regeneration = new Client({ connectionString: database.url });
    await regeneration.connect();
    try {
      const now = Date.UTC(2030, 0, 1);
      await insertOwnedTokens(store, "leak", ["old-secret"], now);
      // A regeneration with a grace period, as replaceSecret writes it, not yet committed.
      await regeneration.query("begin");
      await regeneration.query("update tokens set hint = 'kw_…new1' where id = 'tok_leak1'");
      await regeneration.query(
        "update token_secrets set expires_at = $1 where token_id = 'tok_leak1'",
        [now + 3_600_000],
      );
      await regeneration.query(
        "insert into token_secrets (hash, token_id, created_at) values ('new-secret', 'tok_leak1', $1)",
        [now],
      );
      const outcome = store.tokens.revokeLeakedSecret(
        { tokenId: "tok_leak1", secretHash: "old-secret", now: now + 1 },
        { revoked: [], secretEnded: [] },
      );
      // The report waits on the token's row, as the server sees it.
      await untilWaitingOnLocks(regeneration, 1, "the report never waited for the regeneration");
      await regeneration.query("commit");
      // Read before the regeneration, the reported secret was current and would have
      // revoked the token, new secret included; read after it, it is an old one.
      expect(await outcome).toBe("secret_ended");
      expect(await store.tokens.findSecret("old-secret")).toBeUndefined();
      expect(await store.tokens.findSecret("new-secret")).toMatchObject({ revokedAt: null });
    } finally {
      await regeneration.end();
      await store.close();
    }
  });

  it("fails to start, without hanging, when only some of the lookup connections open", async () => {
    const fresh = await createTestDatabase();
    const role = `keyward_limited_${fresh.name.slice(-12)}`;
    await adminQuery(`create role "${role}" login`);
    try {
      await adminQuery(`alter database "${fresh.name}" owner to "${role}"`);
      const url = new URL(fresh.url);
      url.username = role;
      // Migrated first, with no limit (migrating takes connections of its own).
      await (await createPostgresStore({ url: url.toString() })).close();
      // One writer connection at start, then 2 lookup connections at once: the second
      // is refused (too many connections for the role). Start must fail, not wait for
      // the connection that did open.
      await adminQuery(`alter role "${role}" connection limit 2`);
      await expect(
        createPostgresStore({ url: url.toString(), poolSize: 8 }),
      ).rejects.toBeInstanceOf(StorageUnavailableError);
    } finally {
      await fresh.drop();
      await adminQuery(`drop role if exists "${role}"`);
    }
  });

  it("migrates once when many stores start at once on an empty database", async () => {
    const fresh = await createTestDatabase();
    try {
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => createPostgresStore({ url: fresh.url })),
      );
      await Promise.all(stores.map((s) => s.close()));
      const { Client } = await import("pg");
      const client = new Client({ connectionString: fresh.url });
      await client.connect();
      try {
        const applied = await client.query("select name from keyward_migration");
        expect(applied.rows.map((r) => r.name).sort()).toEqual(Object.keys(migrations).sort());
      } finally {
        await client.end();
      }
    } finally {
      await fresh.drop();
    }
  });
});
