import type { Kysely } from "kysely";
import type { TwoFactorStore } from "../services/ports.js";
import { type Guard, insertAuditEvents, writeAudited } from "./kysely-store.js";
import type { Database } from "./schema.js";

export function createKyselyTwoFactorStore(db: Kysely<Database>, guard: Guard): TwoFactorStore {
  return {
    find: (userId) =>
      guard(async () => {
        const row = await db
          .selectFrom("two_factor")
          .selectAll()
          .where("user_id", "=", userId)
          .executeTakeFirst();
        if (!row) return undefined;
        return {
          userId: row.user_id,
          secret: row.secret,
          createdAt: Number(row.created_at),
          confirmedAt: row.confirmed_at === null ? null : Number(row.confirmed_at),
          lastUsedStep: row.last_used_step === null ? null : Number(row.last_used_step),
        };
      }),
    startEnrollment: ({ userId, secret, createdAt }) =>
      guard(async () => {
        // One statement: a confirmed row is left alone (the WHERE of the upsert), so two
        // racing requests can never replace a secret already in force.
        const result = await db
          .insertInto("two_factor")
          .values({
            user_id: userId,
            secret,
            created_at: createdAt,
            confirmed_at: null,
            last_used_step: null,
          })
          .onConflict((oc) =>
            oc
              .column("user_id")
              .doUpdateSet({ secret, created_at: createdAt, last_used_step: null })
              .where("two_factor.confirmed_at", "is", null),
          )
          .executeTakeFirst();
        return Number(result.numInsertedOrUpdatedRows) > 0;
      }),
    confirm: ({ userId, secret, step, confirmedAt, recoveryCodeHashes }, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const confirmed = await trx
            .updateTable("two_factor")
            .set({ confirmed_at: confirmedAt, last_used_step: step })
            .where("user_id", "=", userId)
            .where("secret", "=", secret)
            .where("confirmed_at", "is", null)
            .executeTakeFirst();
          if (Number(confirmed.numUpdatedRows) === 0) return false;
          await trx.deleteFrom("recovery_codes").where("user_id", "=", userId).execute();
          await trx
            .insertInto("recovery_codes")
            .values(
              recoveryCodeHashes.map((hash) => ({
                user_id: userId,
                code_hash: hash,
                used_at: null,
              })),
            )
            .execute();
          if (audit && audit.length > 0) await insertAuditEvents(trx, audit);
          return true;
        }),
      ),
    spendStep: (userId, step) =>
      guard(async () => {
        const result = await db
          .updateTable("two_factor")
          .set({ last_used_step: step })
          .where("user_id", "=", userId)
          .where("confirmed_at", "is not", null)
          .where((eb) => eb.or([eb("last_used_step", "is", null), eb("last_used_step", "<", step)]))
          .executeTakeFirst();
        return Number(result.numUpdatedRows) > 0;
      }),
    unusedRecoveryCodes: (userId) =>
      guard(async () => {
        const rows = await db
          .selectFrom("recovery_codes")
          .select("code_hash")
          .where("user_id", "=", userId)
          .where("used_at", "is", null)
          .execute();
        return rows.map((r) => r.code_hash);
      }),
    spendRecoveryCode: ({ userId, codeHash, usedAt }, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          const result = await executor
            .updateTable("recovery_codes")
            .set({ used_at: usedAt })
            .where("user_id", "=", userId)
            .where("code_hash", "=", codeHash)
            .where("used_at", "is", null)
            .executeTakeFirst();
          return Number(result.numUpdatedRows) > 0;
        },
        (used) => used,
      ),
    disable: (userId, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const deleted = await trx
            .deleteFrom("two_factor")
            .where("user_id", "=", userId)
            .where("confirmed_at", "is not", null)
            .executeTakeFirst();
          if (Number(deleted.numDeletedRows) === 0) return false;
          await trx.deleteFrom("recovery_codes").where("user_id", "=", userId).execute();
          if (audit && audit.length > 0) await insertAuditEvents(trx, audit);
          return true;
        }),
      ),
  };
}
