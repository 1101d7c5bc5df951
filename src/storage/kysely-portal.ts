import type { Kysely } from "kysely";
import type { PortalCode, PortalStore } from "../services/ports.js";
import { type Guard, writeAudited } from "./kysely-store.js";
import { num } from "./rows.js";
import type { Database } from "./schema.js";

export function createKyselyPortalStore(db: Kysely<Database>, guard: Guard): PortalStore {
  return {
    insertPortalCode: (code, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          await executor
            .insertInto("portal_codes")
            .values({
              code_hash: code.codeHash,
              application_id: code.applicationId,
              user_id: code.userId,
              return_url: code.returnUrl,
              created_at: code.createdAt,
              expires_at: code.expiresAt,
              service_key_id: code.serviceKeyId,
            })
            .execute();
        },
        () => true,
      ),
    redeemPortalCode: (codeHash, now) =>
      guard(async () => {
        // One conditional UPDATE: whichever of two racing requests runs it second finds
        // `used_at` set and gets nothing, on SQLite and PostgreSQL alike.
        const row = await db
          .updateTable("portal_codes")
          .set({ used_at: now })
          .where("code_hash", "=", codeHash)
          .where("used_at", "is", null)
          .where("expires_at", ">", now)
          // A user an operator has disabled since the link was made signs in no more.
          .where(({ exists, selectFrom }) =>
            exists(
              selectFrom("users")
                .select("users.id")
                .whereRef("users.id", "=", "portal_codes.user_id")
                .where("users.disabled_at", "is", null),
            ),
          )
          // A link is the key's word: a key revoked since (a leaked one), or gone, vouches
          // for nothing. Links made before keys were recorded (migration 0016) have none.
          .where(({ or, eb, exists, selectFrom }) =>
            or([
              eb("service_key_id", "is", null),
              exists(
                selectFrom("service_keys")
                  .select("service_keys.id")
                  .whereRef("service_keys.id", "=", "portal_codes.service_key_id")
                  .where("service_keys.revoked_at", "is", null),
              ),
            ]),
          )
          .returning([
            "code_hash",
            "application_id",
            "user_id",
            "return_url",
            "created_at",
            "expires_at",
            "service_key_id",
          ])
          .executeTakeFirst();
        if (!row) return undefined;
        const code: PortalCode = {
          codeHash: row.code_hash,
          applicationId: row.application_id,
          userId: row.user_id,
          returnUrl: row.return_url,
          createdAt: num(row.created_at),
          expiresAt: num(row.expires_at),
          serviceKeyId: row.service_key_id,
        };
        return code;
      }),
    deleteExpiredPortalCodes: (before) =>
      guard(async () => {
        const result = await db
          .deleteFrom("portal_codes")
          .where("expires_at", "<=", before)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
  };
}
