import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
async function hasColumn(db: Kysely<any>, table: string, column: string): Promise<boolean> {
  const columns = await sql<{ name: string }>`pragma table_info(${sql.raw(table)})`.execute(db);
  return columns.rows.some((c) => c.name === column);
}

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // Kysely records a SQLite migration after `up` returns, outside any transaction: after a
  // crash in between it runs again, so every step checks what is already there.
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  const addColumn = async (table: string, column: string, type: "integer" | "bigint") => {
    if (sqlite && (await hasColumn(db, table, column))) return;
    await db.schema.alterTable(table).addColumn(column, type).execute();
  };
  // Token policies: null means no limit.
  await addColumn("applications", "policy_max_lifetime_days", "integer");
  await addColumn("applications", "policy_revoke_unused_days", "integer");
  // When `token.expiring` was queued for the token's webhooks: set once, by one process.
  await addColumn("tokens", "expiring_sent_at", "bigint");
  // When `token.refused` was last queued: at most once per token per hour.
  await addColumn("tokens", "refused_event_at", "bigint");

  await db.schema
    .createTable("webhooks")
    .ifNotExists()
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("application_id", "text", (c) => c.notNull())
    .addColumn("url", "text", (c) => c.notNull())
    // JSON array of event types.
    .addColumn("events", "text", (c) => c.notNull())
    // The signing key; HMAC needs it in the clear (as Stripe and Svix keep theirs).
    .addColumn("secret", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("created_by", "text")
    .addColumn("deleted_at", "bigint")
    .execute();
  await db.schema
    .createIndex("webhooks_application")
    .ifNotExists()
    .on("webhooks")
    .columns(["application_id", "created_at"])
    .execute();

  // The delivery queue: one row per (webhook, event); `id` is the `webhook-id` header and
  // stays the same across retries. A process claims a row by moving `locked_until` forward.
  await db.schema
    .createTable("webhook_deliveries")
    .ifNotExists()
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("webhook_id", "text", (c) => c.notNull())
    .addColumn("application_id", "text", (c) => c.notNull())
    .addColumn("event_type", "text", (c) => c.notNull())
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
    .addColumn("locked_until", "bigint")
    .addColumn("last_attempt_at", "bigint")
    .addColumn("last_status", "integer")
    .addColumn("last_error", "text")
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_due")
    .ifNotExists()
    .on("webhook_deliveries")
    .columns(["status", "next_attempt_at"])
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_webhook")
    .ifNotExists()
    .on("webhook_deliveries")
    .columns(["webhook_id", "created_at"])
    .execute();

  // Jobs that one process at a time runs (the policy sweeper): the holder and until when.
  await db.schema
    .createTable("job_leases")
    .ifNotExists()
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("holder", "text", (c) => c.notNull())
    .addColumn("until", "bigint", (c) => c.notNull())
    .execute();
}
