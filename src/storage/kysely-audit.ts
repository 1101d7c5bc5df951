import type { Kysely } from "kysely";
import type { AuditAction, AuditEvent, AuditStore } from "../services/ports.js";
import { type Guard, insertAuditEvents } from "./kysely-store.js";
import { num } from "./rows.js";
import type { Database } from "./schema.js";

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
