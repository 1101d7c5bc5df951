import type { Clock } from "./ports.js";

export interface QueueDrainOptions<Item> {
  /** Claims up to `batch` due items for this process until `lockedUntil` (no other gets them). */
  claimDue(now: number, batch: number, lockedUntil: number): Promise<Item[]>;
  /** Attempts one claimed item and records its outcome; never throws. */
  attempt(item: Item, lockedUntil: number): Promise<void>;
  clock: Clock;
  /** How long a claim lasts: longer than an attempt can take. */
  claimMs: number;
  /** Items attempted at once. */
  batch: number;
  /** The longest wait between looks at the queue when nobody wakes it. */
  pollMs: number;
  /** A pass failed (storage down): the next wake or look tries again. */
  onPassFailed(error: unknown): void;
}

/**
 * Works through a queue kept in storage, off the request path: the email queue and the
 * webhook delivery queue. A change writes its items in its own transaction and wakes this;
 * a pass claims what is due, a batch at a time, and attempts each. Wakes during a pass
 * make one more pass after it; otherwise it looks again after `pollMs` (items queued by
 * other processes or the command line, retries coming due), so a queue left by a stopped
 * server is worked through after the restart.
 */
export class QueueDrain<Item> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly options: QueueDrainOptions<Item>) {}

  /** Something may have been queued: look now. */
  wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.drain()
      .catch((error: unknown) => this.options.onPassFailed(error))
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

  /** Resolves once nothing due is left (tests and shutdown). */
  async drainNow(): Promise<void> {
    this.wake();
    while (this.running) await this.running;
  }

  /** Stops looking; resolves when the pass under way, if any, has ended. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    while (this.running) await this.running;
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), this.options.pollMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    const { clock, claimMs, batch } = this.options;
    for (;;) {
      const now = clock.now();
      const lockedUntil = now + claimMs;
      const claimed = await this.options.claimDue(now, batch, lockedUntil);
      if (claimed.length === 0) return;
      await Promise.all(claimed.map((item) => this.options.attempt(item, lockedUntil)));
      if (this.closed) return;
    }
  }
}
