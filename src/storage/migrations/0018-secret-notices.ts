import { type Kysely, PostgresAdapter, sql } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL only. Every process keeps a filter of the first 32 bits of every stored
  // secret hash (src/storage/postgres/pg-secret-filter.ts), so a made-up token is refused
  // without a lookup. The filter stays complete because every insert of a secret, by any
  // writer (this version or an earlier one, the command line, an operator's own SQL),
  // announces its prefixes on this channel in the inserting transaction: PostgreSQL
  // delivers it at commit, in commit order. One statement-level trigger, so an import of
  // many secrets sends one notice per 800 prefixes (9 bytes each, under the 8000-byte
  // payload limit), not one per row. Text that does not start with 8 hex digits (never a
  // hash Keyward stores) is announced as 00000000. SQLite needs none: one process writes
  // its file, and the command line announces what it imports.
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    create or replace function keyward_announce_secrets() returns trigger
    language plpgsql as $$
    declare
      payload text;
    begin
      for payload in
        select string_agg(
          case when hash ~ '^[0-9a-f]{8}' then left(hash, 8) else '00000000' end, ',')
        from (select hash, (row_number() over () - 1) / 800 as chunk from added_secrets) numbered
        group by chunk
      loop
        perform pg_notify('keyward_secrets_added', payload);
      end loop;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger token_secrets_announce
    after insert on token_secrets
    referencing new table as added_secrets
    for each statement execute function keyward_announce_secrets()`.execute(db);
}
