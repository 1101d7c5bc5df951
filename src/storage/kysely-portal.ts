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
          .returning([
            "code_hash",
            "application_id",
            "user_id",
            "return_url",
            "created_at",
            "expires_at",
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
