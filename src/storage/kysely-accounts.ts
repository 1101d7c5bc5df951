import type { Kysely } from "kysely";
import type { SessionStore, UserStore } from "../services/ports.js";
import { dropResetLinks } from "./kysely-mail.js";
import {
  type Guard,
  insertAuditEvents,
  insertUnlessPresent,
  writeAudited,
} from "./kysely-store.js";
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
    findPasswordHash: (userId) =>
      guard(async () => {
        const row = await db
          .selectFrom("users")
          .select("password_hash")
          .where("id", "=", userId)
          .where("application_id", "is", null)
          .executeTakeFirst();
        return row?.password_hash ?? undefined;
      }),
    changePassword: ({ userId, passwordHash, keepIdHash }, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          await trx
            .updateTable("users")
            .set({ password_hash: passwordHash })
            .where("id", "=", userId)
            .execute();
          await dropResetLinks(trx, userId);
          let ending = trx.deleteFrom("sessions").where("user_id", "=", userId);
          if (keepIdHash !== null) ending = ending.where("id_hash", "!=", keepIdHash);
          const ended = await ending.executeTakeFirst();
          if (audit && audit.length > 0) await insertAuditEvents(trx, audit);
          return { endedSessions: Number(ended.numDeletedRows) };
        }),
      ),
    findUserById: (id) =>
      guard(async () => {
        const row = await db
          .selectFrom("users")
          .select(["id", "email", "name", "created_at", "application_id"])
          .where("id", "=", id)
          .executeTakeFirst();
        if (!row) return undefined;
        const user = toUser(row);
        return row.application_id === null
          ? user
          : { ...user, hostApplicationId: row.application_id };
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
              service_key_id: session.serviceKeyId ?? null,
              public_id: session.id,
              last_seen_at: session.lastSeenAt,
              user_agent: session.userAgent,
              address: session.address,
              reauthenticated_at: session.reauthenticatedAt,
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
            "s.public_id",
            "s.last_seen_at",
            "s.user_agent",
            "s.address",
            "s.reauthenticated_at",
            "u.id",
            "u.email",
            "u.name",
            "u.created_at",
            "u.application_id as host_application_id",
          ])
          .where("s.id_hash", "=", idHash)
          // A disabled user's sessions were ended; one started in a race ends here.
          .where("u.disabled_at", "is", null)
          // Likewise a portal session whose service key was revoked (or is gone, as a link
          // of such a key is not redeemed): the revocation deleted the ones it saw, and one
          // whose link was redeemed just before it ends here.
          .where(({ eb, or, exists, selectFrom }) =>
            or([
              eb("s.service_key_id", "is", null),
              exists(
                selectFrom("service_keys as k")
                  .select("k.id")
                  .whereRef("k.id", "=", "s.service_key_id")
                  .where("k.revoked_at", "is", null),
              ),
            ]),
          )
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
    deleteExpiredSessions: (now, idleBefore) =>
      guard(async () => {
        const result = await db
          .deleteFrom("sessions")
          .where((eb) =>
            idleBefore === undefined
              ? eb("expires_at", "<=", now)
              : eb.or([eb("expires_at", "<=", now), eb("last_seen_at", "<=", idleBefore)]),
          )
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
    listSessions: (userId) =>
      guard(async () => {
        const rows = await db
          .selectFrom("sessions")
          .selectAll()
          .where("user_id", "=", userId)
          .orderBy("last_seen_at", "desc")
          .orderBy("public_id")
          .execute();
        return rows.map(toSession);
      }),
    deleteSessionById: (userId, id, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          const result = await executor
            .deleteFrom("sessions")
            .where("user_id", "=", userId)
            .where("public_id", "=", id)
            .executeTakeFirst();
          return Number(result.numDeletedRows) > 0;
        },
        (deleted) => deleted,
      ),
    deleteOtherSessions: (userId, keepIdHash, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          let query = executor.deleteFrom("sessions").where("user_id", "=", userId);
          if (keepIdHash !== null) query = query.where("id_hash", "!=", keepIdHash);
          const result = await query.executeTakeFirst();
          return Number(result.numDeletedRows);
        },
        () => true,
      ),
    touchSession: (idHash, now) =>
      guard(async () => {
        await db
          .updateTable("sessions")
          .set({ last_seen_at: now })
          .where("id_hash", "=", idHash)
          .execute();
      }),
    markReauthenticated: (idHash, now) =>
      guard(async () => {
        await db
          .updateTable("sessions")
          .set({ reauthenticated_at: now, last_seen_at: now })
          .where("id_hash", "=", idHash)
          .execute();
      }),
  };
}
