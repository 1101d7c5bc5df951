import { AddressWindows } from "../core/address-windows.js";

/**
 * Invalid bearer tokens per client address in fixed one-minute windows; an address that
 * reaches the limit is refused until its window ends. Counted in `AddressWindows`, not
 * through @fastify/rate-limit like the low-volume limits: this is the path a flood of
 * made-up tokens drives (docs/security.md).
 */
export class InvalidTokenLimiter {
  private readonly windows = new AddressWindows();

  constructor(private readonly maxPerMinute: number) {}

  /** Milliseconds this address stays refused, or 0. */
  blockedFor(address: string, now: number): number {
    const window = this.windows.open(address, now);
    if (window === undefined || window.count < this.maxPerMinute) return 0;
    return window.end - now;
  }

  /** Counts one invalid token; true when this one reaches the limit and blocks the address. */
  recordFailure(address: string, now: number): boolean {
    return this.windows.count(address, now).count === this.maxPerMinute;
  }

  get addresses(): number {
    return this.windows.size;
  }
}
