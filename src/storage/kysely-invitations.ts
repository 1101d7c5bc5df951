import type { Kysely } from "kysely";
import type { InvitationRecord, InvitationStore } from "../services/ports.js";
import { type Guard, insertAuditEvents } from "./kysely-store.js";
import type { Database, InvitationsTable } from "./schema.js";

function toInvitation(row: InvitationsTable): InvitationRecord {
  return {
    id: row.id,
    applicationId: row.application_id,
    email: row.email,
    role: row.role,
    inviterId: row.inviter_id,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}

export function createKyselyInvitationStore(db: Kysely<Database>, guard: Guard): InvitationStore {
  return {
    putInvitation: (invitation, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          await trx
            .deleteFrom("invitations")
            .where("application_id", "=", invitation.applicationId)
            .where("email", "=", invitation.email)
            .execute();
          await trx
            .insertInto("invitations")
            .values({
              id: invitation.id,
              application_id: invitation.applicationId,
              email: invitation.email,
              role: invitation.role,
              inviter_id: invitation.inviterId,
              created_at: invitation.createdAt,
              expires_at: invitation.expiresAt,
            })
            .execute();
          if (audit.length > 0) await insertAuditEvents(trx, audit);
        }),
      ),
    listForApplication: (applicationId, now) =>
      guard(async () => {
        const rows = await db
          .selectFrom("invitations")
          .selectAll()
          .where("application_id", "=", applicationId)
          .where("expires_at", ">", now)
          .orderBy("created_at")
          .orderBy("id")
          .execute();
        return rows.map(toInvitation);
      }),
    listForEmail: (email, now) =>
      guard(async () => {
        const rows = await db
          .selectFrom("invitations as i")
          .innerJoin("applications as a", "a.id", "i.application_id")
          .leftJoin("users as u", "u.id", "i.inviter_id")
          .selectAll("i")
          .select(["a.name as application_name", "u.email as inviter_email"])
          .where("i.email", "=", email)
          .where("i.expires_at", ">", now)
          .orderBy("i.created_at")
          .orderBy("i.id")
          .execute();
        return rows.map((row) => ({
          ...toInvitation(row),
          applicationName: row.application_name,
          inviterEmail: row.inviter_email ?? "",
        }));
      }),
    takeInvitation: (match, audit, accept) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          let query = trx
            .selectFrom("invitations")
            .selectAll()
            .where("id", "=", match.id)
            .where("expires_at", ">", match.now);
          if (match.applicationId !== undefined)
            query = query.where("application_id", "=", match.applicationId);
          if (match.email !== undefined) query = query.where("email", "=", match.email);
          const row = await query.executeTakeFirst();
          if (!row) return undefined;
          const deleted = await trx
            .deleteFrom("invitations")
            .where("id", "=", row.id)
            .executeTakeFirst();
          // Taken by a concurrent accept, decline or withdrawal.
          if (Number(deleted.numDeletedRows) === 0) return undefined;
          const invitation = toInvitation(row);
          if (accept) {
            await trx
              .insertInto("memberships")
              .values({
                application_id: invitation.applicationId,
                user_id: accept.userId,
                role: invitation.role,
                created_at: match.now,
              })
              .onConflict((oc) => oc.doNothing())
              .execute();
          }
          const events = audit(invitation);
          if (events.length > 0) await insertAuditEvents(trx, events);
          return invitation;
        }),
      ),
  };
}
