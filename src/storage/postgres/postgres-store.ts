import { Kysely, PostgresDialect, sql } from "kysely";
import { type CustomTypesConfig, Pool, type PoolConfig, types } from "pg";
import { type ConnectionOptions, parse as parseConnectionString } from "pg-connection-string";
import { StorageUnavailableError } from "../../core/errors.js";
import { prefixOfBinaryHash } from "../../core/token.js";
import type { Store, TokenStore } from "../../services/ports.js";
import { composeKyselyStore } from "../kysely-compose.js";
import {
  findServiceKeyQuery,
  type ServiceKeyRow,
  toServiceKeySecret,
} from "../kysely-service-keys.js";
import { countStatements, createStorageFaults, type LockOwnerTokens } from "../kysely-store.js";
import { secretLookup, type TokenStoreDialect } from "../kysely-tokens.js";
import { isSchemaUpToDate, migrateToLatest } from "../migrate.js";
import { type SecretRow, toSecretRecord } from "../rows.js";
import type { Database } from "../schema.js";
import { BatchedLookup } from "./batched-lookup.js";
import {
  type PgSecretFilter,
  type SecretFilterLog,
  settleSecret,
  startPgSecretFilter,
} from "./pg-secret-filter.js";

/**
 * The token lookup's connections plan it once and keep that plan (a generic plan). Left to
 * PostgreSQL's default (`auto`), a prepared statement is planned for its own values on
 * each of its first five runs, and afterwards whenever those plans' average cost is not
 * above the generic plan's; for `hash = any($1)` that depends on how many hashes the
 * batches had, and under load the four-table join was planned again on every query,
 * which cost PostgreSQL more than running it (docs/performance.md, seventeenth part).
 * Every run of this lookup is the same index descents whatever the hashes, so its plan
 * does not depend on them.
 */
const LOOKUP_STARTUP_OPTIONS = "-c plan_cache_mode=force_generic_plan";

/** Most hashes one batched token lookup asks for (see BatchedLookup). */
const LOOKUP_BATCH_LIMIT = 100;
/** How long token lookups wait behind a query in flight before another is sent. */
const LOOKUP_STALL_MS = 20;
/** Most token lookups waiting for PostgreSQL at once; past it a lookup answers 503 at once. */
const LOOKUP_QUEUE_LIMIT = 10_000;

export interface PostgresStoreOptions {
  url: string;
  /** Queue token notices by email (SMTP is configured); see StoreOptions. */
  mailNotices?: boolean;
  /** Most connections this process holds open for queries (one more is used for LISTEN). */
  poolSize?: number;
  /** How long a query waits for a free or new connection before failing with 503. */
  connectionTimeoutMs?: number;
  /**
   * Longest a statement may run. The server cancels it then, and the client gives up soon
   * after even if the server cannot be heard (a network black hole): the request is
   * answered 503 instead of hanging. Migrations run without this limit.
   */
  queryTimeoutMs?: number;
  /** Shown in `pg_stat_activity`, so an operator can tell Keyward's connections apart. */
  applicationName?: string;
  /**
   * Whether the hot lookup runs as a named prepared statement (default true). A
   * transaction-mode pooler (PgBouncer before 1.21) hands each transaction a different
   * server connection, where the statement was never prepared or already is: turn it off.
   */
  preparedStatements?: boolean;
  /**
   * Test-only: the lookup connections' `options` startup parameter instead of
   * LOOKUP_STARTUP_OPTIONS (a test gives one a server refuses, as one before PostgreSQL 12
   * refuses plan_cache_mode).
   */
  lookupStartupOptions?: string;
  /**
   * A direct (or session-mode) connection for the migration lock and the migrations, when
   * `url` goes through a transaction-mode pooler: a session advisory lock taken and released
   * in different transactions could land on different server connections.
   */
  directUrl?: string;
  /**
   * Keep a filter of every stored secret, so a made-up token is refused without a lookup
   * (PgSecretFilter; one more connection, on `directUrl` when given). Default true; the
   * command line, which verifies nothing, turns it off.
   */
  secretFilter?: boolean;
  /**
   * Where the secret filter says it lost or regained its connection, and the store warns
   * of what it could not set up at start.
   */
  log?: SecretFilterLog;
}

/** A PostgreSQL store can also broadcast to every process listening on the database. */
export interface PostgresStore extends Store {
  readonly kind: "postgres";
  /** Sends each payload as one `NOTIFY` on `channel`, in one round trip. */
  notify(channel: string, payloads: readonly string[]): Promise<void>;
  /**
   * Where the statement timeout is enforced, found at start: `startup` (sent as a startup
   * parameter, the direct case), `server` (a pooler dropped it, but the role or database
   * sets one: `value` ms), or `client-only` (nothing on the server: only the client gives up).
   */
  readonly statementTimeout: { enforcedBy: "startup" | "server" | "client-only"; valueMs: number };
  /**
   * How the token lookup's connections choose the lookup's plan, read from one of them at
   * start (`plan_cache_mode`): `force_generic_plan` when the startup option arrived (the
   * direct case); else the URL's own option, or the server's setting (PostgreSQL's default
   * `auto`), as when a pooler refused ours or the lookups share the writers' connections.
   */
  readonly lookupPlanCacheMode: string;
}

// Advisory lock keys (two-int form): a namespace that is Keyward's, then the resource.
const LOCK_NAMESPACE_MIGRATE = 0x4b57_0001;
const LOCK_NAMESPACE_OWNER_TOKENS = 0x4b57_0002;

/**
 * Times are epoch-ms `bigint` columns. pg returns int8 as strings by default (values can
 * exceed 2^53); ours never do, so they are parsed to numbers here, for this pool only.
 */
const BIGINT_OID = 20;
const pgTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === BIGINT_OID && format !== "binary"
      ? (value: string) => Number(value)
      : types.getTypeParser(oid, format)) as CustomTypesConfig["getTypeParser"],
};

/** SQLSTATEs that mean "the server cannot serve us right now", not "the query is wrong". */
const UNAVAILABLE_SQLSTATES = new Set([
  "57P01", // admin_shutdown (pg_terminate_backend, fast shutdown)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, in recovery)
  "53300", // too_many_connections
  "25006", // read_only_sql_transaction: we reached a standby, e.g. mid-failover
  "57014", // query_canceled: statement_timeout, i.e. the server is too busy to answer in time
  // The named lookup behind a transaction-mode pooler that does not track prepared
  // statements (DATABASE_PREPARED_STATEMENTS=false is the fix): the store cannot serve us.
  "26000", // invalid_sql_statement_name: prepared statement does not exist
  "42P05", // duplicate_prepared_statement: prepared statement already exists
]);

const UNAVAILABLE_SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

const UNAVAILABLE_MESSAGES =
  /Query read timeout|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end|Client was closed and is not queryable|Connection is not queryable|driver has already been destroyed/i;

/** True for driver errors that mean PostgreSQL cannot be reached right now (answered with 503). */
export function isPostgresUnavailable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = "code" in error ? String(error.code) : "";
  if (code.startsWith("08") || UNAVAILABLE_SQLSTATES.has(code)) return true;
  if (UNAVAILABLE_SOCKET_CODES.has(code)) return true;
  // Node reports a refused dual-stack connect as an AggregateError of per-address errors.
  if (error instanceof AggregateError) return error.errors.some(isPostgresUnavailable);
  return error instanceof Error && UNAVAILABLE_MESSAGES.test(error.message);
}

/** host:port/database of a URL, without credentials, for messages. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "the configured URL";
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0]);
  if (error instanceof Error && error.message) return error.message;
  if (typeof error === "object" && error !== null && "code" in error) return String(error.code);
  return String(error);
}

/**
 * A failure at start reaches an operator (the CLI prints the message), so it says where
 * and why; the HTTP answer of a StorageUnavailableError stays generic.
 */
function explainStartFailure(error: unknown, url: string): unknown {
  if (isPostgresUnavailable(error)) {
    const unavailable = new StorageUnavailableError(error);
    unavailable.message = `Cannot reach PostgreSQL at ${describeUrl(url)}: ${reasonOf(error)}`;
    return unavailable;
  }
  // Driver errors (wrong database, bad password, ...) get the place; our own pass unchanged.
  if (error instanceof Error && "severity" in error) {
    error.message = `PostgreSQL at ${describeUrl(url)}: ${error.message}`;
  }
  return error;
}

/**
 * Connects to PostgreSQL, migrates the schema (one process at a time), and returns a Store.
 * Every operation is the shared Kysely code; only locking, error mapping, the prepared
 * hot lookup and NOTIFY are PostgreSQL's own.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const applicationName = options.applicationName ?? "keyward";
  const connectionTimeoutMillis = options.connectionTimeoutMs ?? 5000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5000;
  const stats = { reads: 0, writes: 0, secretLookups: 0, serviceKeyLookups: 0 };
  const { writers: writerConnections, lookups: lookupConnections } = splitPool(
    options.poolSize ?? 10,
  );
  const poolOf = (
    max: number,
    name: string,
    min: number,
    startup: { statementTimeout: boolean; connection?: ConnectionOptions },
  ) => {
    const pool = new Pool({
      // pg reads the URL into the same fields, over the pool's own: `connection` is that
      // reading done here, so that the lookups can change one field of it.
      ...(startup.connection === undefined ? { connectionString: options.url } : {}),
      max,
      min,
      connectionTimeoutMillis,
      keepAlive: true,
      application_name: name,
      // PgBouncer refuses startup parameters it does not know (or drops those listed in
      // its ignore_startup_parameters); see the fallbacks below.
      ...(startup.statementTimeout ? { statement_timeout: queryTimeoutMs } : {}),
      // Client side, a little later: only fires when the server's own cancel cannot arrive.
      query_timeout: queryTimeoutMs + 1000,
      types: pgTypes,
      ...(startup.connection as PoolConfig | undefined),
    });
    ignoreConnectionErrorEvents(pool);
    return pool;
  };
  const openWriters = (statementTimeout: boolean) => {
    const pool = poolOf(writerConnections, applicationName, 0, { statementTimeout });
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool }),
      log: countStatements(stats),
    });
    return { pool, db };
  };
  // Token lookups (a verification that missed the cache, e.g. the first one after a
  // revocation) get connections of their own, kept open: under load they waited behind
  // the writers' transactions for a free connection, or 60-300 ms for a new one to be
  // opened (docs/deployment.md, "Under load").
  const openLookups = (statementTimeout: boolean, onePlan: boolean) =>
    poolOf(lookupConnections, `${applicationName}-lookup`, lookupConnections, {
      statementTimeout,
      ...(onePlan
        ? {
            connection: withStartupOptions(
              options.url,
              options.lookupStartupOptions ?? LOOKUP_STARTUP_OPTIONS,
            ),
          }
        : {}),
    });

  let { pool, db } = openWriters(true);
  /** The lookups' own pool; none under 4 connections, where they share the writers'. */
  let lookupOnlyPool: Pool | undefined;
  const endLookupOnlyPool = async () => {
    if (lookupOnlyPool !== undefined && !lookupOnlyPool.ending) await lookupOnlyPool.end();
  };
  let statementTimeout: PostgresStore["statementTimeout"];
  let lookupPlanCacheMode: string;
  try {
    let statementTimeoutSent = true;
    try {
      statementTimeout = await readStatementTimeout(db, queryTimeoutMs);
    } catch (error) {
      if (!refusedStartupParameter(error)) throw error;
      // A pooler (PgBouncer) that does not pass statement_timeout on: connect without it.
      // The timeout then reaches PostgreSQL only if the role or database sets it
      // (ALTER ROLE ... SET statement_timeout), which is what docs/deployment.md asks for.
      await db.destroy();
      ({ pool, db } = openWriters(false));
      statementTimeoutSent = false;
      statementTimeout = await readStatementTimeout(db, queryTimeoutMs);
    }
    // Usually one query; the locked migration only when something is missing.
    if (!(await isSchemaUpToDate(db as Kysely<unknown>))) {
      await migrateExclusively(options.directUrl ?? options.url, {
        applicationName,
        connectionTimeoutMillis,
      });
    }
    // Opened now, so the first lookups after start do not each wait for a connection.
    if (lookupConnections > 0) {
      lookupOnlyPool = openLookups(statementTimeoutSent, true);
      try {
        await warmUp(lookupOnlyPool, lookupConnections);
      } catch (error) {
        if (!refusedLookupOptions(error)) throw error;
        // Refused for its option: by a pooler ("unsupported startup parameter"), a proxy
        // that takes no options, or a server without plan_cache_mode (before PostgreSQL
        // 12). The lookups then connect without it, planned as the server's
        // plan_cache_mode says; lookupPlanCacheMode tells.
        await endLookupOnlyPool();
        lookupOnlyPool = openLookups(statementTimeoutSent, false);
        await warmUp(lookupOnlyPool, lookupConnections);
        // Unprepared, the lookup is planned on every query whatever the setting.
        const prepared = options.preparedStatements ?? true;
        options.log?.[prepared ? "warn" : "info"](
          { refused: error instanceof Error ? error.message : String(error) },
          "the token lookup's connections could not ask PostgreSQL for one generic plan (plan_cache_mode): the server chooses its plans, and may plan the lookup again on every cache miss",
        );
      }
    }
    lookupPlanCacheMode = await readPlanCacheMode(lookupOnlyPool ?? pool);
  } catch (error) {
    try {
      await db.destroy();
    } finally {
      await endLookupOnlyPool();
    }
    throw explainStartFailure(error, options.url);
  }
  const lookupPool = lookupOnlyPool ?? pool;

  const faults = createStorageFaults(isPostgresUnavailable);
  const { guard } = faults;

  // The hot lookup runs as a named prepared statement: each pooled connection parses and
  // plans it once, then only binds the hashes. Without a name, pg sends it as the unnamed
  // statement, parsed and planned on every call, which any pooler passes through.
  // Lookups that arrive while one is out wait for it, and go together as one query over
  // their hashes (BatchedLookup): under load a round trip then answers many cache misses
  // or made-up tokens instead of one.
  const findSecretsSql = secretLookup(db)
    .select("s.hash as secret_hash")
    .where(sql<boolean>`"s"."hash" = any(${[] as string[]}::text[])`)
    .compile().sql;
  const findSecretsName = (options.preparedStatements ?? true) ? "keyward_find_secrets" : undefined;
  const secretLookups = new BatchedLookup<SecretRow>(
    async (hashes) => {
      stats.reads++;
      stats.secretLookups++;
      const result = await lookupPool.query<SecretRow & { secret_hash: string }>({
        ...(findSecretsName === undefined ? {} : { name: findSecretsName }),
        text: findSecretsSql,
        values: [hashes],
      });
      return new Map(result.rows.map((row) => [row.secret_hash, row]));
    },
    {
      maxInFlight: lookupPool === pool ? writerConnections : lookupConnections,
      maxBatch: LOOKUP_BATCH_LIMIT,
      stallMs: LOOKUP_STALL_MS,
      // As long as a query waits for a connection, then 503 (docs/deployment.md).
      maxWaitMs: connectionTimeoutMillis,
      maxQueued: LOOKUP_QUEUE_LIMIT,
      unavailable: () =>
        new StorageUnavailableError(new Error("token lookups waited too long for PostgreSQL")),
    },
  );
  const lookUpSecret: TokenStore["findSecret"] = (hash) =>
    guard(async () => {
      const row = await secretLookups.load(hash);
      return row ? toSecretRecord(row) : undefined;
    });
  // A made-up token is refused from memory (PgSecretFilter). Its LISTEN needs a session:
  // a URL that dropped the statement-timeout startup parameter goes through a pooler,
  // which in transaction mode would lend that session to others and lose notices, so
  // without a direct URL there is no filter. It never fails the start: while PostgreSQL
  // cannot be reached it answers "maybe" (lookups read storage) and retries.
  const pooledOnly = options.directUrl === undefined && statementTimeout.enforcedBy !== "startup";
  if ((options.secretFilter ?? true) && pooledOnly)
    options.log?.warn(
      {},
      "DATABASE_URL goes through a pooler and DATABASE_LISTEN_URL is not set: no secret filter, every made-up token is looked up",
    );
  const secretFilter: PgSecretFilter | undefined =
    (options.secretFilter ?? true) && !pooledOnly
      ? await startPgSecretFilter({
          url: options.directUrl ?? options.url,
          applicationName: `${applicationName}-secrets`,
          connectTimeoutMs: connectionTimeoutMillis,
          ...(options.log === undefined ? {} : { log: options.log }),
        })
      : undefined;
  const findSecret: TokenStore["findSecret"] = (hash) => {
    const mayHold = secretFilter?.mayHold(hash) ?? true;
    if (mayHold === true) return lookUpSecret(hash);
    if (mayHold === false) return Promise.resolve(undefined);
    return mayHold.then((maybe) => (maybe ? lookUpSecret(hash) : undefined));
  };
  // Every service call authenticates its key with this lookup: prepared the same way, but
  // on the writers' connections, so that a burst of service calls never holds the ones
  // kept for token lookups.
  const findServiceKeySql = findServiceKeyQuery(db, "").compile().sql;
  const findServiceKeyName =
    (options.preparedStatements ?? true) ? "keyward_find_service_key" : undefined;
  const findServiceKeyBySecret: Store["serviceKeys"]["findServiceKeyBySecret"] = (hash) =>
    guard(async () => {
      stats.reads++;
      stats.serviceKeyLookups++;
      const result = await pool.query<ServiceKeyRow>({
        ...(findServiceKeyName === undefined ? {} : { name: findServiceKeyName }),
        text: findServiceKeySql,
        values: [hash],
      });
      const row = result.rows[0];
      return row ? toServiceKeySecret(row) : undefined;
    });
  // Under READ COMMITTED, two transactions could both count the owner's active tokens
  // and both insert; a transaction-scoped advisory lock per (application, owner) makes
  // the count-then-insert atomic without locking the whole table.
  const lockOwnerTokens: LockOwnerTokens = async (trx, applicationId, userId) => {
    await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NAMESPACE_OWNER_TOKENS)}, hashtext(${applicationId}::text || '/' || ${userId}::text))`.execute(
      trx,
    );
  };

  // The row lock the regeneration's own update of the row takes (FOR NO KEY UPDATE), held
  // to commit; it leaves inserts that reference the token (usage, audit) unblocked.
  const lockToken: TokenStoreDialect["lockToken"] = async (trx, tokenId) => {
    await trx
      .selectFrom("tokens")
      .select("id")
      .where("id", "=", tokenId)
      .forNoKeyUpdate()
      .execute();
  };

  let closing: Promise<void> | undefined;
  const store = composeKyselyStore(
    db,
    faults,
    {
      kind: "postgres",
      stats,
      lockOwnerTokens,
      lockToken,
      findSecret,
      ...(secretFilter === undefined
        ? {}
        : {
            mayHoldSecret: (binaryHash: string) =>
              !secretFilter.absentNow(prefixOfBinaryHash(binaryHash)),
          }),
      findServiceKeyBySecret,
      // Every process, filter or not: the others' filters answer on that promise.
      afterSecretCommit: settleSecret,
      // Usage counts may lose their last flush if PostgreSQL crashes (at most about
      // three times wal_writer_delay, 600 ms by default), like SQLite's flush without
      // fsync: their commits then do not wait for the disk, nor keep a connection while
      // other processes' commits do.
      flushTransaction: (work) =>
        db.transaction().execute(async (trx) => {
          await sql`set local synchronous_commit = off`.execute(trx);
          return work(trx);
        }),
    },
    { mailNotices: options.mailNotices ?? false },
  );
  return {
    ...store,
    close: () => {
      // Closing twice waits for the same close, as Kysely's destroy allows (pg's end
      // throws when called again).
      closing ??= (async () => {
        try {
          await secretFilter?.close();
          await store.close();
        } finally {
          await endLookupOnlyPool();
        }
      })();
      return closing;
    },
    statementTimeout,
    lookupPlanCacheMode,
    notify: async (channel, payloads) => {
      if (payloads.length === 0) return;
      try {
        stats.writes++;
        await pool.query("select pg_notify($1, payload) from unnest($2::text[]) as payload", [
          channel,
          [...payloads],
        ]);
      } catch (error) {
        if (isPostgresUnavailable(error)) throw new StorageUnavailableError(error);
        throw error;
      }
    },
  };
}

/**
 * How `DATABASE_POOL_SIZE` connections are shared: a quarter (rounded up) for token
 * lookups, the rest for everything else. Below 4 there is one pool for both.
 */
export function splitPool(poolSize: number): { writers: number; lookups: number } {
  if (poolSize < 4) return { writers: poolSize, lookups: 0 };
  const lookups = Math.ceil(poolSize / 4);
  return { writers: poolSize - lookups, lookups };
}

/**
 * Opens `count` connections of `pool` at once and returns them to it. Every one that
 * opened goes back even when another failed: the pool's `end()` waits for all of its
 * connections, so one kept out would hang the caller's clean-up.
 */
async function warmUp(pool: Pool, count: number): Promise<void> {
  const opened = await Promise.allSettled(Array.from({ length: count }, () => pool.connect()));
  for (const result of opened) if (result.status === "fulfilled") result.value.release();
  const failed = opened.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
}

/** PgBouncer's answer to a startup parameter it neither knows nor ignores. */
function refusedStartupParameter(error: unknown): boolean {
  return error instanceof Error && /unsupported startup parameter/i.test(error.message);
}

/**
 * Whether a lookup connection's start was refused for its `options` startup parameter:
 * PgBouncer's "unsupported startup parameter" (a protocol violation, otherwise taken for
 * unavailability), a proxy's "not supported" or a server's unknown setting. Anything else
 * (a wrong password, a missing database, too many connections) fails the start as it did.
 */
function refusedLookupOptions(error: unknown): boolean {
  if (refusedStartupParameter(error)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  // feature_not_supported, undefined_object (an unknown setting), invalid_parameter_value
  if (code === "0A000" || code === "42704" || code === "22023") return true;
  return error instanceof Error && /\boptions\b|plan_cache_mode/i.test(error.message);
}

/**
 * The URL as pg reads it (pg-connection-string, pg's own parser), with `extra` sent in the
 * `options` startup parameter after any options the URL (or else PGOPTIONS, pg's fallback)
 * gives: pg takes the URL's `options` over a pool's own, so ours would be dropped, or would
 * drop theirs (a search_path, say).
 */
export function withStartupOptions(url: string, extra: string): ConnectionOptions {
  const read = parseConnectionString(url);
  const given = read.options || process.env.PGOPTIONS || "";
  return { ...read, options: `${given} ${extra}`.trim() };
}

/** `plan_cache_mode` as one of the pool's connections has it. */
async function readPlanCacheMode(pool: Pool): Promise<string> {
  const result = await pool.query<{ setting: string }>(
    "select setting from pg_settings where name = 'plan_cache_mode'",
  );
  return result.rows[0]?.setting ?? "auto";
}

/**
 * The statement timeout the server applies to our connections, in ms. Equal to ours when
 * the startup parameter arrived; otherwise whatever the role or database sets (0: none).
 */
async function readStatementTimeout(
  db: Kysely<Database>,
  wantedMs: number,
): Promise<PostgresStore["statementTimeout"]> {
  const result = await sql<{
    ms: string;
    source: string;
  }>`select setting as ms, source from pg_settings where name = 'statement_timeout'`.execute(db);
  const valueMs = Number(result.rows[0]?.ms ?? 0);
  // By its source, not its value: a role or database set to the same value, behind a
  // pooler that dropped ours, is not our startup parameter.
  if (result.rows[0]?.source === "client" && valueMs === wantedMs)
    return { enforcedBy: "startup", valueMs };
  return { enforcedBy: valueMs > 0 ? "server" : "client-only", valueMs };
}

/**
 * A connection that dies (server restart, pg_terminate_backend, network reset) emits
 * 'error': on the pool while idle, on the client while checked out (pg-pool only listens
 * to idle ones, and Kysely holds a client across a transaction). Unheard, either event
 * would crash the process. The failure itself still reaches whoever was using the
 * connection, as a rejected query (answered 503); the pool drops the dead connection.
 */
function ignoreConnectionErrorEvents(pool: Pool): void {
  pool.on("error", () => {});
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
}

/**
 * Runs the migrations on a pool of their own (no statement timeout: a migration may
 * rightly take long) while holding a session advisory lock on a separate connection, so
 * processes starting at once on an empty database take turns: the first creates the
 * schema, the others find it up to date. (Kysely's own migration lock is taken only after
 * it has created its bookkeeping tables, which races on an empty database.)
 */
async function migrateExclusively(
  url: string,
  settings: { applicationName: string; connectionTimeoutMillis: number },
): Promise<void> {
  const pool = new Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: settings.connectionTimeoutMillis,
    application_name: `${settings.applicationName}-migrate`,
    types: pgTypes,
  });
  ignoreConnectionErrorEvents(pool);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  try {
    const lock = await pool.connect();
    let broken: Error | undefined;
    try {
      await lock.query("select pg_advisory_lock($1, 0)", [LOCK_NAMESPACE_MIGRATE]);
      try {
        await migrateToLatest(db);
      } finally {
        await lock.query("select pg_advisory_unlock($1, 0)", [LOCK_NAMESPACE_MIGRATE]);
      }
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      // A connection whose unlock may not have run is closed, not pooled: closing it
      // releases the lock.
      lock.release(broken ?? false);
    }
  } finally {
    await db.destroy();
  }
}
