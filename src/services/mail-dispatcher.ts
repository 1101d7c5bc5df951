import {
  EMAIL_CONFIRMATION_TTL_MS,
  PASSWORD_RESET_TTL_MS,
  type RenderedMail,
  renderMail,
} from "../core/mail.js";
import type { ClaimedMail, Clock, MailStore } from "./ports.js";
import { QueueDrain } from "./queue-drain.js";

/** Sends one message; never throws: a failure is an error text, `permanent` for a 5xx. */
export interface MailSender {
  send(
    message: RenderedMail & { to: string },
  ): Promise<{ ok: true } | { ok: false; error: string; permanent: boolean }>;
}

/** Waits after each failed attempt, in order: with the first, 7 attempts over about 9.6 hours. */
export const MAIL_RETRY_DELAYS_MS = [
  60_000, 300_000, 900_000, 1_800_000, 3_600_000, 28_800_000,
] as const;

/** A claimed email is this process's for this long (an attempt ends within about 40 s). */
const CLAIM_MS = 120_000;
/** Emails attempted at once by one process. */
const BATCH = 8;

/** After this, a queued link is dead: sending it would only confuse. */
const LINK_LIFETIME_MS: Partial<Record<ClaimedMail["kind"], number>> = {
  password_reset: PASSWORD_RESET_TTL_MS,
  email_confirmation: EMAIL_CONFIRMATION_TTL_MS,
};

interface MailLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Sends what the email queue holds, off the request path (see `QueueDrain`): a change
 * queues its email in its own transaction and wakes this; each claimed email is rendered,
 * sent and recorded once.
 */
export class MailDispatcher {
  private readonly queue: QueueDrain<ClaimedMail>;

  constructor(
    private readonly store: MailStore,
    private readonly clock: Clock,
    private readonly sender: MailSender,
    /** The origin links start with (PUBLIC_ORIGIN, or the server's own). */
    private readonly origin: () => string,
    private readonly log: MailLog,
    pollMs = 1_000,
  ) {
    this.queue = new QueueDrain<ClaimedMail>({
      claimDue: (now, batch, lockedUntil) => store.claimDue(now, batch, lockedUntil),
      attempt: (mail, lockedUntil) => this.attempt(mail, lockedUntil),
      clock,
      claimMs: CLAIM_MS,
      batch: BATCH,
      pollMs,
      onPassFailed: (error) => log.warn({ err: error }, "email sending pass failed"),
    });
  }

  start(): void {
    this.queue.wake();
  }

  /** Something may have been queued: look now. */
  wake(): void {
    this.queue.wake();
  }

  /** Resolves once nothing due is left (tests). */
  drainNow(): Promise<void> {
    return this.queue.drainNow();
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  private async attempt(mail: ClaimedMail, lockedUntil: number): Promise<void> {
    const lifetime = LINK_LIFETIME_MS[mail.kind];
    if (lifetime !== undefined && this.clock.now() >= mail.createdAt + lifetime) {
      this.log.warn(
        { mailId: mail.id, kind: mail.kind, attempts: mail.attempts - 1 },
        "email not sent: its link expired while it waited",
      );
      await this.record(
        mail,
        lockedUntil,
        "failed",
        this.clock.now(),
        "link expired before sending",
      );
      return;
    }
    const message = renderMail(mail.kind, mail.data, this.origin());
    const result = await this.sender.send({ ...message, to: mail.recipient });
    const now = this.clock.now();
    if (result.ok) {
      await this.record(mail, lockedUntil, "sent", now, null);
      return;
    }
    const delay = MAIL_RETRY_DELAYS_MS[mail.attempts - 1];
    const final = result.permanent || delay === undefined;
    // Ids and the server's answer only: never the recipient's link or the message.
    this.log.warn(
      { mailId: mail.id, kind: mail.kind, attempts: mail.attempts, error: result.error, final },
      final ? "sending an email failed; giving up" : "sending an email failed; will retry",
    );
    await this.record(
      mail,
      lockedUntil,
      final ? "failed" : "pending",
      now + (delay ?? 0),
      result.error,
    );
  }

  private async record(
    mail: ClaimedMail,
    lockedUntil: number,
    status: "sent" | "pending" | "failed",
    nextAttemptAt: number,
    error: string | null,
  ): Promise<void> {
    try {
      await this.store.recordAttempt({
        id: mail.id,
        lockedUntil,
        now: this.clock.now(),
        status,
        nextAttemptAt,
        error,
      });
    } catch (error) {
      // The claim runs out and the email is attempted again: sent twice at worst.
      this.log.warn({ err: error, mailId: mail.id }, "recording an email attempt failed");
    }
  }
}
