import type { Kysely } from "kysely";

// Frozen in time: a migration describes the schema as it was on the day it was written,
// so it uses Kysely<any> and imports nothing from the application.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("email", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("password_hash", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("sessions")
    .addColumn("id_hash", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("sessions_user_id").on("sessions").column("user_id").execute();
  await db.schema.createIndex("sessions_expires_at").on("sessions").column("expires_at").execute();

  await db.schema
    .createTable("applications")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("owner_id", "text", (c) => c.notNull().references("users.id"))
    .addColumn("scopes", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("memberships")
    .addColumn("application_id", "text", (c) =>
      c.notNull().references("applications.id").onDelete("cascade"),
    )
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("memberships_pk", ["application_id", "user_id"])
    .execute();
  await db.schema.createIndex("memberships_user_id").on("memberships").column("user_id").execute();

  await db.schema
    .createTable("tokens")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("application_id", "text", (c) =>
      c.notNull().references("applications.id").onDelete("cascade"),
    )
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("hint", "text", (c) => c.notNull())
    .addColumn("scopes", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint")
    .addColumn("last_used_at", "bigint")
    .addColumn("revoked_at", "bigint")
    .addColumn("revoked_reason", "text")
    .addColumn("revoked_by", "text")
    .execute();
  await db.schema
    .createIndex("tokens_owner")
    .on("tokens")
    .columns(["application_id", "user_id", "created_at"])
    .execute();

  // Each secret a token has had: the current one, and old ones kept alive for a grace
  // period after a regeneration. Only the SHA-256 of a secret is ever stored.
  await db.schema
    .createTable("token_secrets")
    .addColumn("hash", "text", (c) => c.primaryKey())
    .addColumn("token_id", "text", (c) => c.notNull().references("tokens.id").onDelete("cascade"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint")
    .execute();
  await db.schema
    .createIndex("token_secrets_token_id")
    .on("token_secrets")
    .column("token_id")
    .execute();

  // One row per token per day with use: a flush upserts a few small rows instead of
  // appending one row per request.
  await db.schema
    .createTable("token_usage_daily")
    .addColumn("token_id", "text", (c) => c.notNull().references("tokens.id").onDelete("cascade"))
    .addColumn("day", "text", (c) => c.notNull())
    .addColumn("requests", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("token_usage_daily_pk", ["token_id", "day"])
    .execute();
}
