import type { Kysely } from "kysely";
import type { Application, Role } from "../core/model.js";
import type { ApplicationStore } from "../services/ports.js";
import {
  type Guard,
  insertAuditEvents,
  insertUnlessPresent,
  type LockOwnerTokens,
  writeAudited,
} from "./kysely-store.js";
import { toApplication, toMember } from "./rows.js";
import type { Database } from "./schema.js";

/**
 * `lockOwnerTokens` is the dialect's lock that token creation also takes
 * (createKyselyTokenStore): a member's removal and the creation of their token are ordered.
 */
export function createKyselyApplicationStore(
  db: Kysely<Database>,
  guard: Guard,
  lockOwnerTokens: LockOwnerTokens,
): ApplicationStore {
  return {
    insertApplication: (app: Omit<Application, "policy">) =>
      guard(async () => {
        await db.transaction().execute(async (trx) => {
          await trx
            .insertInto("applications")
            .values({
              id: app.id,
              name: app.name,
              owner_id: app.ownerId,
              scopes: JSON.stringify(app.scopes),
              created_at: app.createdAt,
              return_origins: JSON.stringify(app.returnOrigins),
              branding: app.branding === null ? null : JSON.stringify(app.branding),
            })
            .execute();
          await trx
            .insertInto("memberships")
            .values({
              application_id: app.id,
              user_id: app.ownerId,
              role: "owner",
              created_at: app.createdAt,
            })
            .execute();
        });
      }),
    findApplication: (id) =>
      guard(async () => {
        const row = await db
          .selectFrom("applications")
          .selectAll()
          .where("id", "=", id)
          .executeTakeFirst();
        return row ? toApplication(row) : undefined;
      }),
    updateApplicationSettings: (id, settings, audit) => {
      const changes: {
        return_origins?: string;
        branding?: string | null;
        policy_max_lifetime_days?: number | null;
        policy_revoke_unused_days?: number | null;
      } = {};
      if (settings.policy !== undefined) {
        changes.policy_max_lifetime_days = settings.policy.maxLifetimeDays;
        changes.policy_revoke_unused_days = settings.policy.revokeUnusedAfterDays;
      }
      if (settings.returnOrigins !== undefined) {
        changes.return_origins = JSON.stringify(settings.returnOrigins);
      }
      if (settings.branding !== undefined) {
        changes.branding = settings.branding === null ? null : JSON.stringify(settings.branding);
      }
      return writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          if (Object.keys(changes).length === 0) {
            const row = await executor
              .selectFrom("applications")
              .select("id")
              .where("id", "=", id)
              .executeTakeFirst();
            return row !== undefined;
          }
          const result = await executor
            .updateTable("applications")
            .set(changes)
            .where("id", "=", id)
            .executeTakeFirst();
          return Number(result.numUpdatedRows) > 0;
        },
        (updated) => updated,
      );
    },
    listApplicationsForUser: (userId) =>
      guard(async () => {
        const rows = await db
          .selectFrom("memberships as m")
          .innerJoin("applications as a", "a.id", "m.application_id")
          .select(["a.id", "a.name", "m.role", "a.created_at"])
          .where("m.user_id", "=", userId)
          .orderBy("a.created_at", "asc")
          .orderBy("a.id", "asc")
          .execute();
        return rows.map((r) => ({ id: r.id, name: r.name, role: r.role as Role }));
      }),
    findRole: (applicationId, userId) =>
      guard(async () => {
        const row = await db
          .selectFrom("memberships")
          .select("role")
          .where("application_id", "=", applicationId)
          .where("user_id", "=", userId)
          .executeTakeFirst();
        return row ? (row.role as Role) : undefined;
      }),
    listMembers: (applicationId) =>
      guard(async () => {
        const rows = await db
          .selectFrom("memberships as m")
          .innerJoin("users as u", "u.id", "m.user_id")
          .select(["m.user_id", "u.email", "u.name", "m.role", "m.created_at"])
          .where("m.application_id", "=", applicationId)
          // Host users are the host's to manage (the service API), not the team's.
          .where("u.application_id", "is", null)
          .orderBy("m.created_at", "asc")
          .orderBy("u.email", "asc")
          .execute();
        return rows.map(toMember);
      }),
    insertMember: (input, audit) =>
      insertUnlessPresent(
        db,
        guard,
        audit,
        (executor) =>
          executor.insertInto("memberships").values({
            application_id: input.applicationId,
            user_id: input.userId,
            role: input.role,
            created_at: input.createdAt,
          }),
        "already_member",
      ),
    removeMember: (input, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          // The lock token creation takes: a token being created for this member either
          // commits first (and is revoked below) or waits and finds no membership.
          await lockOwnerTokens(trx, input.applicationId, input.userId);
          const deleted = await trx
            .deleteFrom("memberships")
            .where("application_id", "=", input.applicationId)
            .where("user_id", "=", input.userId)
            .where("role", "!=", "owner")
            .executeTakeFirst();
          if (Number(deleted.numDeletedRows) === 0) return { removed: false, revokedTokenIds: [] };
          const revoked = await trx
            .updateTable("tokens")
            .set({
              revoked_at: input.now,
              revoked_reason: "member_removed",
              revoked_by: input.revokedBy,
            })
            .where("application_id", "=", input.applicationId)
            .where("user_id", "=", input.userId)
            .where("revoked_at", "is", null)
            .returning("id")
            .execute();
          const revokedTokenIds = revoked.map((r) => r.id);
          if (audit) await insertAuditEvents(trx, audit(revokedTokenIds));
          return { removed: true, revokedTokenIds };
        }),
      ),
  };
}
