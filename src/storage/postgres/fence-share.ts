/** Other processes' fences count for this long. */
export const FENCE_SHARE_WINDOW_MS = 1000;

/** Other fences remembered: more than the shared rate sends in the window. */
const FENCES_HELD = 1024;
/** Other fencers remembered, and the most that count for a fair share (see `interval`). */
const FENCERS_HELD = 256;
const FENCERS_COUNTED = 32;

/**
 * What this process has heard of other processes' fences lately, and the interval it
 * keeps between its own so that all of them together send about as many as one process
 * alone sends, one every `aloneIntervalMs`. Each fence wakes every listening connection of
 * the database, so the rate is shared rather than each process's own (docs/deployment.md,
 * "One fence rate, shared"). Pure bookkeeping: times are the caller's monotonic
 * milliseconds.
 */
export class FenceShare {
  private readonly sharedPerSecond: number;
  /** When each of the last FENCES_HELD other fences was heard, oldest at `oldest`. */
  private readonly heardAt = new Float64Array(FENCES_HELD);
  private oldest = 0;
  private heardCount = 0;
  /** Other fencers by when each was last heard, oldest first. */
  private readonly fencers = new Map<string, number>();

  constructor(aloneIntervalMs: number) {
    this.sharedPerSecond = 1000 / aloneIntervalMs;
  }

  /** Another process's fence, heard at `at`. */
  heard(fencer: string, at: number): void {
    const slot = (this.oldest + this.heardCount) % FENCES_HELD;
    this.heardAt[slot] = at;
    if (this.heardCount < FENCES_HELD) this.heardCount++;
    else this.oldest = (this.oldest + 1) % FENCES_HELD;
    this.fencers.delete(fencer);
    this.fencers.set(fencer, at);
    if (this.fencers.size > FENCERS_HELD) {
      const first = this.fencers.keys().next();
      if (!first.done) this.fencers.delete(first.value);
    }
  }

  /** Processes heard fencing within the window, this one counted. */
  fencing(at: number): number {
    this.forget(at);
    return this.fencers.size + 1;
  }

  /**
   * Milliseconds to keep between this process's fences: none while no other process
   * fences. Otherwise this process takes what the others leave of the shared rate, and
   * at least an equal share with each of them (the fencers counted are at most 32, so a
   * crowd of them, or a forger, holds its fences back by at most 33 × `aloneIntervalMs`).
   */
  interval(at: number): number {
    this.forget(at);
    if (this.heardCount === 0) return 0;
    const othersPerSecond = (this.heardCount * 1000) / FENCE_SHARE_WINDOW_MS;
    const fairShare = this.sharedPerSecond / (Math.min(this.fencers.size, FENCERS_COUNTED) + 1);
    return 1000 / Math.max(this.sharedPerSecond - othersPerSecond, fairShare);
  }

  private forget(at: number): void {
    const since = at - FENCE_SHARE_WINDOW_MS;
    while (this.heardCount > 0 && (this.heardAt[this.oldest] ?? 0) < since) {
      this.oldest = (this.oldest + 1) % FENCES_HELD;
      this.heardCount--;
    }
    for (const [fencer, heardAt] of this.fencers) {
      if (heardAt >= since) break;
      this.fencers.delete(fencer);
    }
  }
}
