import { randomBytes } from "node:crypto";
import type { InsertQueryBuilder, InsertResult, Kysely, Transaction } from "kysely";
import { StorageUnavailableError } from "../core/errors.js";
import type { AuditEvents, StoreStats } from "../services/ports.js";
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
    else if (!/^\s*(begin|commit|rollback|savepoint|release|pragma)\b/i.test(sql)) stats.writes++;
  };
}

/** Runs each `work` in a transaction of its own on `db`. */
export function transactionsOf(db: Kysely<Database>): RunTransaction {
  return (work) => db.transaction().execute(work);
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

/**
 * The one place that writes audit rows. Pass the transaction of the change the events
 * record, so both commit or neither does; `db` only for events that stand alone.
 */
export async function insertAuditEvents(
  executor: Kysely<Database>,
  events: AuditEvents,
): Promise<void> {
  if (events.length === 0) return;
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
}
