import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // When a token was imported from another system by its hash (`keyward import-tokens`);
  // null for tokens Keyward made. Only an imported token may have a secret outside
  // Keyward's own format.
  let columnExists = false;
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    // Kysely records a SQLite migration after `up` returns, outside any transaction: after
    // a crash in between (or between these statements) it runs again, on a table that
    // may already have the column; the index below is created if it is still missing.
    const columns = await sql<{ name: string }>`pragma table_info(tokens)`.execute(db);
    columnExists = columns.rows.some((c) => c.name === "imported_at");
  }
  if (!columnExists)
    await db.schema.alterTable("tokens").addColumn("imported_at", "bigint").execute();
  // Partial: empty unless something was imported, so "is anything imported?" is one probe.
  await db.schema
    .createIndex("tokens_imported")
    .ifNotExists()
    .on("tokens")
    .column("imported_at")
    .where(sql.ref("imported_at"), "is not", null)
    .execute();
}
