import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

/**
 * Tables whose rows SQLite is to keep in primary-key order, without a separate rowid
 * B-tree, with their primary keys: rows are copied in key order, which costs less
 * B-tree work than random order.
 */
const CLUSTERED_TABLES = {
  tokens: '"id"',
  token_secrets: '"hash"',
  token_usage_daily: '"token_id", "day"',
} as const;

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // Each token's last use moves to its usage row of the day, which every usage flush
  // writes anyway. Updating `tokens.last_used_at` as well meant one more scattered row of
  // the largest table per used token per flush, most of a flush's time on a large store
  // (docs/performance.md).
  // `tokens.last_used_at` stays as the value from before this migration.
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) {
    await db.schema.alterTable("token_usage_daily").addColumn("last_used_at", "bigint").execute();
    return;
  }
  await rebuildForSqlite(db);
}

/**
 * SQLite: the same, and the three tables of the hot paths rebuilt `WITHOUT ROWID`. A table
 * with a text primary key is otherwise two B-trees (the key's index, then the rows by
 * rowid), so a lookup or a usage upsert descends twice. Done the way SQLite documents
 * for changing a table's definition: foreign keys off outside the transaction, new
 * table, copy, drop, rename, indexes recreated, `foreign_key_check`, commit. Kysely runs
 * SQLite migrations outside a transaction, so this one makes its own: a crash leaves
 * the schema as it was.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above
async function rebuildForSqlite(db: Kysely<any>): Promise<void> {
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    await sql`begin immediate`.execute(db);
    try {
      // Each step is skipped when done: Kysely records the migration after `up` returns, so
      // a crash in between runs it again on a database it already changed.
      const columns = await sql<{ name: string }>`pragma table_info(token_usage_daily)`.execute(db);
      if (!columns.rows.some((c) => c.name === "last_used_at")) {
        await sql`alter table token_usage_daily add column last_used_at bigint`.execute(db);
      }
      for (const [table, key] of Object.entries(CLUSTERED_TABLES)) {
        await rebuildWithoutRowid(db, table, key);
      }
      const violations = await sql`pragma foreign_key_check`.execute(db);
      if (violations.rows.length > 0) {
        throw new Error(
          `foreign key check failed after rebuilding tables: ${violations.rows.length} rows`,
        );
      }
      await sql`commit`.execute(db);
    } catch (error) {
      await sql`rollback`.execute(db);
      throw error;
    }
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: see above
async function rebuildWithoutRowid(db: Kysely<any>, table: string, key: string): Promise<void> {
  const definition = await sql<{ sql: string }>`
    select sql from sqlite_master where type = 'table' and name = ${table}`.execute(db);
  const createSql = definition.rows[0]?.sql;
  if (createSql === undefined) throw new Error(`table ${table} not found`);
  if (/WITHOUT ROWID\s*$/i.test(createSql)) return;
  const indexes = await sql<{ sql: string }>`
    select sql from sqlite_master
    where type = 'index' and tbl_name = ${table} and sql is not null`.execute(db);
  const staging = `${table}_rebuild`;
  // The table's own definition, as SQLite keeps it (columns added later included), under
  // another name.
  const prefix = /^CREATE TABLE\s+("[^"]+"|\w+)/i.exec(createSql);
  if (prefix === null) throw new Error(`unexpected definition of ${table}`);
  const stagingSql = `CREATE TABLE "${staging}"${createSql.slice(prefix[0].length)} WITHOUT ROWID`;
  await sql.raw(stagingSql).execute(db);
  await sql.raw(`INSERT INTO "${staging}" SELECT * FROM "${table}" ORDER BY ${key}`).execute(db);
  await sql.raw(`DROP TABLE "${table}"`).execute(db);
  await sql.raw(`ALTER TABLE "${staging}" RENAME TO "${table}"`).execute(db);
  for (const index of indexes.rows) await sql.raw(index.sql).execute(db);
}
