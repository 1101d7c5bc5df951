import { type Kysely, sql } from "kysely";
import type { AuditAction, AuditEvent, AuditFilter, AuditStore } from "../services/ports.js";
import { type Guard, insertAuditEvents } from "./kysely-store.js";
import { num } from "./rows.js";
import type { Database } from "./schema.js";

/** `text` as a LIKE pattern that matches it anywhere, its own `%`, `_` and `\` taken literally. */
function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The columns `toAuditEvent` reads, from `filtered`'s joins. */
export const AUDIT_EVENT_COLUMNS = [
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
  "actor.external_id as actor_external_id",
  "sk.name as actor_key_name",
  "t.name as token_name",
] as const;

/** The events with their actor (a user or a service key) and token joined, all optional. */
export function auditEventsJoined(db: Kysely<Database>) {
  return (
    db
      .selectFrom("audit_events as e")
      .leftJoin("users as actor", "actor.id", "e.actor_id")
      // Actions taken with a service key name the key as their actor.
      .leftJoin("service_keys as sk", "sk.id", "e.actor_id")
      .leftJoin("tokens as t", "t.id", "e.token_id")
  );
}

export function toAuditEvent(r: {
  id: string;
  application_id: string | null;
  user_id: string | null;
  actor_id: string | null;
  token_id: string | null;
  action: string;
  reason: string | null;
  detail: string;
  ip: string | null;
  created_at: number | string;
  actor_email: string | null;
  actor_external_id: string | null;
  actor_key_name: string | null;
  token_name: string | null;
}): AuditEvent {
  const detail = JSON.parse(r.detail) as AuditEvent["detail"];
  return {
    id: r.id,
    applicationId: r.application_id,
    userId: r.user_id,
    actorId: r.actor_id,
    // A host user may have no email: empty text in storage.
    actorEmail: r.actor_email === "" ? null : r.actor_email,
    actorName:
      r.actor_key_name !== null
        ? `service key "${r.actor_key_name}"`
        : (r.actor_external_id ??
          // The command line records its operator (the OS user) in the detail.
          (r.actor_id === null && typeof detail.operator === "string"
            ? `operator ${detail.operator}`
            : null)),
    tokenId: r.token_id,
    tokenName: r.token_name,
    action: r.action as AuditAction,
    reason: r.reason,
    detail,
    ip: r.ip,
    createdAt: num(r.created_at),
  };
}

export function createKyselyAuditStore(db: Kysely<Database>, guard: Guard): AuditStore {
  /** The events a filter selects, with the actor and token joined (both may be absent). */
  function filtered(filter: AuditFilter) {
    let q = auditEventsJoined(db);
    if (filter.applicationId !== undefined)
      q = q.where("e.application_id", "=", filter.applicationId);
    if (filter.accountUserId !== undefined) {
      q = q.where("e.user_id", "=", filter.accountUserId).where("e.application_id", "is", null);
    }
    if (filter.tokenOwnerId !== undefined) q = q.where("t.user_id", "=", filter.tokenOwnerId);
    if (filter.tokenId !== undefined) q = q.where("e.token_id", "=", filter.tokenId);
    if (filter.action !== undefined) q = q.where("e.action", "=", filter.action);
    if (filter.search !== undefined && filter.search !== "") {
      const pattern = containsPattern(filter.search);
      // lower() on both sides: PostgreSQL's LIKE is case-sensitive, SQLite's is not.
      q = q.where((eb) =>
        eb.or([
          eb(sql`lower(actor.email)`, "like", sql`${pattern} escape '\\'`),
          eb(sql`lower(sk.name)`, "like", sql`${pattern} escape '\\'`),
          eb(sql`lower(t.name)`, "like", sql`${pattern} escape '\\'`),
        ]),
      );
    }
    return q;
  }

  return {
    hasSignedInFrom: (userId, ip, since) =>
      guard(async () => {
        const row = await db
          .selectFrom("audit_events")
          .select("id")
          .where("user_id", "=", userId)
          .where("action", "=", "signin.succeeded")
          .where("ip", "=", ip)
          .where("created_at", ">=", since)
          .limit(1)
          .executeTakeFirst();
        return row !== undefined;
      }),
    ipv6SigninAddresses: (userId, since, limit) =>
      guard(async () => {
        const rows = await db
          .selectFrom("audit_events")
          .select("ip")
          .where("user_id", "=", userId)
          .where("action", "=", "signin.succeeded")
          .where("created_at", ">=", since)
          .where("ip", "like", "%:%")
          .groupBy("ip")
          .orderBy((eb) => eb.fn.max("created_at"), "desc")
          .limit(limit)
          .execute();
        return rows.flatMap((row) => (row.ip === null ? [] : [row.ip]));
      }),
    record: (events) => guard(() => insertAuditEvents(db, events)),
    count: (filter) =>
      guard(async () => {
        const row = await filtered(filter)
          .select((eb) => eb.fn.countAll<number | string>().as("total"))
          .executeTakeFirst();
        return row ? num(row.total) : 0;
      }),
    list: (query) =>
      guard(async () => {
        let q = filtered(query).select([...AUDIT_EVENT_COLUMNS]);
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
        return rows.map(toAuditEvent);
      }),
  };
}
