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
  const addColumn = async (table: string, column: string) => {
    if (sqlite && (await hasColumn(db, table, column))) return;
    await db.schema.alterTable(table).addColumn(column, "bigint").execute();
  };
  // When the account's owner opened the confirmation link sent to its email; null: never.
  await addColumn("users", "email_confirmed_at");
  // When the expiry reminder email was queued for the token's owner: set once, by one
  // process. Its own mark, apart from the `token.expiring` webhook's.
  await addColumn("tokens", "expiry_reminder_sent_at");

  // One-time codes behind the links an email carries (address confirmation, password
  // reset): only their SHA-256 is kept, and `used_at` makes each work once.
  await db.schema
    .createTable("account_codes")
    .ifNotExists()
    .addColumn("hash", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("purpose", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .addColumn("used_at", "bigint")
    .execute();
  await db.schema
    .createIndex("account_codes_user")
    .ifNotExists()
    .on("account_codes")
    .columns(["user_id", "purpose"])
    .execute();

  // The outgoing email queue. A change writes its email here in its own transaction; a
  // worker in each server process claims due rows (moving `locked_until` forward), sends
  // and records the outcome. `data` is what the message is rendered from, emptied once sent.
  await db.schema
    .createTable("mail_outbox")
    .ifNotExists()
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("recipient", "text", (c) => c.notNull())
    .addColumn("data", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
    .addColumn("locked_until", "bigint")
    .addColumn("sent_at", "bigint")
    .addColumn("last_error", "text")
    .execute();
  await db.schema
    .createIndex("mail_outbox_due")
    .ifNotExists()
    .on("mail_outbox")
    .columns(["status", "next_attempt_at"])
    .execute();
}
