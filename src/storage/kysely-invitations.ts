import { type Kysely, sql } from "kysely";
import type { InvitationRecord, InvitationStore } from "../services/ports.js";
import { type Guard, insertAuditEvents } from "./kysely-store.js";
import type { Database, InvitationsTable } from "./schema.js";

/** An invitation carries its inviter's authority only while they are an owner or admin. */
function inviterStillManages(invitations: "invitations" | "i") {
  return sql<boolean>`exists (select 1 from memberships m
    where m.application_id = ${sql.ref(`${invitations}.application_id`)}
      and m.user_id = ${sql.ref(`${invitations}.inviter_id`)}
      and m.role in ('owner', 'admin'))`;
}

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
          // One statement, so two managers inviting the same email at once both succeed
          // (the later one wins) instead of one of them hitting the unique index.
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
            .onConflict((oc) =>
              oc.columns(["application_id", "email"]).doUpdateSet({
                id: invitation.id,
                role: invitation.role,
                inviter_id: invitation.inviterId,
                created_at: invitation.createdAt,
                expires_at: invitation.expiresAt,
              }),
            )
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
          .where(inviterStillManages("invitations"))
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
          .where(inviterStillManages("i"))
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
          if (!accept) {
            const events = audit(invitation);
            if (events.length > 0) await insertAuditEvents(trx, events);
            return { ...invitation, alreadyMember: false };
          }
          const inviter = await trx
            .selectFrom("memberships")
            .select("role")
            .where("application_id", "=", invitation.applicationId)
            .where("user_id", "=", invitation.inviterId)
            .executeTakeFirst();
          // Deleted above all the same: the authority it carried is gone.
          if (inviter?.role !== "owner" && inviter?.role !== "admin") return undefined;
          const inserted = await trx
            .insertInto("memberships")
            .values({
              application_id: invitation.applicationId,
              user_id: accept.userId,
              role: invitation.role,
              created_at: match.now,
            })
            .onConflict((oc) => oc.doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0)
            return { ...invitation, alreadyMember: true };
          const events = audit(invitation);
          if (events.length > 0) await insertAuditEvents(trx, events);
          return { ...invitation, alreadyMember: false };
        }),
      ),
  };
}
