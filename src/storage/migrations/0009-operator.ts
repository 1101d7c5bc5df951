import { type Kysely, SqliteAdapter } from "kysely";

// Frozen in time: see 0001-initial.ts.

/**
 * Token changes made by a process that is not the server, for the server to hear.
 *
 * On SQLite the command line (`keyward tokens revoke`, ...) writes the file while a server
 * keeps verification answers in memory: it appends a row here in the same transaction as
 * its change, and the server polls for rows past the last one it read (a primary-key
 * range read every 100 ms). `token_ids` is a comma-separated list of token ids, `*` for
 * "drop every cached answer", or `+secrets` for "secrets were added outside the server".
 * PostgreSQL processes hear each other through NOTIFY instead; the table exists there too
 * so both dialects have one schema.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  await db.schema
    .createTable("store_changes")
    // AUTOINCREMENT on SQLite: a sequence number is never reused, even after pruning.
    .addColumn("seq", sqlite ? "integer" : "bigserial", (c) =>
      sqlite ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn("token_ids", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  // `keyward audit export --since` reads every event in time order, in keyset pages.
  await db.schema
    .createIndex("audit_events_time")
    .on("audit_events")
    .columns(["created_at", "id"])
    .execute();
}
