import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // Kysely records a SQLite migration after `up` returns, outside any transaction: after a
  // crash in between it runs again, so every step checks what is already there.
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  const sessionColumns = sqlite
    ? (await sql<{ name: string }>`pragma table_info(sessions)`.execute(db)).rows.map((c) => c.name)
    : [];
  const addSessionColumn = async (name: string, type: "text" | "bigint") => {
    if (sqlite && sessionColumns.includes(name)) return;
    await db.schema.alterTable("sessions").addColumn(name, type).execute();
  };
  // A session's public id (the session list names sessions by it, never by the cookie's
  // hash), when it was last used (idle expiry), where from, and when its user last typed
  // their password (recent sign-in for sensitive actions).
  await addSessionColumn("public_id", "text");
  await addSessionColumn("last_seen_at", "bigint");
  await addSessionColumn("user_agent", "text");
  await addSessionColumn("address", "text");
  await addSessionColumn("reauthenticated_at", "bigint");
  // Sessions from before this migration: an id from their hash's start (the hash of a
  // secret, not the secret), last seen and authenticated when they began.
  await sql`update sessions set public_id = 'ses_' || substr(id_hash, 1, 20) where public_id is null`.execute(
    db,
  );
  await sql`update sessions set last_seen_at = created_at where last_seen_at is null`.execute(db);
  await sql`update sessions set reauthenticated_at = created_at where reauthenticated_at is null`.execute(
    db,
  );
  // Invitations to an application, by email: nobody is a member until they accept.
  await db.schema
    .createTable("invitations")
    .ifNotExists()
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("application_id", "text", (c) =>
      c.notNull().references("applications.id").onDelete("cascade"),
    )
    .addColumn("email", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("inviter_id", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("invitations_application_email")
    .ifNotExists()
    .unique()
    .on("invitations")
    .columns(["application_id", "email"])
    .execute();
  await db.schema
    .createIndex("invitations_email")
    .ifNotExists()
    .on("invitations")
    .column("email")
    .execute();
  await db.schema
    .createIndex("sessions_public_id")
    .ifNotExists()
    .unique()
    .on("sessions")
    .column("public_id")
    .execute();
}
