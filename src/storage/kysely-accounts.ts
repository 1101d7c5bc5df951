import type { Kysely } from "kysely";
import type { SessionStore, UserStore } from "../services/ports.js";
import { type Guard, insertUnlessPresent, writeAudited } from "./kysely-store.js";
import { toSession, toUser, toUserWithPassword } from "./rows.js";
import type { Database } from "./schema.js";

export function createKyselyUserStore(db: Kysely<Database>, guard: Guard): UserStore {
  return {
    insertUser: (user, audit) =>
      insertUnlessPresent(
        db,
        guard,
        audit,
        (executor) =>
          executor.insertInto("users").values({
            id: user.id,
            email: user.email,
            name: user.name,
            password_hash: user.passwordHash,
            created_at: user.createdAt,
          }),
        "email_taken",
      ),
    findUserByEmail: (email) =>
      guard(async () => {
        const row = await db
          .selectFrom("users")
          .selectAll()
          .where("email", "=", email)
          .where("application_id", "is", null)
          .executeTakeFirst();
        return row ? toUserWithPassword(row) : undefined;
      }),
    findUserById: (id) =>
      guard(async () => {
        const row = await db
          .selectFrom("users")
          .select(["id", "email", "name", "created_at"])
          .where("id", "=", id)
          .executeTakeFirst();
        return row ? toUser(row) : undefined;
      }),
  };
}

export function createKyselySessionStore(db: Kysely<Database>, guard: Guard): SessionStore {
  return {
    insertSession: (session, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          await executor
            .insertInto("sessions")
            .values({
              id_hash: session.idHash,
              user_id: session.userId,
              created_at: session.createdAt,
              expires_at: session.expiresAt,
              application_id: session.applicationId ?? null,
              return_url: session.returnUrl ?? null,
            })
            .execute();
        },
        () => true,
      ),
    findSession: (idHash) =>
      guard(async () => {
        const row = await db
          .selectFrom("sessions as s")
          .innerJoin("users as u", "u.id", "s.user_id")
          .select([
            "s.id_hash",
            "s.user_id",
            "s.created_at as session_created_at",
            "s.expires_at",
            "s.application_id",
            "s.return_url",
            "u.id",
            "u.email",
            "u.name",
            "u.created_at",
            "u.application_id as host_application_id",
          ])
          .where("s.id_hash", "=", idHash)
          .executeTakeFirst();
        if (!row) return undefined;
        const user = toUser(row);
        return {
          session: toSession({ ...row, created_at: row.session_created_at }),
          user:
            row.host_application_id === null
              ? user
              : { ...user, hostApplicationId: row.host_application_id },
        };
      }),
    deleteSession: (idHash) =>
      guard(async () => {
        await db.deleteFrom("sessions").where("id_hash", "=", idHash).execute();
      }),
    deleteExpiredSessions: (now) =>
      guard(async () => {
        const result = await db
          .deleteFrom("sessions")
          .where("expires_at", "<=", now)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
  };
}
