import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  // The revocation stream: one row per change that ends a secret, numbered in commit order
  // (`seq` is the event's id on the wire). SQLite's AUTOINCREMENT never hands out a number
  // twice, even once every row has been pruned; a bigserial never does either.
  await db.schema
    .createTable("revocation_events")
    .addColumn("seq", sqlite ? "integer" : "bigserial", (c) =>
      sqlite ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn("application_id", "text", (c) => c.notNull())
    .addColumn("token_id", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("revocation_events_application_seq")
    .on("revocation_events")
    .columns(["application_id", "seq"])
    .execute();
  // The first row marks where the stream begins: every event after the lowest row kept is
  // still there, so a reader's last id at or after it can be replayed (pruning keeps the
  // newest row it could delete as the new mark). It belongs to no application.
  await db
    .insertInto("revocation_events")
    .values({ application_id: "", token_id: "", type: "stream.start", at: Date.now() })
    .execute();

  // An old secret of a regenerated token ends at its `expires_at`; once that has been sent
  // on the stream (secret.ended) this is 1, so exactly one process sends it. Secrets that
  // ended before this migration are not announced after the fact.
  await db.schema
    .alterTable("token_secrets")
    .addColumn("ended_announced", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await db
    .updateTable("token_secrets")
    .set({ ended_announced: 1 })
    .where("expires_at", "is not", null)
    .where("expires_at", "<=", Date.now())
    .execute();
  // Only old secrets still to be announced: a handful, however many tokens there are.
  await db.schema
    .createIndex("token_secrets_ending")
    .on("token_secrets")
    .column("expires_at")
    .where(sql.ref("expires_at"), "is not", null)
    .where(sql.ref("ended_announced"), "=", 0)
    .execute();
}
