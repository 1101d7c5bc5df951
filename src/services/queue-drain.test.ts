import { describe, expect, it } from "vitest";
import { pollUntil } from "../test-support/poll.js";
import { QueueDrain } from "./queue-drain.js";

/** A queue of numbers in memory, with what happened to it. */
function queueOf(items: number[]) {
  const due = [...items];
  const attempted: number[] = [];
  const claims: number[] = [];
  const failures: unknown[] = [];
  let fail = false;
  let gate: Promise<void> | undefined;
  const drain = new QueueDrain<number>({
    claimDue: async (_now, batch) => {
      if (fail) {
        fail = false;
        throw new Error("storage down");
      }
      const claimed = due.splice(0, batch);
      claims.push(claimed.length);
      // Held after finding nothing due: the moment a pass is about to end.
      if (claimed.length === 0 && gate) await gate;
      return claimed;
    },
    attempt: async (item) => {
      attempted.push(item);
    },
    clock: { now: () => 0 },
    claimMs: 1000,
    batch: 8,
    pollMs: 60_000,
    onPassFailed: (error) => failures.push(error),
  });
  return {
    drain,
    due,
    attempted,
    claims,
    failures,
    failNext: () => {
      fail = true;
    },
    hold: () => {
      let release = () => {};
      gate = new Promise<void>((resolve) => {
        release = () => {
          gate = undefined;
          resolve();
        };
      });
      return release;
    },
  };
}

describe("QueueDrain", () => {
  it("attempts every due item, a batch at a time, and stops when nothing is due", async () => {
    const q = queueOf(Array.from({ length: 20 }, (_, i) => i));
    await q.drain.drainNow();
    expect(q.attempted).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(q.claims).toEqual([8, 8, 4, 0]);
    await q.drain.close();
  });

  it("makes one more pass after a pass that was woken while it ran", async () => {
    const q = queueOf([1]);
    const release = q.hold();
    q.drain.wake();
    await pollUntil("the pass to find nothing more", () => q.claims.length === 2);
    // Queued after the pass looked for the last time, before it ended: only another pass
    // finds it (the next look would otherwise be a minute away).
    q.due.push(2);
    q.drain.wake();
    q.drain.wake();
    release();
    // Not drainNow, which would wake it once more itself.
    await pollUntil("the second pass", () => q.attempted.length === 2, { timeoutMs: 2000 });
    expect(q.attempted).toEqual([1, 2]);
    await pollUntil("the second pass to end", () => q.claims.length === 4);
    expect(q.claims).toEqual([1, 0, 1, 0]);
    await q.drain.close();
  });

  it("reports a failed pass, and the next wake tries again", async () => {
    const q = queueOf([1, 2]);
    q.failNext();
    await q.drain.drainNow();
    expect(q.failures).toEqual([new Error("storage down")]);
    expect(q.attempted).toEqual([]);
    await q.drain.drainNow();
    expect(q.attempted).toEqual([1, 2]);
    await q.drain.close();
  });

  it("claims nothing once closed", async () => {
    const q = queueOf([1]);
    await q.drain.close();
    q.drain.wake();
    await q.drain.drainNow();
    expect(q.claims).toEqual([]);
    expect(q.attempted).toEqual([]);
  });
});
