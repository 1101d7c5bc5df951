import type { DeliveryStatus } from "../core/model.js";
import type { Clock, WebhookStore } from "./ports.js";

/** Sends one signed delivery; never throws: a failure is an answer or an error text. */
export interface WebhookSender {
  send(
    delivery: { id: string; url: string; secret: string; payload: string },
    at: number,
  ): Promise<{ status: number | null; error: string | null }>;
}

/**
 * Waits after each failed attempt, in order (Standard Webhooks' suggested schedule): with
 * the first attempt, 8 attempts over about 27.6 hours, then the delivery is `failed`.
 */
export const RETRY_DELAYS_MS = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/**
 * A claimed delivery is this process's for this long. An attempt ends within 10 s (the
 * sender's deadline), so after 15 s its holder has recorded it or has died (kill -9), and
 * another process, or this one restarted, may take it again.
 */
const CLAIM_MS = 15_000;
/** Deliveries attempted at once by one process. */
const BATCH = 16;

interface DispatcherLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Sends what the delivery queue holds, off the request path: a change writes its
 * deliveries in its own transaction and wakes this; this claims due deliveries (no other
 * process gets them while claimed), sends them and records the outcome. It looks at the
 * queue at least every `pollMs` (deliveries queued by other processes, retries coming due).
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly store: WebhookStore,
    private readonly clock: Clock,
    private readonly sender: WebhookSender,
    private readonly log: DispatcherLog,
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
      .catch((error: unknown) => this.log.warn({ err: error }, "webhook delivery pass failed"))
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

  /** Resolves once nothing due is left (for tests and shutdown). */
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
      await Promise.all(claimed.map((delivery) => this.attempt(delivery, lockedUntil)));
      if (this.closed) return;
    }
  }

  private async attempt(
    delivery: {
      id: string;
      url: string;
      secret: string;
      payload: string;
      attempts: number;
    },
    lockedUntil: number,
  ): Promise<void> {
    const result = await this.sender.send(delivery, this.clock.now());
    const now = this.clock.now();
    const ok = result.status !== null && result.status >= 200 && result.status < 300;
    let status: DeliveryStatus = "succeeded";
    let nextAttemptAt = now;
    if (!ok) {
      const delay = RETRY_DELAYS_MS[delivery.attempts - 1];
      if (delay === undefined) status = "failed";
      else {
        status = "pending";
        nextAttemptAt = now + delay;
      }
    }
    try {
      await this.store.recordAttempt({
        deliveryId: delivery.id,
        lockedUntil,
        now,
        status,
        nextAttemptAt,
        lastStatus: result.status,
        lastError: ok ? null : (result.error ?? `status ${result.status}`),
      });
    } catch (error) {
      // The claim runs out and the delivery is attempted again, with the same id.
      this.log.warn({ err: error, deliveryId: delivery.id }, "recording a webhook attempt failed");
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    while (this.running) await this.running;
  }
}
