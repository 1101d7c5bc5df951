/** What `pollUntil` waits for, and how long at most. */
export interface PollOptions {
  /** Gives up (and throws) after this long. */
  timeoutMs?: number;
  /** Pause between two calls of the probe. */
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns something other than `undefined` or `false`, and returns
 * that; throws once `timeoutMs` has passed, naming what it waited for. For effects that
 * land on their own schedule (a usage flush, a log line, a reconnect) and that a test
 * cannot await directly: it waits as long as needed and no longer, where a fixed sleep
 * is either too short on a slow machine or wasted time on a fast one.
 */
export async function pollUntil<T>(
  waitingFor: string | (() => string),
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 5000, intervalMs = 20 }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      const what = typeof waitingFor === "string" ? waitingFor : waitingFor();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
