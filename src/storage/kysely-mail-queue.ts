import { randomBytes } from "node:crypto";
import type { Kysely, KyselyPlugin } from "kysely";
import type { AuditEvents, OutgoingMail } from "../services/ports.js";
import type { Database } from "./schema.js";

// Writing to the outgoing email queue, in the transaction of the change an email tells of
// (kysely-store's insertAuditEvents, like the webhook queue): a crash cannot keep the
// change and lose its email.

/** A queued email's id. */
function mailId(): string {
  return `mail_${randomBytes(16).toString("hex")}`;
}

/**
 * Marks a Kysely instance whose writes queue token notices by email (SMTP is configured).
 * A token's notice must be queued in the transaction of the change it tells of, and the
 * many write paths reach `insertAuditEvents` with only their transaction: the mark rides
 * on it (a transaction keeps its instance's plugins). It changes no query.
 */
export class MailNoticesPlugin implements KyselyPlugin {
  transformQuery: KyselyPlugin["transformQuery"] = (args) => args.node;
  transformResult: KyselyPlugin["transformResult"] = async (args) => args.result;
}

export function sendsMailNotices(executor: Kysely<Database>): boolean {
  return executor.getExecutor().plugins.some((p) => p instanceof MailNoticesPlugin);
}

export function mailRow(mail: OutgoingMail, now: number) {
  return {
    id: mailId(),
    kind: mail.kind,
    recipient: mail.recipient,
    data: JSON.stringify(mail.data),
    created_at: now,
    status: "pending",
    next_attempt_at: now,
  };
}

type NoticeEvent = "created" | "regenerated" | "leaked";

/** Which notice an audit event stands for, if any. */
function noticeOf(e: AuditEvents[number]): { event: NoticeEvent; revoked: boolean } | undefined {
  if (e.tokenId === null) return undefined;
  if (e.action === "token.created") return { event: "created", revoked: false };
  if (e.action === "token.regenerated") return { event: "regenerated", revoked: false };
  // Revoked as leaked; or an old secret in its grace period reported leaked (it ends, the
  // token lives on).
  if (e.action === "token.revoked" && e.reason === "leaked")
    return { event: "leaked", revoked: true };
  if (e.action === "token.secret_ended" && e.reason === "leaked")
    return { event: "leaked", revoked: false };
  return undefined;
}

export function isMailNoticeEvent(e: AuditEvents[number]): boolean {
  return noticeOf(e) !== undefined;
}

/**
 * Queues, in `trx`, a notice to a token's owner for each audit event that creates,
 * regenerates or reports leaked one of their tokens, when this store sends email. Host
 * users are skipped: their host product speaks to them, and Keyward has no address for them.
 */
export async function enqueueMailNotices(
  trx: Kysely<Database>,
  events: AuditEvents,
): Promise<void> {
  if (!sendsMailNotices(trx)) return;
  const notices: { tokenId: string; event: NoticeEvent; at: number; revoked: boolean }[] = [];
  for (const e of events) {
    const notice = noticeOf(e);
    if (notice && e.tokenId !== null)
      notices.push({ ...notice, tokenId: e.tokenId, at: e.createdAt });
  }
  if (notices.length === 0) return;
  const tokens = await trx
    .selectFrom("tokens as t")
    .innerJoin("users as u", "u.id", "t.user_id")
    .innerJoin("applications as a", "a.id", "t.application_id")
    .select([
      "t.id",
      "t.name",
      "t.hint",
      "t.application_id",
      "a.name as application_name",
      "u.email",
    ])
    .where("t.id", "in", [...new Set(notices.map((n) => n.tokenId))])
    .where("u.application_id", "is", null)
    .execute();
  const byId = new Map(tokens.map((t) => [t.id, t]));
  const rows = notices.flatMap((notice) => {
    const token = byId.get(notice.tokenId);
    if (!token) return [];
    return [
      mailRow(
        {
          kind: "token_notice",
          recipient: token.email,
          data: {
            event: notice.event,
            revoked: notice.revoked,
            tokenId: token.id,
            tokenName: token.name,
            hint: token.hint,
            applicationId: token.application_id,
            applicationName: token.application_name,
            at: notice.at,
          },
        },
        notice.at,
      ),
    ];
  });
  if (rows.length > 0) await trx.insertInto("mail_outbox").values(rows).execute();
}
