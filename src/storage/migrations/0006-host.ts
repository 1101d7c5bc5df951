import { type Kysely, SqliteAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

/**
 * Keyward inside a host product: service keys, host users, portal codes, sessions scoped
 * to one application, and each application's return origins and branding.
 *
 * Host users live in `users` (tokens, memberships and the audit trail name them like any
 * account) with the application that created them and the host's id for them. An email is
 * then unique among accounts only: a host user may carry any email, an account's included,
 * and is never found by sign-in.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await inOneSqliteTransaction(db, async () => {
      // Kysely records a migration after `up` returns: after a crash in between, it runs
      // again on a database it already changed, and then does nothing.
      const done = await sql<{ name: string }>`
        select name from sqlite_master where type = 'table' and name = 'service_keys'`.execute(db);
      if (done.rows.length > 0) return;
      await rebuildUsersForSqlite(db);
      await addHostTables(db);
    });
    return;
  }
  // PostgreSQL runs each migration in a transaction of its own.
  await changeUsersForPostgres(db);
  await addHostTables(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see above
async function addHostTables(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("sessions")
    .addColumn("application_id", "text", (c) => c.references("applications.id").onDelete("cascade"))
    .execute();
  await db.schema.alterTable("sessions").addColumn("return_url", "text").execute();

  await db.schema
    .alterTable("applications")
    .addColumn("return_origins", "text", (c) => c.notNull().defaultTo("[]"))
    .execute();
  await db.schema.alterTable("applications").addColumn("branding", "text").execute();

  await db.schema
    .createTable("service_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("application_id", "text", (c) =>
      c.notNull().references("applications.id").onDelete("cascade"),
    )
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("hint", "text", (c) => c.notNull())
    .addColumn("secret_hash", "text", (c) => c.notNull().unique())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("created_by", "text")
    .addColumn("last_used_at", "bigint")
    .addColumn("revoked_at", "bigint")
    .addColumn("revoked_by", "text")
    .execute();
  await db.schema
    .createIndex("service_keys_app")
    .on("service_keys")
    .columns(["application_id", "created_at"])
    .execute();

  // One-time portal links: only the SHA-256 of the code is kept.
  await db.schema
    .createTable("portal_codes")
    .addColumn("code_hash", "text", (c) => c.primaryKey())
    .addColumn("application_id", "text", (c) =>
      c.notNull().references("applications.id").onDelete("cascade"),
    )
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("return_url", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .addColumn("used_at", "bigint")
    .execute();
  await db.schema
    .createIndex("portal_codes_expires_at")
    .on("portal_codes")
    .column("expires_at")
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
async function changeUsersForPostgres(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("users")
    .addColumn("application_id", "text", (c) => c.references("applications.id"))
    .execute();
  await db.schema.alterTable("users").addColumn("external_id", "text").execute();
  await sql`alter table users drop constraint if exists users_email_key`.execute(db);
  await createUserIndexes(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see above
async function createUserIndexes(db: Kysely<any>): Promise<void> {
  await sql`create unique index users_account_email on users (email)
    where application_id is null`.execute(db);
  await sql`create unique index users_host_external_id on users (application_id, external_id)
    where external_id is not null`.execute(db);
}

/**
 * Kysely runs SQLite migrations outside a transaction; this one makes its own, with foreign
 * keys off (the users table is rebuilt) and checked before the commit, so a crash leaves
 * the schema as it was.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above
async function inOneSqliteTransaction(db: Kysely<any>, work: () => Promise<void>): Promise<void> {
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    await sql`begin immediate`.execute(db);
    try {
      await work();
      const violations = await sql`pragma foreign_key_check`.execute(db);
      if (violations.rows.length > 0) {
        throw new Error(
          `foreign key check failed after rebuilding users: ${violations.rows.length} rows`,
        );
      }
      await sql`commit`.execute(db);
    } catch (error) {
      await sql`rollback`.execute(db);
      throw error;
    }
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}

/**
 * SQLite cannot drop a column's UNIQUE constraint: the table is rebuilt the way SQLite
 * documents (as in 0005).
 */
// biome-ignore lint/suspicious/noExplicitAny: see above
async function rebuildUsersForSqlite(db: Kysely<any>): Promise<void> {
  await sql`create table users_rebuild (
          id text primary key,
          email text not null,
          name text not null,
          password_hash text not null,
          created_at bigint not null,
          application_id text references applications (id),
          external_id text
        )`.execute(db);
  await sql`insert into users_rebuild (id, email, name, password_hash, created_at)
          select id, email, name, password_hash, created_at from users`.execute(db);
  await sql`drop table users`.execute(db);
  await sql`alter table users_rebuild rename to users`.execute(db);
  await createUserIndexes(db);
}
