import { type Kysely, PostgresAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

/** How long the migration waits for the lock it needs on `tokens` before it gives up. */
const LOCK_WAIT = "5s";

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL only. A usage row's foreign key to its token made every new row of a usage
  // flush lock the token's row (FOR KEY SHARE), a write into the largest table for each
  // token counted. Every token a flush counts came out of a lookup that joined its row,
  // and no statement deletes a token (nor the application or user its row cascades from),
  // so the key checked nothing the code does not already hold. SQLite keeps the
  // constraint in its schema (dropping one means rebuilding the table) and its usage flush
  // turns the check off instead.
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  const { rows } = await sql<{ name: string }>`
    select conname as name from pg_constraint
    where conrelid = 'token_usage_daily'::regclass
      and confrelid = 'tokens'::regclass
      and contype = 'f'`.execute(db);
  if (rows.length === 0) return;
  // Dropping the key takes an exclusive lock on `tokens` as well, until the migrations
  // commit: waiting behind a long transaction (a dump) would hold up every token lookup of
  // the processes already running. Better to fail and be started again.
  await sql.raw(`set local lock_timeout = '${LOCK_WAIT}'`).execute(db);
  try {
    for (const { name } of rows)
      await sql`alter table token_usage_daily drop constraint ${sql.id(name)}`.execute(db);
  } catch (error) {
    if ((error as { code?: unknown }).code === "55P03")
      throw new Error(
        `Migration 0019 could not lock the tokens table within ${LOCK_WAIT}: another transaction holds it (a dump, or a long query). Start this process again once it has ended.`,
        { cause: error },
      );
    throw error;
  }
  await sql`set local lock_timeout to default`.execute(db);
}
