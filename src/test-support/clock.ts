import type { Clock } from "../services/ports.js";

/**
 * A clock the test moves by hand (passed as `overrides.clock` to startTestServer): it
 * follows the wall clock, shifted by what the test has advanced, so a test reaches an
 * expiry at once instead of sleeping until it.
 */
export class ManualClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
