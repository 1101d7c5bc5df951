import { describe, expect, it } from "vitest";
import { InvalidTokenLimiter } from "./invalid-token-limiter.js";

const T0 = 1_800_000_000_000;

describe("InvalidTokenLimiter", () => {
  it("refuses an address at the limit until its minute ends, and says so once", () => {
    const limiter = new InvalidTokenLimiter(3);
    const blocked: boolean[] = [];
    for (let i = 0; i < 5; i++) blocked.push(limiter.recordFailure("198.51.100.7", T0 + i));
    expect(blocked).toEqual([false, false, true, false, false]);
    expect(limiter.blockedFor("198.51.100.7", T0 + 10)).toBe(60_000 - 10);
    expect(limiter.blockedFor("198.51.100.8", T0 + 10)).toBe(0);
    expect(limiter.blockedFor("198.51.100.7", T0 + 60_000)).toBe(0);
  });

  it("does not block below the limit, and starts a new count with a new window", () => {
    const limiter = new InvalidTokenLimiter(3);
    limiter.recordFailure("a", T0);
    limiter.recordFailure("a", T0 + 1);
    expect(limiter.blockedFor("a", T0 + 2)).toBe(0);
    limiter.recordFailure("a", T0 + 60_000);
    limiter.recordFailure("a", T0 + 60_001);
    expect(limiter.blockedFor("a", T0 + 60_002)).toBe(0);
    expect(limiter.recordFailure("a", T0 + 60_003)).toBe(true);
    expect(limiter.blockedFor("a", T0 + 60_004)).toBe(59_996);
  });

  it("stays bounded under a flood from many addresses, keeping the newest", () => {
    const limiter = new InvalidTokenLimiter(2);
    for (let i = 0; i < 250_000; i++) limiter.recordFailure(`10.${i}`, T0);
    expect(limiter.addresses).toBeLessThanOrEqual(100_000);
    limiter.recordFailure("10.249999", T0 + 1);
    expect(limiter.blockedFor("10.249999", T0 + 2)).toBeGreaterThan(0);
  });

  it("keeps an address whose new window began recently when it prunes", () => {
    const limiter = new InvalidTokenLimiter(2);
    limiter.recordFailure("early", T0);
    // Windows still open when the pruning comes: only age decides what goes.
    for (let i = 0; i < 99_999; i++) limiter.recordFailure(`10.${i}`, T0 + 30_000);
    // "early" starts a new window after all the others began: it is now the newest.
    limiter.recordFailure("early", T0 + 60_000);
    limiter.recordFailure("early", T0 + 60_001);
    for (let i = 0; i < 10; i++) limiter.recordFailure(`11.${i}`, T0 + 60_002);
    expect(limiter.addresses).toBeLessThanOrEqual(100_000);
    expect(limiter.blockedFor("early", T0 + 60_003)).toBeGreaterThan(0);
  });
});
