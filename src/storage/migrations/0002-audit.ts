import type { Kysely } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // The audit trail. `detail` is JSON without secrets: ids, names, reasons, never a
  // token, hash, password or cookie.
  await db.schema
    .createTable("audit_events")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("application_id", "text")
    .addColumn("user_id", "text")
    .addColumn("actor_id", "text")
    .addColumn("token_id", "text")
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("reason", "text")
    .addColumn("detail", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("ip", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("audit_events_app")
    .on("audit_events")
    .columns(["application_id", "created_at"])
    .execute();
  await db.schema
    .createIndex("audit_events_token")
    .on("audit_events")
    .columns(["token_id", "created_at"])
    .execute();
  await db.schema
    .createIndex("audit_events_user")
    .on("audit_events")
    .columns(["user_id", "created_at"])
    .execute();

  // A revoked or expired token that is still presented: a forgotten integration or an
  // attacker. Counted in memory and written with the usage flushes.
  await db.schema
    .alterTable("tokens")
    .addColumn("refused_count", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable("tokens").addColumn("refused_last_at", "bigint").execute();
}
