import type { Kysely } from "kysely";
import type { MailData, MailKind } from "../core/mail.js";
import type { AccountCodePurpose, ClaimedMail, MailStore } from "../services/ports.js";
import { mailRow } from "./kysely-mail-queue.js";
import { claimDueRows, markTokensExpiring } from "./kysely-queue.js";
import { type Guard, insertAuditEvents } from "./kysely-store.js";
import { num } from "./rows.js";
import type { Database } from "./schema.js";

export function createKyselyMailStore(db: Kysely<Database>, guard: Guard): MailStore {
  return {
    insertAccountCode: (code, mail, now, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto("account_codes")
            .values({
              hash: code.hash,
              user_id: code.userId,
              purpose: code.purpose,
              created_at: code.createdAt,
              expires_at: code.expiresAt,
            })
            .execute();
          if (mail) await trx.insertInto("mail_outbox").values(mailRow(mail, now)).execute();
          if (audit) await insertAuditEvents(trx, audit);
        }),
      ),
    findAccountCode: (hash, purpose, now) =>
      guard(async () => {
        const found = await db
          .selectFrom("account_codes")
          .select(["hash", "user_id", "purpose", "created_at", "expires_at"])
          .where("hash", "=", hash)
          .where("purpose", "=", purpose)
          .where("used_at", "is", null)
          .where("expires_at", ">", now)
          .executeTakeFirst();
        return found
          ? {
              hash: found.hash,
              userId: found.user_id,
              purpose,
              createdAt: num(found.created_at),
              expiresAt: num(found.expires_at),
            }
          : undefined;
      }),
    confirmEmail: (hash, now, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const used = await takeAccountCode(trx, hash, "email_confirmation", now);
          if (!used) return undefined;
          await trx
            .updateTable("users")
            .set({ email_confirmed_at: now })
            .where("id", "=", used.user_id)
            .where("email_confirmed_at", "is", null)
            .execute();
          await insertAuditEvents(trx, audit(used.user_id));
          return { userId: used.user_id };
        }),
      ),
    resetPassword: ({ hash, now, passwordHash }, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const used = await takeAccountCode(trx, hash, "password_reset", now);
          if (!used) return undefined;
          // Every other reset link of the account dies with this one.
          await dropResetLinks(trx, used.user_id);
          await trx
            .updateTable("users")
            .set({ password_hash: passwordHash })
            .where("id", "=", used.user_id)
            .execute();
          const ended = await trx
            .deleteFrom("sessions")
            .where("user_id", "=", used.user_id)
            .executeTakeFirst();
          await insertAuditEvents(trx, audit(used.user_id));
          return { userId: used.user_id, endedSessions: Number(ended.numDeletedRows) };
        }),
      ),
    emailConfirmedAt: (userId) =>
      guard(async () => {
        const found = await db
          .selectFrom("users")
          .select("email_confirmed_at")
          .where("id", "=", userId)
          .executeTakeFirst();
        return found?.email_confirmed_at == null ? null : num(found.email_confirmed_at);
      }),
    enqueue: (mail, now) =>
      guard(async () => {
        await db.insertInto("mail_outbox").values(mailRow(mail, now)).execute();
      }),
    claimDue: (now, limit, lockUntil) =>
      guard(async () => {
        const rows = await claimDueRows<{
          id: string;
          kind: string;
          recipient: string;
          data: string;
          created_at: number | string;
          attempts: number | string;
        }>(
          db,
          "mail_outbox",
          ["id", "kind", "recipient", "data", "created_at", "attempts"],
          now,
          limit,
          lockUntil,
        );
        return rows.map(
          (r): ClaimedMail => ({
            id: r.id,
            kind: r.kind as MailKind,
            recipient: r.recipient,
            data: JSON.parse(r.data) as MailData,
            createdAt: num(r.created_at),
            attempts: num(r.attempts),
          }),
        );
      }),
    recordAttempt: ({ id, lockedUntil, now, status, nextAttemptAt, error }) =>
      guard(async () => {
        await db
          .updateTable("mail_outbox")
          .set({
            status,
            next_attempt_at: nextAttemptAt,
            locked_until: null,
            last_error: error,
            ...(status === "sent" ? { sent_at: now } : {}),
            // A sent or abandoned email's data (a link's code among it) is kept no longer.
            ...(status === "pending" ? {} : { data: "{}" }),
          })
          .where("id", "=", id)
          .where("locked_until", "=", lockedUntil)
          .where("status", "=", "pending")
          .execute();
      }),
    queueExpiryReminders: (now, horizon, limit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const marked = await markTokensExpiring(
            trx,
            "expiry_reminder_sent_at",
            now,
            horizon,
            limit,
          );
          if (marked.length === 0) return 0;
          const tokens = await trx
            .selectFrom("tokens as t")
            .innerJoin("users as u", "u.id", "t.user_id")
            .innerJoin("applications as a", "a.id", "t.application_id")
            .select([
              "t.id",
              "t.name",
              "t.hint",
              "t.expires_at",
              "t.application_id",
              "a.name as application_name",
              "u.email",
            ])
            .where(
              "t.id",
              "in",
              marked.map((m) => m.id),
            )
            // Host users' tokens are marked too (so they are not looked at again), not mailed.
            .where("u.application_id", "is", null)
            .execute();
          if (tokens.length === 0) return 0;
          await trx
            .insertInto("mail_outbox")
            .values(
              tokens.map((t) =>
                mailRow(
                  {
                    kind: "token_expiring",
                    recipient: t.email,
                    data: {
                      tokenId: t.id,
                      tokenName: t.name,
                      hint: t.hint,
                      applicationId: t.application_id,
                      applicationName: t.application_name,
                      expiresAt: t.expires_at === null ? null : num(t.expires_at),
                    },
                  },
                  now,
                ),
              ),
            )
            .execute();
          return tokens.length;
        }),
      ),
    prune: (before) =>
      guard(async () => {
        const mails = await db
          .deleteFrom("mail_outbox")
          .where("status", "!=", "pending")
          .where("created_at", "<", before)
          .executeTakeFirst();
        const codes = await db
          .deleteFrom("account_codes")
          .where("expires_at", "<", before)
          .executeTakeFirst();
        return Number(mails.numDeletedRows) + Number(codes.numDeletedRows);
      }),
  };
}

/**
 * Deletes the account's unused password-reset links, in `trx`: a password set any other way
 * (changed in the app, set by the operator) must not be overwritten by a link someone may
 * have read from the mailbox before.
 */
export async function dropResetLinks(trx: Kysely<Database>, userId: string): Promise<void> {
  await trx
    .deleteFrom("account_codes")
    .where("user_id", "=", userId)
    .where("purpose", "=", "password_reset")
    .where("used_at", "is", null)
    .execute();
}

/**
 * Uses an account code, in `trx`: one conditional update, so of two uses (or two racing
 * requests) exactly one finds it unused and unexpired. Undefined when it was not.
 */
function takeAccountCode(
  trx: Kysely<Database>,
  hash: string,
  purpose: AccountCodePurpose,
  now: number,
): Promise<{ user_id: string } | undefined> {
  return trx
    .updateTable("account_codes")
    .set({ used_at: now })
    .where("hash", "=", hash)
    .where("purpose", "=", purpose)
    .where("used_at", "is", null)
    .where("expires_at", ">", now)
    .returning("user_id")
    .executeTakeFirst();
}
