import { randomBytes } from "node:crypto";
import {
  type InsertQueryBuilder,
  type InsertResult,
  type Kysely,
  PostgresAdapter,
  sql,
  type Transaction,
} from "kysely";
import { StorageUnavailableError } from "../core/errors.js";
import type { AuditEvents, RevocationEventType, StoreStats } from "../services/ports.js";
import { enqueueMailNotices, isMailNoticeEvent, sendsMailNotices } from "./kysely-mail-queue.js";
import { enqueueWebhookEvents, webhookEventsOf } from "./kysely-webhook-queue.js";
import type { Database } from "./schema.js";

// What every Kysely port implementation (kysely-accounts, -applications, -tokens, -usage,
// -audit, -counters) shares. A dialect's store (sqlite/, postgres/) composes them through
// composeKyselyStore (kysely-compose), passing in what is its own as plain values.

/** Runs a storage operation, turning driver errors that mean "unreachable" into one fault. */
export type Guard = <T>(operation: () => Promise<T>) => Promise<T>;

/** Runs `work` in one transaction. */
export type RunTransaction = <T>(work: (trx: Transaction<Database>) => Promise<T>) => Promise<T>;

/** Serializes token creation for one owner in one application, for the rest of `trx`. */
export type LockOwnerTokens = (
  trx: Transaction<Database>,
  applicationId: string,
  userId: string,
) => Promise<void>;

export interface StorageFaults {
  guard: Guard;
  /** The error `guard` would throw for `error`, for a caller that cannot await. */
  toFault(error: unknown): unknown;
  /** From now on every driver error means "unavailable" (shutdown with requests in flight). */
  markClosed(): void;
}

/**
 * Maps driver errors for which `isUnavailable` holds (storage cannot be reached right
 * now, answered with 503) to a StorageUnavailableError; others pass through.
 */
export function createStorageFaults(isUnavailable: (error: unknown) => boolean): StorageFaults {
  let closed = false;
  const toFault = (error: unknown): unknown =>
    closed || isUnavailable(error) ? new StorageUnavailableError(error) : error;
  return {
    guard: async (operation) => {
      try {
        return await operation();
      } catch (error) {
        throw toFault(error);
      }
    },
    toFault,
    markClosed: () => {
      closed = true;
    },
  };
}

/** A Kysely `log` callback that counts statements into `stats`. */
export function countStatements(stats: StoreStats) {
  return (event: { query: { sql: string } }) => {
    const sql = event.query.sql;
    if (/^\s*(select|with)\b/i.test(sql)) stats.reads++;
    // Connection settings (a flush's synchronous level) and transaction control are neither.
    else if (!/^\s*(begin|commit|rollback|savepoint|release|pragma|set)\b/i.test(sql))
      stats.writes++;
  };
}

/**
 * Runs a one-statement change under `guard` and, when `changed` says it happened, writes
 * its audit events in the same transaction: one commit (one fsync on SQLite), and never a
 * change without its event. Without events the statement runs alone, as it always has.
 */
export function writeAudited<T>(
  db: Kysely<Database>,
  guard: Guard,
  audit: AuditEvents | undefined,
  change: (executor: Kysely<Database>) => Promise<T>,
  changed: (result: T) => boolean,
): Promise<T> {
  return guard(() => {
    if (audit === undefined || audit.length === 0) return change(db);
    return db.transaction().execute(async (trx) => {
      const result = await change(trx);
      if (changed(result)) await insertAuditEvents(trx, audit);
      return result;
    });
  });
}

/**
 * Inserts one row unless a unique key already holds one (then `reason`), with its audit
 * events when it went in. DO NOTHING rather than catching the unique violation: on
 * PostgreSQL a failed statement aborts the transaction, and the caller's may hold more
 * writes.
 */
export function insertUnlessPresent<Table extends keyof Database, Reason extends string>(
  db: Kysely<Database>,
  guard: Guard,
  audit: AuditEvents | undefined,
  insert: (executor: Kysely<Database>) => InsertQueryBuilder<Database, Table, InsertResult>,
  reason: Reason,
): Promise<{ ok: true } | { ok: false; reason: Reason }> {
  return writeAudited(
    db,
    guard,
    audit,
    async (executor) => {
      const result = await insert(executor)
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows) > 0
        ? ({ ok: true } as const)
        : ({ ok: false, reason } as const);
    },
    (result) => result.ok,
  );
}

let sequence = 0;

/** Ids sort by time, then by a per-process sequence, so keyset pagination is stable. */
function eventId(createdAt: number): string {
  sequence = (sequence + 1) % 1_000_000;
  const random = randomBytes(6).toString("hex");
  return `evt_${createdAt.toString(36).padStart(9, "0")}${sequence.toString(36).padStart(4, "0")}${random}`;
}

/** The revocation stream's events that audit events stand for. */
function revocationEventsOf(events: AuditEvents): RevocationEventRow[] {
  const rows: RevocationEventRow[] = [];
  for (const e of events) {
    if (e.applicationId === null || e.tokenId === null) continue;
    let type: RevocationEventType | undefined;
    // Revocation, member or host-user removal, leak report, policy: all record token.revoked.
    if (e.action === "token.revoked") type = "token.revoked";
    // Without grace the old secret ends now; with grace, announceEndedSecrets sends it later.
    else if (e.action === "token.regenerated" && e.detail.graceSeconds === 0) type = "secret.ended";
    // An old secret in its grace period reported leaked: it ends now, the token lives on.
    else if (e.action === "token.secret_ended") type = "secret.ended";
    if (type === undefined) continue;
    rows.push({ application_id: e.applicationId, token_id: e.tokenId, type, at: e.createdAt });
  }
  return rows;
}

export interface RevocationEventRow {
  application_id: string;
  token_id: string;
  type: RevocationEventType;
  at: number;
}

// Advisory lock key (two-int form, as in postgres-store.ts): Keyward's namespace, then the stream.
const LOCK_NAMESPACE_REVOCATION_STREAM = 0x4b57_0003;

/**
 * Appends events to the revocation stream, in `trx`, the transaction of the change. On
 * PostgreSQL a sequence hands out numbers at insert time, not at commit: two writers could
 * commit 8 before 7, and a reader that has passed 8 would never see 7. Writers take turns
 * from here to their commit (a transaction-level lock, released after the commit is
 * visible), so events commit in `seq` order. Taken last, just before the insert, so it is
 * held for the length of one insert and the commit, and never while waiting for a row.
 * SQLite has one writer, so it needs nothing.
 */
export async function insertRevocationEvents(
  trx: Kysely<Database>,
  rows: readonly RevocationEventRow[],
): Promise<void> {
  if (rows.length === 0) return;
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NAMESPACE_REVOCATION_STREAM)}, 0)`.execute(
      trx,
    );
  }
  await trx.insertInto("revocation_events").values(rows).execute();
}

/**
 * The one place that writes audit rows. Pass the transaction of the change the events
 * record, so both commit or neither does; `db` only for events that stand alone. Events
 * that end a secret (a revocation, a regeneration without grace) also go to the revocation
 * stream, in the same transaction.
 */
export async function insertAuditEvents(
  executor: Kysely<Database>,
  events: AuditEvents,
): Promise<void> {
  if (events.length === 0) return;
  const revocations = revocationEventsOf(events);
  const webhookEvents = webhookEventsOf(events);
  const mailNotices = sendsMailNotices(executor) && events.some(isMailNoticeEvent);
  if (
    (revocations.length > 0 || webhookEvents.length > 0 || mailNotices) &&
    !executor.isTransaction
  ) {
    // The stream's lock lasts a transaction; outside one it would end before the insert.
    await executor.transaction().execute((trx) => insertAuditEvents(trx, events));
    return;
  }
  await executor
    .insertInto("audit_events")
    .values(
      events.map((e) => ({
        id: eventId(e.createdAt),
        application_id: e.applicationId,
        user_id: e.userId,
        actor_id: e.actorId,
        token_id: e.tokenId,
        action: e.action,
        reason: e.reason,
        detail: JSON.stringify(e.detail),
        ip: e.ip,
        created_at: e.createdAt,
      })),
    )
    .execute();
  await enqueueWebhookEvents(executor, webhookEvents);
  if (mailNotices) await enqueueMailNotices(executor, events);
  await insertRevocationEvents(executor, revocations);
}
