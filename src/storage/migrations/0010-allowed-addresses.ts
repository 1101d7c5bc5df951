import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // A token's address allowlist: JSON array of addresses and CIDRs, null for none.
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    // Kysely records a SQLite migration after `up` returns, outside any transaction: after
    // a crash in between it runs again, on a table that already has the column.
    const columns = await sql<{ name: string }>`pragma table_info(tokens)`.execute(db);
    if (columns.rows.some((c) => c.name === "allowed_addresses")) return;
  }
  await db.schema.alterTable("tokens").addColumn("allowed_addresses", "text").execute();
}
