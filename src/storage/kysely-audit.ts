import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { AuditAction, AuditEvent, AuditEvents, AuditStore } from "../services/ports.js";
import type { Guard } from "./kysely-store.js";
import { num } from "./rows.js";
import type { Database } from "./schema.js";

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

export function createKyselyAuditStore(db: Kysely<Database>, guard: Guard): AuditStore {
  return {
    record: (events) => guard(() => insertAuditEvents(db, events)),
    list: (query) =>
      guard(async () => {
        let q = db
          .selectFrom("audit_events as e")
          .leftJoin("users as actor", "actor.id", "e.actor_id")
          .leftJoin("tokens as t", "t.id", "e.token_id")
          .select([
            "e.id",
            "e.application_id",
            "e.user_id",
            "e.actor_id",
            "e.token_id",
            "e.action",
            "e.reason",
            "e.detail",
            "e.ip",
            "e.created_at",
            "actor.email as actor_email",
            "t.name as token_name",
          ]);
        if (query.applicationId !== undefined)
          q = q.where("e.application_id", "=", query.applicationId);
        if (query.accountUserId !== undefined) {
          q = q.where("e.user_id", "=", query.accountUserId).where("e.application_id", "is", null);
        }
        if (query.tokenOwnerId !== undefined) q = q.where("t.user_id", "=", query.tokenOwnerId);
        if (query.tokenId !== undefined) q = q.where("e.token_id", "=", query.tokenId);
        if (query.action !== undefined) q = q.where("e.action", "=", query.action);
        const before = query.before;
        if (before !== undefined) {
          q = q.where((eb) =>
            eb.or([
              eb("e.created_at", "<", before.createdAt),
              eb.and([eb("e.created_at", "=", before.createdAt), eb("e.id", "<", before.id)]),
            ]),
          );
        }
        const rows = await q
          .orderBy("e.created_at", "desc")
          .orderBy("e.id", "desc")
          .limit(query.limit)
          .execute();
        return rows.map(
          (r): AuditEvent => ({
            id: r.id,
            applicationId: r.application_id,
            userId: r.user_id,
            actorId: r.actor_id,
            actorEmail: r.actor_email,
            tokenId: r.token_id,
            tokenName: r.token_name,
            action: r.action as AuditAction,
            reason: r.reason,
            detail: JSON.parse(r.detail) as AuditEvent["detail"],
            ip: r.ip,
            createdAt: num(r.created_at),
          }),
        );
      }),
  };
}

/**
 * Runs a one-statement change and, when `changed` says it happened, writes its audit
 * events in the same transaction: one commit (one fsync on SQLite), and never a change
 * without its event. Without events the statement runs alone, as it always has.
 */
export function writeAudited<T>(
  db: Kysely<Database>,
  audit: AuditEvents | undefined,
  change: (executor: Kysely<Database>) => Promise<T>,
  changed: (result: T) => boolean,
): Promise<T> {
  if (audit === undefined || audit.length === 0) return change(db);
  return db.transaction().execute(async (trx) => {
    const result = await change(trx);
    if (changed(result)) await insertAuditEvents(trx, audit);
    return result;
  });
}
