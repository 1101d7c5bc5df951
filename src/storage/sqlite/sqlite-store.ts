import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { KeywardError } from "../../core/errors.js";
import { prefixOfBinaryHash } from "../../core/token.js";
import type { Store, TokenStore } from "../../services/ports.js";
import { composeKyselyStore } from "../kysely-compose.js";
import {
  findServiceKeyQuery,
  type ServiceKeyRow,
  toServiceKeySecret,
} from "../kysely-service-keys.js";
import { countStatements, createStorageFaults, type LockOwnerTokens } from "../kysely-store.js";
import { findSecretQuery, type TokenStoreDialect } from "../kysely-tokens.js";
import { isSchemaUpToDate, migrateToLatest } from "../migrate.js";
import { type SecretRow, toSecretRecord } from "../rows.js";
import type { Database } from "../schema.js";
import { prefixSql, SecretFilter } from "../secret-filter.js";
import { LookupGroup } from "./lookup-group.js";
import { SqliteInUseError } from "./sqlite-in-use-error.js";

export interface SqliteStoreOptions {
  /** Path of the database file; a server creates it (and its folder) when missing, a tool does not. */
  path: string;
  busyTimeoutMs?: number;
  /**
   * `server` (the default): the one serving process. It takes the file's server lock, so a
   * second server on the same file is refused, and keeps the secret filter.
   * `tool`: the command line beside a running server. No lock and no filter; it refuses a
   * schema that is not up to date (`keyward migrate` does that, under the server lock),
   * and tells the server of its token changes through `announceChanges`.
   */
  role?: "server" | "tool";
  /** Queue token notices by email (SMTP is configured); see StoreOptions. */
  mailNotices?: boolean;
  /**
   * For tests only: called with the text of every statement the connection runs, its bound
   * values filled in (secret hashes included), to see what ran and in what order.
   */
  traceStatements?: (sql: string) => void;
}

/** What the server hears from the change feed (migration 0009). */
export interface HeardChanges {
  /** Drop every cached answer. */
  all: boolean;
  tokenIds: string[];
}

/** A SQLite store also carries the change feed between the command line and the server. */
export interface SqliteStore extends Store {
  readonly kind: "sqlite";
  /**
   * Tool side: tells the server these tokens changed (`"*"`: every token; `"+secrets"`:
   * secrets were added, which the server's filter must learn). Call after the change has
   * committed. Entries older than an hour are pruned.
   */
  announceChanges(change: readonly string[] | "*" | "+secrets", now: number): Promise<void>;
  /**
   * Server side: the changes announced since the last call (or since the store opened),
   * one indexed range read. A `+secrets` entry reloads the secret filter first.
   */
  readChanges(): HeardChanges;
}

const UNAVAILABLE_CODES = new Set([
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_IOERR",
  "SQLITE_CANTOPEN",
  "SQLITE_FULL",
  "SQLITE_READONLY",
  "SQLITE_PROTOCOL",
]);

function sqliteCode(error: unknown): string {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
}

/** Entries the tool appends and the server reads; split so each stays a modest row. */
const MAX_IDS_PER_CHANGE = 500;
const CHANGE_RETENTION_MS = 3_600_000;

/**
 * The server lock: a second SQLite file beside the database, held in exclusive locking
 * mode for the server's whole life. Two servers on one file would each cache verification
 * results that the other's revocations cannot reach, so a second server is refused at
 * start. The command line does not take it: it writes the database itself (WAL, short
 * transactions) and announces its token changes, which the server polls for.
 */
function takeServerLock(path: string, busyTimeoutMs: number): SqliteDatabase.Database {
  const lockPath = `${path}-server.lock`;
  // As the store's own files (createSqliteStore): its owner's only.
  if (!existsSync(lockPath)) closeSync(openSync(lockPath, "a", 0o600));
  const lock = new SqliteDatabase(lockPath, { timeout: busyTimeoutMs });
  try {
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.pragma("journal_mode = MEMORY");
    lock.exec(
      "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS keyward_server_lock (id INTEGER); COMMIT;",
    );
    return lock;
  } catch (error) {
    lock.close();
    if (sqliteCode(error).startsWith("SQLITE_BUSY")) throw new SqliteInUseError(path);
    throw error;
  }
}

/** Opens the store (see SqliteStoreOptions for the two roles), migrating it as a server. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const role = options.role ?? "server";
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const memory = options.path === ":memory:";
  // The command line works on the server's store: a path with none is a mistake (a typo in
  // DATABASE_URL), which must not leave an empty store and folders behind.
  if (role === "tool" && !memory && !existsSync(options.path)) {
    throw new KeywardError(
      "not_found",
      `No Keyward store at ${options.path}. Check DATABASE_URL; the server creates the store when it first starts.`,
    );
  }
  if (!memory && !existsSync(options.path)) {
    // A new store is readable by its owner only: it holds password hashes, two-factor and
    // webhook secrets. SQLite gives its -wal and -shm files the database file's mode.
    mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    closeSync(openSync(options.path, "a", 0o600));
  }
  const serverLock =
    role === "server" && !memory ? takeServerLock(options.path, busyTimeoutMs) : undefined;
  const trace = options.traceStatements;
  const sqlite = new SqliteDatabase(options.path, {
    timeout: busyTimeoutMs,
    ...(trace === undefined ? {} : { verbose: (message?: unknown) => trace(String(message)) }),
  });
  try {
    sqlite.pragma("journal_mode = WAL");
    for (const setting of SERVER_SETTINGS) sqlite.pragma(setting);
  } catch (error) {
    sqlite.close();
    serverLock?.close();
    throw error;
  }

  const stats = { reads: 0, writes: 0, secretLookups: 0, serviceKeyLookups: 0 };
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    log: countStatements(stats),
  });
  try {
    if (role === "server") await migrateToLatest(db as Kysely<unknown>);
    else if (!(await isSchemaUpToDate(db as Kysely<unknown>))) throw new SchemaNotMigratedError();
  } catch (error) {
    await db.destroy();
    serverLock?.close();
    throw error;
  }

  // The hot lookup runs on a statement prepared once, where the query builder would
  // prepare it on every call.
  const compiled = findSecretQuery(db, "").compile();
  // Rows as arrays: better-sqlite3 builds a row object through V8's API, naming each of
  // the 13 columns anew, where a literal is compiled code (docs/performance.md,
  // "fifteenth part").
  const findSecretStatement = sqlite.prepare<unknown[], unknown[]>(compiled.sql).raw(true);
  const secretColumns = columnPositions(
    "the secret lookup",
    findSecretStatement,
    SECRET_ROW_COLUMNS,
  );
  const findServiceKeyStatement = sqlite.prepare<unknown[], ServiceKeyRow>(
    findServiceKeyQuery(db, "").compile().sql,
  );
  // The server writes every secret but those the command line imports, and those it
  // announces (`+secrets`): a filter of every stored secret, loaded once, fed by every
  // write and reloaded on that announcement, stays complete. The tool keeps none.
  const loadSecretFilter = (): SecretFilter => {
    const count = sqlite.prepare<[], number>("select count(*) from token_secrets").pluck().get();
    const filter = new SecretFilter(count ?? 0);
    const prefixes = sqlite
      .prepare<[], number>(`select ${prefixSql("hash")} from token_secrets`)
      .pluck();
    for (const prefix of prefixes.iterate()) filter.addPrefix(prefix);
    return filter;
  };
  let secrets: SecretFilter | undefined;
  let lastChange = 0;
  let readChangesStatement: SqliteDatabase.Statement<[number], { seq: number; token_ids: string }>;
  try {
    if (role === "server") secrets = loadSecretFilter();
    lastChange =
      sqlite.prepare<[], number>("select coalesce(max(seq), 0) from store_changes").pluck().get() ??
      0;
    readChangesStatement = sqlite.prepare(
      "select seq, token_ids from store_changes where seq > ? order by seq limit 1000",
    );
  } catch (error) {
    await db.destroy();
    serverLock?.close();
    throw error;
  }

  const faults = createStorageFaults((error) => {
    if (error instanceof TypeError && /database connection is not open/.test(error.message))
      return true;
    const code = sqliteCode(error);
    return [...UNAVAILABLE_CODES].some((c) => code.startsWith(c));
  });

  // Called on every verification the cache cannot answer. A made-up secret is refused at
  // once; the others are read at the end of the turn, with the turn's other lookups.
  const secretLookups = new LookupGroup(
    sqlite,
    (hash) => {
      stats.reads++;
      stats.secretLookups++;
      const values = findSecretStatement.get(hash);
      return values ? toSecretRecord(secretRowOf(values, secretColumns)) : undefined;
    },
    (error) => faults.toFault(error),
  );
  const findSecret: TokenStore["findSecret"] = (hash) => {
    // Once closed, the statement's own error says so (storage unavailable).
    if (sqlite.open && secrets !== undefined && !secrets.mayContain(hash))
      return Promise.resolve(undefined);
    return secretLookups.load(hash);
  };
  const mayHoldSecret = (binaryHash: string): boolean =>
    !sqlite.open ||
    secrets === undefined ||
    secrets.mayContainPrefix(prefixOfBinaryHash(binaryHash));
  const findServiceKeyBySecret: SqliteStore["serviceKeys"]["findServiceKeyBySecret"] = (hash) => {
    try {
      stats.reads++;
      stats.serviceKeyLookups++;
      const row = findServiceKeyStatement.get(hash);
      return Promise.resolve(row ? toServiceKeySecret(row) : undefined);
    } catch (error) {
      return Promise.reject(faults.toFault(error));
    }
  };
  // One connection per process, and SQLite serializes writers across processes: a
  // token-creating transaction's reads and insert cannot interleave with another's.
  // (The insert transaction starts with a read, and a second writer that read first
  // gets SQLITE_BUSY rather than a stale count: answered 503, never a broken limit.)
  const lockOwnerTokens: LockOwnerTokens = async () => {};
  // The same holds for one token's row: no other transaction of this process runs inside
  // ours, and another process's write after our first read makes ours fail, not go stale.
  const lockToken: TokenStoreDialect["lockToken"] = async () => {};

  const store = composeKyselyStore(
    db,
    faults,
    {
      kind: "sqlite",
      stats,
      lockOwnerTokens,
      lockToken,
      findSecret,
      mayHoldSecret,
      findServiceKeyBySecret,
      beforeSecretWrite: (hash) => secrets?.add(hash),
      // Usage counts are the one write whose last flush may be lost on power loss.
      flushTransaction: (work) => asUsageFlush(db, (conn) => conn.transaction().execute(work)),
    },
    { mailNotices: options.mailNotices ?? false },
  );

  const announceChanges: SqliteStore["announceChanges"] = (change, now) =>
    faults.guard(async () => {
      const entries: string[] = [];
      if (typeof change === "string") entries.push(change);
      else
        for (let i = 0; i < change.length; i += MAX_IDS_PER_CHANGE)
          entries.push(change.slice(i, i + MAX_IDS_PER_CHANGE).join(","));
      if (entries.length === 0) return;
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto("store_changes")
          .values(entries.map((token_ids) => ({ token_ids, created_at: now })))
          .execute();
        await trx
          .deleteFrom("store_changes")
          .where("created_at", "<", now - CHANGE_RETENTION_MS)
          .execute();
      });
    });

  const readChanges = (): HeardChanges => {
    const heard: HeardChanges = { all: false, tokenIds: [] };
    for (;;) {
      const rows = readChangesStatement.all(lastChange);
      for (const row of rows) {
        lastChange = row.seq;
        if (row.token_ids === "+secrets") {
          if (secrets !== undefined) secrets = loadSecretFilter();
          heard.all = true;
        } else if (row.token_ids === "*") heard.all = true;
        else heard.tokenIds.push(...row.token_ids.split(","));
      }
      if (rows.length < 1000) return heard;
    }
  };

  return {
    ...store,
    announceChanges,
    readChanges,
    close: async () => {
      await store.close();
      serverLock?.close();
    },
  };
}

/** The command line found a schema older than its own: the server (or migrate) must move it. */
export class SchemaNotMigratedError extends Error {
  constructor() {
    super(
      "The database schema is not up to date for this version of Keyward. Run `keyward migrate` " +
        "(with the server stopped), or start the server once, then try again.",
    );
    this.name = "SchemaNotMigratedError";
  }
}

type Positions<K extends string> = { readonly [C in K]: number };

/**
 * Where each named column is in a statement's rows read as arrays; throws at start-up,
 * not on a request, if the statement lacks one.
 */
function columnPositions<K extends string>(
  what: string,
  statement: SqliteDatabase.Statement<unknown[], unknown>,
  names: Readonly<Record<K, true>>,
): Positions<K> {
  const given = statement.columns().map((column) => column.name);
  const positions: Partial<Record<K, number>> = {};
  for (const name of Object.keys(names) as K[]) {
    const at = given.indexOf(name);
    if (at === -1) throw new Error(`${what} has no column ${name}`);
    positions[name] = at;
  }
  return positions as Positions<K>;
}

/** Every column of a SecretRow, checked against the lookup's columns at start-up. */
const SECRET_ROW_COLUMNS: Readonly<Record<keyof SecretRow, true>> = {
  token_id: true,
  token_name: true,
  scopes: true,
  application_id: true,
  application_name: true,
  user_id: true,
  user_email: true,
  external_id: true,
  expires_at: true,
  revoked_at: true,
  secret_expires_at: true,
  allowed_addresses: true,
  imported_at: true,
};

/** A secret lookup's row, read as an array, as the object the rest of the store reads. */
function secretRowOf(values: unknown[], at: Positions<keyof SecretRow>): SecretRow {
  return {
    token_id: values[at.token_id] as SecretRow["token_id"],
    token_name: values[at.token_name] as SecretRow["token_name"],
    scopes: values[at.scopes] as SecretRow["scopes"],
    application_id: values[at.application_id] as SecretRow["application_id"],
    application_name: values[at.application_name] as SecretRow["application_name"],
    user_id: values[at.user_id] as SecretRow["user_id"],
    user_email: values[at.user_email] as SecretRow["user_email"],
    external_id: values[at.external_id] as SecretRow["external_id"],
    expires_at: values[at.expires_at] as SecretRow["expires_at"],
    revoked_at: values[at.revoked_at] as SecretRow["revoked_at"],
    secret_expires_at: values[at.secret_expires_at] as SecretRow["secret_expires_at"],
    allowed_addresses: values[at.allowed_addresses] as SecretRow["allowed_addresses"],
    imported_at: values[at.imported_at] as SecretRow["imported_at"],
  };
}

const FOREIGN_KEYS_ON = "foreign_keys = ON";

/**
 * The connection's settings while it serves, besides WAL mode: set when the store opens,
 * and put back after every usage flush (`asUsageFlush`). FULL: a committed create or
 * revoke survives power loss, not only a process crash. `temp_store` is SQLite's default
 * (temporary files on disk), said here so that the flush puts back what was there.
 */
const SERVER_SETTINGS = [FOREIGN_KEYS_ON, "synchronous = FULL", "temp_store = DEFAULT"];

/**
 * Runs a usage flush's `work` on the connection with the settings below, then puts the
 * server's own back (SERVER_SETTINGS), also when the work fails.
 *
 * - `synchronous = NORMAL`, not FULL. In WAL mode a NORMAL commit is not fsynced: it
 *   survives a crash of the process (the write has reached the operating system) but may
 *   be lost, never half-applied, on power loss, until the next FULL commit or checkpoint
 *   syncs the log. Each fsync (one per 500-token chunk) ran on the event loop and held up
 *   every request in flight, for counts that are already approximate. Everything else
 *   commits with FULL.
 * - `foreign_keys = OFF`: each usage row's check that its token exists was a second
 *   scattered B-tree read per token. Every token a flush counts came out of a secret
 *   lookup that joined its row (a secret is known to no client before the transaction
 *   that writes it commits), and no statement deletes a token or what a token's row
 *   cascades from (a test reads the storage code for one). PostgreSQL has had no such key
 *   since migration 0019. Changing this setting makes SQLite prepare this connection's
 *   statements again on their next use: once per flush chunk, not per token.
 * - `temp_store = MEMORY`: a multi-row statement inside a transaction keeps a statement
 *   journal of the pages it changes, which SQLite spills to a temporary file past 64 KiB
 *   (a write and a close per chunk); in memory it is at most one chunk's pages. (Changing
 *   it would drop temporary tables; Keyward makes none.)
 *
 * The settings are set outside the transaction (SQLite ignores `foreign_keys` inside one)
 * on the one connection the work runs on. No other Kysely statement runs between; the
 * lookups that use the connection directly (secrets, service keys, the change log) only
 * read. A turn's secret lookups put their own read transaction around their reads, in one
 * synchronous step that nothing can come between, and none when the connection is
 * already inside one (`LookupGroup`).
 */
export function asUsageFlush<T>(
  db: Kysely<Database>,
  work: (conn: Kysely<Database>) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (conn) => {
    try {
      await sql`pragma synchronous = normal`.execute(conn);
      await sql`pragma foreign_keys = off`.execute(conn);
      await sql`pragma temp_store = memory`.execute(conn);
      return await work(conn);
    } finally {
      await restoreServerSettings(conn);
    }
  });
}

/**
 * SERVER_SETTINGS again, foreign-key checks first and read back: inside a transaction the
 * work left open SQLite ignores that setting without an error, and the server must not go
 * on writing without them.
 */
async function restoreServerSettings(conn: Kysely<Database>): Promise<void> {
  for (const setting of SERVER_SETTINGS) {
    await sql.raw(`pragma ${setting}`).execute(conn);
    if (setting !== FOREIGN_KEYS_ON) continue;
    const checks = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(conn);
    if (checks.rows[0]?.foreign_keys !== 1)
      throw new Error(
        "SQLite's foreign-key checks could not be turned back on after a usage flush: it left a transaction open",
      );
  }
}
