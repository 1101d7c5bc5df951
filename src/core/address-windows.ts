const MINUTE_MS = 60_000;
/** Most addresses counted at once; past this, ended windows and then the oldest go. */
const MAX_ADDRESSES = 100_000;

/** One address's count in its current minute. */
export interface AddressWindow {
  count: number;
  /** When the window ends, in the caller's milliseconds. */
  end: number;
}

/**
 * Counts per client address in fixed one-minute windows, in one bounded Map, counted
 * synchronously: the per-address limits on the paths a flood drives (invalid bearer
 * tokens, public verification), where a rate-limit library's promise chain and key
 * building per request cost more than the work they guard. Per process on purpose: a
 * flood must not become storage writes.
 */
export class AddressWindows {
  private readonly windows = new Map<string, AddressWindow>();

  /** The address's window if one is open at `now`. */
  open(address: string, now: number): AddressWindow | undefined {
    if (this.windows.size === 0) return undefined;
    const window = this.windows.get(address);
    return window === undefined || window.end <= now ? undefined : window;
  }

  /** Counts one for the address, in a new window if its last one has ended. */
  count(address: string, now: number): AddressWindow {
    let window = this.windows.get(address);
    if (window === undefined || window.end <= now) {
      if (window === undefined && this.windows.size >= MAX_ADDRESSES) this.prune(now);
      // Deleted first so the Map's order stays the order windows began: pruning drops the
      // oldest, never an address that is counting right now.
      this.windows.delete(address);
      window = { count: 0, end: now + MINUTE_MS };
      this.windows.set(address, window);
    }
    window.count++;
    return window;
  }

  /** Addresses counted (open windows, and ended ones not yet pruned). */
  get size(): number {
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
