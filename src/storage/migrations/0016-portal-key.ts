import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // The service key that made a portal link: a link of a key revoked since is not redeemed.
  // Null for links made before this migration (they expire within five minutes).
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    // Kysely records a SQLite migration after `up` returns, outside any transaction: after
    // a crash in between it runs again, on a table that already has the column.
    const columns = await sql<{ name: string }>`pragma table_info(portal_codes)`.execute(db);
    if (columns.rows.some((c) => c.name === "service_key_id")) return;
  }
  await db.schema.alterTable("portal_codes").addColumn("service_key_id", "text").execute();
}
