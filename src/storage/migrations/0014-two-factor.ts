import type { Kysely } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // Kysely records a SQLite migration after `up` returns, outside any transaction: after a
  // crash in between it runs again, so every step is "if not exists".

  // A user's TOTP secret (RFC 6238), kept as is: checking a code needs the secret itself.
  // `confirmed_at` null: an enrollment not yet confirmed, so two-factor is still off.
  // `last_used_step`: codes of that 30-second step and earlier are refused (no replay).
  await db.schema
    .createTable("two_factor")
    .ifNotExists()
    .addColumn("user_id", "text", (c) => c.primaryKey().references("users.id").onDelete("cascade"))
    .addColumn("secret", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("confirmed_at", "bigint")
    .addColumn("last_used_step", "bigint")
    .execute();
  // Recovery codes by SHA-256 only; each works once (`used_at`).
  await db.schema
    .createTable("recovery_codes")
    .ifNotExists()
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("code_hash", "text", (c) => c.notNull())
    .addColumn("used_at", "bigint")
    .addPrimaryKeyConstraint("recovery_codes_pk", ["user_id", "code_hash"])
    .execute();
}
