interface Waiter<V> {
  key: string;
  /** `now()` when it was queued. */
  queuedAt: number;
  resolve: (value: V | undefined) => void;
  reject: (error: unknown) => void;
}

export interface BatchedLookupOptions {
  /** Most queries out at once (the connections set aside for lookups). */
  maxInFlight: number;
  /** Most keys in one query. */
  maxBatch: number;
  /**
   * How long lookups wait behind a query that has not come back before another query is
   * sent for them on another connection: one slow query must not hold every lookup.
   */
  stallMs: number;
  /**
   * Longest a lookup waits in the queue before it fails with `unavailable()` (a database
   * that stopped answering must give a prompt 503, as a wait for a connection does).
   */
  maxWaitMs: number;
  /** Most lookups waiting at once; beyond it a lookup fails at once with `unavailable()`. */
  maxQueued: number;
  unavailable: () => Error;
  /** A monotonic clock in milliseconds (default `performance.now`); tests pass their own. */
  now?: () => number;
}

/**
 * Coalesces concurrent lookups by key into one query over many keys. A lookup goes at once
 * when no query is out, so a lone lookup waits for nothing; lookups that arrive while one
 * is out queue, and go together as one query when it comes back (at most `maxBatch` keys).
 * Under load a round trip then answers many lookups, where each used to cost a round trip
 * of its own, and the fewer, larger queries cost PostgreSQL and this process less CPU than
 * as many small ones on every lookup connection at once (measured: docs/performance.md).
 * Another query goes out, up to `maxInFlight`, only for a full batch or behind a query that
 * stalled past `stallMs`; a lookup that waits `maxWaitMs`, or finds `maxQueued` waiting,
 * fails with `unavailable()`.
 *
 * Written here rather than taken from `dataloader`: that library batches what was asked
 * in one tick of the event loop (under load, one request each), not what queued behind a
 * query in flight, and it caches answers, which the verifier does with its own
 * invalidation.
 */
export class BatchedLookup<V> {
  private queue: Waiter<V>[] = [];
  private inFlight = 0;
  private stallTimer: ReturnType<typeof setTimeout> | undefined;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly now: () => number;

  constructor(
    /** Answers for the keys found; a key absent from the map was not found. */
    private readonly lookUp: (keys: string[]) => Promise<Map<string, V>>,
    private readonly options: BatchedLookupOptions,
  ) {
    if (options.maxInFlight < 1 || options.maxBatch < 1) {
      throw new RangeError("maxInFlight and maxBatch must be at least 1");
    }
    this.now = options.now ?? (() => performance.now());
  }

  load(key: string): Promise<V | undefined> {
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.reject(this.options.unavailable());
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ key, queuedAt: this.now(), resolve, reject });
      this.pump();
    });
  }

  /**
   * Sends what is queued when no query is out, or when a full batch is waiting and a
   * connection is free; otherwise arms the timers for what is left.
   */
  private pump(): void {
    const { maxInFlight, maxBatch } = this.options;
    while (
      this.queue.length > 0 &&
      this.inFlight < maxInFlight &&
      (this.inFlight === 0 || this.queue.length >= maxBatch)
    ) {
      this.send();
    }
    if (this.queue.length > 0) {
      this.watchForStall();
      this.watchForExpiry();
    }
  }

  private watchForStall(): void {
    if (this.stallTimer !== undefined || this.inFlight >= this.options.maxInFlight) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) this.send();
      this.pump();
    }, this.options.stallMs);
    this.stallTimer.unref?.();
  }

  /** Fails the lookups queued longer than `maxWaitMs`, oldest first, when the oldest is due. */
  private watchForExpiry(): void {
    const oldest = this.queue[0];
    if (this.expiryTimer !== undefined || oldest === undefined) return;
    const due = oldest.queuedAt + this.options.maxWaitMs - this.now();
    this.expiryTimer = setTimeout(
      () => {
        this.expiryTimer = undefined;
        const cutoff = this.now() - this.options.maxWaitMs;
        let expired = 0;
        while (expired < this.queue.length && (this.queue[expired]?.queuedAt ?? 0) <= cutoff) {
          expired++;
        }
        for (const waiter of this.queue.splice(0, expired))
          waiter.reject(this.options.unavailable());
        if (this.queue.length > 0) this.watchForExpiry();
      },
      Math.max(0, due),
    );
    this.expiryTimer.unref?.();
  }

  private send(): void {
    const batch = this.queue.splice(0, this.options.maxBatch);
    if (this.queue.length === 0) this.clearTimers();
    this.inFlight++;
    // Each key once in the query, however many callers asked for it.
    const keys = [...new Set(batch.map((waiter) => waiter.key))];
    let query: Promise<Map<string, V>>;
    try {
      query = this.lookUp(keys);
    } catch (error) {
      // A lookup that threw instead of rejecting still fails its batch, not the queue.
      query = Promise.reject(error);
    }
    query
      .then(
        (found) => {
          for (const waiter of batch) waiter.resolve(found.get(waiter.key));
        },
        (error: unknown) => {
          for (const waiter of batch) waiter.reject(error);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.pump();
      });
  }

  /** Nothing waits: a timer armed for earlier waiters must not act on later ones. */
  private clearTimers(): void {
    clearTimeout(this.stallTimer);
    clearTimeout(this.expiryTimer);
    this.stallTimer = undefined;
    this.expiryTimer = undefined;
  }
}
