import type { Kysely, Transaction } from "kysely";
import type { HostUser } from "../core/model.js";
import type { HostUserStore } from "../services/ports.js";
import { type Guard, insertAuditEvents, type LockOwnerTokens } from "./kysely-store.js";
import { toHostUser } from "./rows.js";
import type { Database } from "./schema.js";

const HOST_USER_COLUMNS = [
  "id",
  "email",
  "name",
  "created_at",
  "application_id",
  "external_id",
  "disabled_at",
] as const;

/**
 * Host users are rows of `users` with the application that created them and the host's id
 * for them; their password hash is empty and sign-in never looks them up. Email and name
 * are kept as empty text when the host gives none.
 */
export function createKyselyHostUserStore(
  db: Kysely<Database>,
  guard: Guard,
  lockOwnerTokens: LockOwnerTokens,
): HostUserStore {
  const find = async (executor: Kysely<Database>, applicationId: string, externalId: string) => {
    const row = await executor
      .selectFrom("users")
      .select(HOST_USER_COLUMNS)
      .where("application_id", "=", applicationId)
      .where("external_id", "=", externalId)
      .executeTakeFirst();
    return row ? toHostUser(row) : undefined;
  };

  const update = async (
    trx: Transaction<Database>,
    user: HostUser,
    input: { email?: string | null; name?: string | null },
  ): Promise<{ user: HostUser; changed: boolean }> => {
    const next: HostUser = {
      ...user,
      ...(input.email !== undefined ? { email: input.email } : {}),
      ...(input.name !== undefined ? { name: input.name } : {}),
    };
    if (next.email === user.email && next.name === user.name) return { user, changed: false };
    await trx
      .updateTable("users")
      .set({ email: next.email ?? "", name: next.name ?? "" })
      .where("id", "=", user.id)
      .execute();
    return { user: next, changed: true };
  };

  return {
    upsertHostUser: (input, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const existing = await find(trx, input.applicationId, input.externalId);
          if (existing) {
            const updated = await update(trx, existing, input);
            if (updated.changed && audit) await insertAuditEvents(trx, audit(false, updated.user));
            return { created: false, user: updated.user };
          }
          const inserted = await trx
            .insertInto("users")
            .values({
              id: input.id,
              email: input.email ?? "",
              name: input.name ?? "",
              password_hash: "",
              created_at: input.now,
              application_id: input.applicationId,
              external_id: input.externalId,
            })
            .onConflict((oc) => oc.doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows) === 0) {
            // A racing upsert of the same id committed first: this one is an update.
            const raced = await find(trx, input.applicationId, input.externalId);
            if (!raced) throw new Error("host user vanished during its upsert");
            const updated = await update(trx, raced, input);
            if (updated.changed && audit) await insertAuditEvents(trx, audit(false, updated.user));
            return { created: false, user: updated.user };
          }
          await trx
            .insertInto("memberships")
            .values({
              application_id: input.applicationId,
              user_id: input.id,
              role: "member",
              created_at: input.now,
            })
            .execute();
          const user: HostUser = {
            id: input.id,
            applicationId: input.applicationId,
            externalId: input.externalId,
            email: input.email ?? null,
            name: input.name ?? null,
            createdAt: input.now,
            disabledAt: null,
          };
          if (audit) await insertAuditEvents(trx, audit(true, user));
          return { created: true, user };
        }),
      ),
    findHostUser: (applicationId, externalId) => guard(() => find(db, applicationId, externalId)),
    findHostUserById: (userId) =>
      guard(async () => {
        const row = await db
          .selectFrom("users")
          .select(HOST_USER_COLUMNS)
          .where("id", "=", userId)
          .where("application_id", "is not", null)
          .executeTakeFirst();
        return row ? toHostUser(row) : undefined;
      }),
    removeHostUser: (input, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const user = await find(trx, input.applicationId, input.externalId);
          if (!user) return { removed: false, revokedTokenIds: [] };
          // The lock token creation takes: a token being created for this user either
          // commits first (and is revoked below) or waits and finds no membership.
          await lockOwnerTokens(trx, input.applicationId, user.id);
          await trx
            .deleteFrom("memberships")
            .where("application_id", "=", input.applicationId)
            .where("user_id", "=", user.id)
            .execute();
          const revoked = await trx
            .updateTable("tokens")
            .set({
              revoked_at: input.now,
              revoked_reason: "member_removed",
              revoked_by: input.revokedBy,
            })
            .where("application_id", "=", input.applicationId)
            .where("user_id", "=", user.id)
            .where("revoked_at", "is", null)
            .returning("id")
            .execute();
          await trx.deleteFrom("sessions").where("user_id", "=", user.id).execute();
          await trx.deleteFrom("portal_codes").where("user_id", "=", user.id).execute();
          // The row stays (revoked tokens and the audit trail name it); the host's id is
          // freed, so a later upsert of it makes a new user with no tokens.
          await trx
            .updateTable("users")
            .set({ external_id: null })
            .where("id", "=", user.id)
            .execute();
          const revokedTokenIds = revoked.map((r) => r.id);
          if (audit) await insertAuditEvents(trx, audit(user, revokedTokenIds));
          return { removed: true, revokedTokenIds };
        }),
      ),
  };
}
