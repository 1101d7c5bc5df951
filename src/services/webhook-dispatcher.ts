import type { DeliveryStatus } from "../core/model.js";
import type { Clock, WebhookStore } from "./ports.js";
import { QueueDrain } from "./queue-drain.js";

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

/** A delivery as claimed from the queue. */
interface ClaimedDelivery {
  id: string;
  url: string;
  secret: string;
  payload: string;
  attempts: number;
}

/**
 * Sends what the delivery queue holds, off the request path (see `QueueDrain`): a change
 * writes its deliveries in its own transaction and wakes this; each claimed delivery is
 * sent and its outcome recorded.
 */
export class WebhookDispatcher {
  private readonly queue: QueueDrain<ClaimedDelivery>;

  constructor(
    private readonly store: WebhookStore,
    private readonly clock: Clock,
    private readonly sender: WebhookSender,
    private readonly log: DispatcherLog,
    pollMs = 1_000,
  ) {
    this.queue = new QueueDrain<ClaimedDelivery>({
      claimDue: (now, batch, lockedUntil) => store.claimDue(now, batch, lockedUntil),
      attempt: (delivery, lockedUntil) => this.attempt(delivery, lockedUntil),
      clock,
      claimMs: CLAIM_MS,
      batch: BATCH,
      pollMs,
      onPassFailed: (error) => log.warn({ err: error }, "webhook delivery pass failed"),
    });
  }

  start(): void {
    this.queue.wake();
  }

  /** Something may have been queued: look now. */
  wake(): void {
    this.queue.wake();
  }

  /** Resolves once nothing due is left (for tests and shutdown). */
  drainNow(): Promise<void> {
    return this.queue.drainNow();
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  private async attempt(delivery: ClaimedDelivery, lockedUntil: number): Promise<void> {
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
}
