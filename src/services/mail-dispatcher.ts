import {
  EMAIL_CONFIRMATION_TTL_MS,
  PASSWORD_RESET_TTL_MS,
  type RenderedMail,
  renderMail,
} from "../core/mail.js";
import type { ClaimedMail, Clock, MailStore } from "./ports.js";

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
 * Sends what the email queue holds, off the request path: a change queues its email in
 * its own transaction and wakes this; this claims due emails (no other process gets them
 * while claimed), renders, sends and records each once. It looks at least every `pollMs`
 * (emails queued by other processes or the command line, retries coming due), so a queue
 * left by a stopped server is sent after the restart.
 */
export class MailDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly store: MailStore,
    private readonly clock: Clock,
    private readonly sender: MailSender,
    /** The origin links start with (PUBLIC_ORIGIN, or the server's own). */
    private readonly origin: () => string,
    private readonly log: MailLog,
    private readonly pollMs = 1_000,
  ) {}

  start(): void {
    this.wake();
  }

  /** Something may have been queued: look now. */
  wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.drain()
      .catch((error: unknown) => this.log.warn({ err: error }, "email sending pass failed"))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        } else {
          this.schedule();
        }
      });
  }

  /** Resolves once nothing due is left (tests). */
  async drainNow(): Promise<void> {
    this.wake();
    while (this.running) await this.running;
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), this.pollMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      const lockedUntil = now + CLAIM_MS;
      const claimed = await this.store.claimDue(now, BATCH, lockedUntil);
      if (claimed.length === 0) return;
      await Promise.all(claimed.map((mail) => this.attempt(mail, lockedUntil)));
      if (this.closed) return;
    }
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

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    while (this.running) await this.running;
  }
}
