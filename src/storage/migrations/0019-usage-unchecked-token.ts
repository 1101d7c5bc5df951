import { type Kysely, PostgresAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL only. A usage row's foreign key to its token made every new row of a usage
  // flush lock the token's row (FOR KEY SHARE), a write to the largest table for each
  // token counted, and more than half of what a flush of new rows cost PostgreSQL. The key
  // could never fail: every token a flush counts came out of a lookup that joined its row,
  // and no statement deletes a token (so its cascade never ran either). SQLite keeps the
  // constraint in its schema (dropping one means rebuilding the table) and the flush skips
  // the check on its connection instead (asUsageFlush).
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  const { rows } = await sql<{ name: string }>`
    select conname as name from pg_constraint
    where conrelid = 'token_usage_daily'::regclass
      and confrelid = 'tokens'::regclass
      and contype = 'f'`.execute(db);
  for (const { name } of rows)
    await sql`alter table token_usage_daily drop constraint ${sql.id(name)}`.execute(db);
}
