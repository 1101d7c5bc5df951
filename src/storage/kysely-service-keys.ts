import { type Kysely, sql } from "kysely";
import type { ServiceKeySecret, ServiceKeyStore } from "../services/ports.js";
import { type Guard, writeAudited } from "./kysely-store.js";
import { CREATOR_COLUMNS, creatorOf, toServiceKey } from "./rows.js";
import type { Database } from "./schema.js";

const PUBLIC_COLUMNS = [
  "id",
  "application_id",
  "name",
  "hint",
  "created_at",
  "last_used_at",
  "revoked_at",
] as const;

/** Service keys with their application's name: the lookup's and the operator's listing. */
export function serviceKeysWithApplication(db: Kysely<Database>) {
  return db
    .selectFrom("service_keys as k")
    .innerJoin("applications as a", "a.id", "k.application_id")
    .select([
      "k.id",
      "k.application_id",
      "k.name",
      "k.hint",
      "k.created_at",
      "k.last_used_at",
      "k.revoked_at",
      "a.name as application_name",
    ]);
}

/** The service-key lookup as one query, whose compiled SQL each dialect prepares once. */
export function findServiceKeyQuery(db: Kysely<Database>, secretHash: string) {
  return serviceKeysWithApplication(db).where("k.secret_hash", "=", secretHash);
}

/** A row of `findServiceKeyQuery`. */
export type ServiceKeyRow = NonNullable<
  Awaited<ReturnType<ReturnType<typeof findServiceKeyQuery>["executeTakeFirst"]>>
>;

export function toServiceKeySecret(row: ServiceKeyRow): ServiceKeySecret {
  return { ...toServiceKey(row), applicationName: row.application_name };
}

/**
 * @param findServiceKeyBySecret the dialect's own hot lookup (every service call runs it),
 *   prepared once, like the token lookup.
 */
export function createKyselyServiceKeyStore(
  db: Kysely<Database>,
  guard: Guard,
  findServiceKeyBySecret: ServiceKeyStore["findServiceKeyBySecret"],
): ServiceKeyStore {
  return {
    insertServiceKey: (key, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          await executor
            .insertInto("service_keys")
            .values({
              id: key.id,
              application_id: key.applicationId,
              name: key.name,
              hint: key.hint,
              secret_hash: key.secretHash,
              created_at: key.createdAt,
              created_by: key.createdBy,
            })
            .execute();
        },
        () => true,
      ),
    listServiceKeys: (applicationId) =>
      guard(async () => {
        const rows = await db
          .selectFrom("service_keys as k")
          .leftJoin("users as u", "u.id", "k.created_by")
          .leftJoin("memberships as m", (join) =>
            join
              .onRef("m.application_id", "=", "k.application_id")
              .onRef("m.user_id", "=", "k.created_by"),
          )
          .select(PUBLIC_COLUMNS.map((column) => `k.${column}` as const))
          .select(CREATOR_COLUMNS)
          .where("k.application_id", "=", applicationId)
          .orderBy("k.created_at", "desc")
          .orderBy("k.id", "desc")
          .execute();
        return rows.map((row) => ({ ...toServiceKey(row), creator: creatorOf(row) }));
      }),
    findServiceKey: (applicationId, keyId) =>
      guard(async () => {
        const row = await db
          .selectFrom("service_keys")
          .select(PUBLIC_COLUMNS)
          .where("application_id", "=", applicationId)
          .where("id", "=", keyId)
          .executeTakeFirst();
        return row ? toServiceKey(row) : undefined;
      }),
    findServiceKeyBySecret,
    revokeServiceKey: (input, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          const result = await executor
            .updateTable("service_keys")
            .set({ revoked_at: input.now, revoked_by: input.revokedBy })
            .where("id", "=", input.keyId)
            .where("revoked_at", "is", null)
            .executeTakeFirst();
          if (Number(result.numUpdatedRows) === 0) return false;
          // A revoked key (a leaked one) vouches for nothing any more: the portal sessions
          // its links opened end with it, as its unredeemed links do.
          await executor.deleteFrom("sessions").where("service_key_id", "=", input.keyId).execute();
          return true;
        },
        (revoked) => revoked,
      ),
    revokedServiceKeys: (keyIds) =>
      guard(async () => {
        if (keyIds.length === 0) return [];
        const rows = await db
          .selectFrom("service_keys")
          .select("id")
          .where("id", "in", [...keyIds])
          .where("revoked_at", "is not", null)
          .execute();
        return rows.map((r) => r.id);
      }),
    recordServiceKeyUse: (uses) =>
      guard(async () => {
        if (uses.length === 0) return;
        await db.transaction().execute(async (trx) => {
          for (const use of uses) {
            await trx
              .updateTable("service_keys")
              .set({
                last_used_at: sql<number>`case when last_used_at is null or last_used_at < ${use.at} then ${use.at} else last_used_at end`,
              })
              .where("id", "=", use.keyId)
              .execute();
          }
        });
      }),
  };
}
