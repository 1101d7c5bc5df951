const MINUTE_MS = 60_000;
/** Most addresses counted at once; past this, ended windows and then the oldest go. */
const MAX_ADDRESSES = 100_000;

interface Window {
  count: number;
  end: number;
}

/**
 * Invalid bearer tokens per client address in fixed one-minute windows; an address that
 * reaches the limit is refused until its window ends. Kept in one Map and counted synchronously,
 * not through @fastify/rate-limit like the other limits: this is the path a flood of
 * made-up tokens drives, and the library's promise chain and key building per failure
 * cost more than the storage probe they follow. Per process on purpose: a flood must not
 * become storage writes (docs/security.md).
 */
export class InvalidTokenLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly maxPerMinute: number) {}

  /** Milliseconds this address stays refused, or 0. */
  blockedFor(address: string, now: number): number {
    if (this.windows.size === 0) return 0;
    const window = this.windows.get(address);
    if (window === undefined || window.count < this.maxPerMinute || window.end <= now) return 0;
    return window.end - now;
  }

  /** Counts one invalid token; true when this one reaches the limit and blocks the address. */
  recordFailure(address: string, now: number): boolean {
    let window = this.windows.get(address);
    if (window === undefined || window.end <= now) {
      if (window === undefined && this.windows.size >= MAX_ADDRESSES) this.prune(now);
      // Deleted first so the Map's order stays the order windows began: pruning drops the
      // oldest, never an address that is failing right now.
      this.windows.delete(address);
      window = { count: 0, end: now + MINUTE_MS };
      this.windows.set(address, window);
    }
    window.count++;
    return window.count === this.maxPerMinute;
  }

  get addresses(): number {
    return this.windows.size;
  }

  /** Drops ended windows, then the oldest half if every window is still open. */
  private prune(now: number): void {
    for (const [address, window] of this.windows) {
      if (window.end <= now) this.windows.delete(address);
    }
    let excess = this.windows.size - MAX_ADDRESSES / 2;
    if (excess <= 0) return;
    for (const address of this.windows.keys()) {
      if (excess-- <= 0) break;
      this.windows.delete(address);
    }
  }
}
