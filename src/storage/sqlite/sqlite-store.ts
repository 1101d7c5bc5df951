import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import type { Store, TokenStore } from "../../services/ports.js";
import { composeKyselyStore } from "../kysely-compose.js";
import { countStatements, createStorageFaults, type LockOwnerTokens } from "../kysely-store.js";
import { findSecretQuery } from "../kysely-tokens.js";
import { migrateToLatest } from "../migrate.js";
import { type SecretRow, toSecretRecord } from "../rows.js";
import type { Database } from "../schema.js";
import { prefixSql, SecretFilter } from "../secret-filter.js";
import { SqliteInUseError } from "./sqlite-in-use-error.js";

export interface SqliteStoreOptions {
  /** Path of the database file; its folder is created when missing. */
  path: string;
  busyTimeoutMs?: number;
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

/**
 * Opens (creating if needed) a SQLite database, migrates it, and returns a Store.
 *
 * The connection holds the file in EXCLUSIVE locking mode for its whole life. Two
 * processes on one file would each cache verification results that the other's
 * revocations cannot reach, so a second process is refused at start instead.
 */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
  const sqlite = new SqliteDatabase(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
  try {
    sqlite.pragma("locking_mode = EXCLUSIVE");
    sqlite.pragma("journal_mode = WAL");
    // FULL: a committed create or revoke survives power loss, not only a process crash.
    sqlite.pragma("synchronous = FULL");
    sqlite.pragma("foreign_keys = ON");
    // Take the write lock now, so a second process fails here with a clear message.
    sqlite.exec(
      "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS keyward_process_lock (id INTEGER); COMMIT;",
    );
  } catch (error) {
    sqlite.close();
    if (sqliteCode(error).startsWith("SQLITE_BUSY")) throw new SqliteInUseError(options.path);
    throw error;
  }

  const stats = { reads: 0, writes: 0 };
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    log: countStatements(stats),
  });
  try {
    await migrateToLatest(db as Kysely<unknown>);
  } catch (error) {
    await db.destroy();
    throw error;
  }

  // The hot lookup runs on a statement prepared once, where the query builder would
  // prepare it on every call.
  const compiled = findSecretQuery(db, "").compile();
  const findSecretStatement = sqlite.prepare<unknown[], SecretRow>(compiled.sql);
  // This process is the only writer of the file (EXCLUSIVE lock), so a filter of every
  // stored secret, loaded once and fed by every write, stays complete.
  let secrets: SecretFilter;
  try {
    const count = sqlite.prepare<[], number>("select count(*) from token_secrets").pluck().get();
    secrets = new SecretFilter(count ?? 0);
    const prefixes = sqlite
      .prepare<[], number>(`select ${prefixSql("hash")} from token_secrets`)
      .pluck();
    for (const prefix of prefixes.iterate()) secrets.addPrefix(prefix);
  } catch (error) {
    await db.destroy();
    throw error;
  }

  const faults = createStorageFaults((error) => {
    if (error instanceof TypeError && /database connection is not open/.test(error.message))
      return true;
    const code = sqliteCode(error);
    return [...UNAVAILABLE_CODES].some((c) => code.startsWith(c));
  });

  // Called on every verification the cache cannot answer, and synchronous: the answer
  // costs one resolved promise, not a chain of them.
  const findSecret: TokenStore["findSecret"] = (hash) => {
    try {
      // Once closed, the statement's own error says so (storage unavailable).
      if (sqlite.open && !secrets.mayContain(hash)) return Promise.resolve(undefined);
      stats.reads++;
      const row = findSecretStatement.get(hash);
      return Promise.resolve(row ? toSecretRecord(row) : undefined);
    } catch (error) {
      return Promise.reject(faults.toFault(error));
    }
  };
  // One connection and one process: transactions are already serialized.
  const lockOwnerTokens: LockOwnerTokens = async () => {};

  return composeKyselyStore(db, faults, {
    kind: "sqlite",
    stats,
    lockOwnerTokens,
    findSecret,
    beforeSecretWrite: (hash) => secrets.add(hash),
    // Usage counts are the one write whose last flush may be lost on power loss.
    flushTransaction: (work) => withoutFsync(db, (conn) => conn.transaction().execute(work)),
  });
}

/**
 * Runs `work` on the connection with `synchronous = NORMAL`, then puts `FULL` back. In
 * WAL mode a NORMAL commit is not fsynced: it survives a crash of the process (the
 * write has reached the operating system) but may be lost, never half-applied, on
 * power loss, until the next FULL commit or checkpoint syncs the log. Usage flushes use
 * it: each fsync (one per 500-token chunk) ran on the event loop and held up every
 * request in flight, for counts that are already approximate. Everything else commits
 * with FULL.
 */
export function withoutFsync<T>(
  db: Kysely<Database>,
  work: (conn: Kysely<Database>) => Promise<T>,
): Promise<T> {
  // One connection for the pragma, the work and the restore: nothing else runs between.
  return db.connection().execute(async (conn) => {
    await sql`pragma synchronous = normal`.execute(conn);
    try {
      return await work(conn);
    } finally {
      await sql`pragma synchronous = full`.execute(conn);
    }
  });
}
