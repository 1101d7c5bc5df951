import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // The service key whose portal link opened a session: revoking the key ends the sessions
  // its links opened. Null for account sessions, and for portal sessions opened before
  // this migration (they last an hour at most).
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    // Kysely records a SQLite migration after `up` returns, outside any transaction: after
    // a crash in between it runs again, on a table that already has the column.
    const columns = await sql<{ name: string }>`pragma table_info(sessions)`.execute(db);
    if (columns.rows.some((c) => c.name === "service_key_id")) return;
  }
  await db.schema.alterTable("sessions").addColumn("service_key_id", "text").execute();
  await db.schema
    .createIndex("sessions_service_key")
    .ifNotExists()
    .on("sessions")
    .column("service_key_id")
    .execute();
}
