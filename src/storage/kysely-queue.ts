import { type Kysely, PostgresAdapter, sql } from "kysely";
import type { Database } from "./schema.js";

/** The queues of work done later, by time: emails to send and webhook deliveries. */
type QueueTable = "mail_outbox" | "webhook_deliveries";

/**
 * Takes up to `limit` pending rows of `table` that are due at `now` and not claimed by
 * another pass (or whose claim ran out), claiming them until `lockUntil` and counting the
 * attempt; returns `columns` of each. What `recordAttempt` matches its result on is the
 * claim: `locked_until` equal to `lockUntil`.
 */
export async function claimDueRows<Row>(
  db: Kysely<Database>,
  table: QueueTable,
  columns: readonly (keyof Row & string)[],
  now: number,
  limit: number,
  lockUntil: number,
): Promise<Row[]> {
  // A read first: the queue is empty nearly always, and a poll every second must not
  // take SQLite's write lock (or count as a write) for nothing.
  const any = await sql`select id from ${sql.table(table)}
    where status = 'pending' and next_attempt_at <= ${now} limit 1`.execute(db);
  if (any.rows.length === 0) return [];
  // One statement chooses and takes the rows. On PostgreSQL, SKIP LOCKED lets two
  // processes claim side by side, each getting rows the other did not lock; the
  // re-checked WHERE after a wait keeps a row from being taken twice. SQLite has one
  // writer, so the statement alone is enough.
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const due = sql`select id from ${sql.table(table)}
    where status = 'pending' and next_attempt_at <= ${now}
      and (locked_until is null or locked_until <= ${now})
    order by next_attempt_at limit ${limit}${sql.raw(postgres ? " for update skip locked" : "")}`;
  const result = await sql<Row>`update ${sql.table(table)}
    set locked_until = ${lockUntil}, attempts = attempts + 1
    where id in (${due})
      and status = 'pending' and (locked_until is null or locked_until <= ${now})
    returning ${sql.join(columns.map((c) => sql.ref(c)))}`.execute(db);
  return result.rows;
}

/**
 * Marks, in `trx`, up to `limit` live tokens that expire after `now` and by `horizon` and
 * are not yet marked in `column` (each notice has its own), and returns them. A
 * conditional update: of two processes racing, the second waits for the first's row
 * locks (PostgreSQL) or its write (SQLite), then finds them marked.
 */
export function markTokensExpiring(
  trx: Kysely<Database>,
  column: "expiry_reminder_sent_at" | "expiring_sent_at",
  now: number,
  horizon: number,
  limit: number,
) {
  const candidates = trx
    .selectFrom("tokens")
    .select("id")
    .where("revoked_at", "is", null)
    .where("expires_at", "is not", null)
    .where("expires_at", ">", now)
    .where("expires_at", "<=", horizon)
    .where(column, "is", null)
    .limit(limit);
  return trx
    .updateTable("tokens")
    .set({ [column]: now })
    .where("id", "in", candidates)
    .where(column, "is", null)
    .where("revoked_at", "is", null)
    .returning(["id", "application_id", "user_id"])
    .execute();
}
