import { afterEach, describe, expect, it, vi } from "vitest";
import { BatchedLookup } from "./batched-lookup.js";

/** A query that answers only when the test says so, recording the keys it was sent. */
function controlledQueries() {
  const sent: { keys: string[]; answer: (found: string[]) => void; fail: (e: Error) => void }[] =
    [];
  const lookUp = (keys: string[]) =>
    new Promise<Map<string, string>>((resolve, reject) => {
      sent.push({
        keys,
        answer: (found) => resolve(new Map(found.map((key) => [key, `row of ${key}`]))),
        fail: reject,
      });
    });
  return { sent, lookUp };
}

/** Lets the promise callbacks queued so far run (a query's answer, then what it sends next). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

class Unavailable extends Error {}

const options = {
  maxInFlight: 3,
  maxBatch: 4,
  stallMs: 20,
  maxWaitMs: 1000,
  maxQueued: 50,
  unavailable: () => new Unavailable("unavailable"),
  // Date is what fake timers move.
  now: () => Date.now(),
};

afterEach(() => {
  vi.useRealTimers();
});

describe("BatchedLookup", () => {
  it("sends a lone lookup at once, and answers found and not found", async () => {
    const { sent, lookUp } = controlledQueries();
    const lookups = new BatchedLookup(lookUp, options);
    const found = lookups.load("a");
    expect(sent.map((query) => query.keys)).toEqual([["a"]]);
    sent[0]?.answer(["a"]);
    await expect(found).resolves.toBe("row of a");
    const missing = lookups.load("b");
    sent[1]?.answer([]);
    await expect(missing).resolves.toBeUndefined();
  });

  it("sends the lookups that queued behind a query as one query, each key once", async () => {
    const { sent, lookUp } = controlledQueries();
    const lookups = new BatchedLookup(lookUp, options);
    const first = lookups.load("a");
    const queued = [lookups.load("b"), lookups.load("c"), lookups.load("b")];
    // Nothing more is sent while the first query is out.
    expect(sent).toHaveLength(1);
    sent[0]?.answer(["a"]);
    await first;
    await settle();
    expect(sent.map((query) => query.keys)).toEqual([["a"], ["b", "c"]]);
    sent[1]?.answer(["b"]);
    await expect(Promise.all(queued)).resolves.toEqual(["row of b", undefined, "row of b"]);
  });

  it("sends a full batch on another connection at once, and never more keys than maxBatch", async () => {
    const { sent, lookUp } = controlledQueries();
    const lookups = new BatchedLookup(lookUp, options);
    const all = ["a", "b", "c", "d", "e", "f"].map((key) => lookups.load(key));
    expect(sent.map((query) => query.keys)).toEqual([["a"], ["b", "c", "d", "e"]]);
    sent[0]?.answer(["a"]);
    await all[0];
    // A batch is still out: "f" waits for it.
    expect(sent).toHaveLength(2);
    sent[1]?.answer(["b", "c", "d", "e"]);
    await all[1];
    await settle();
    expect(sent[2]?.keys).toEqual(["f"]);
    sent[2]?.answer(["f"]);
    await expect(Promise.all(all)).resolves.toEqual(
      ["a", "b", "c", "d", "e", "f"].map((key) => `row of ${key}`),
    );
  });

  it("fails every lookup of a failed query, and the next ones still go", async () => {
    const { sent, lookUp } = controlledQueries();
    const lookups = new BatchedLookup(lookUp, options);
    const first = lookups.load("a");
    const second = lookups.load("b");
    const third = lookups.load("c");
    sent[0]?.fail(new Error("connection lost"));
    await expect(first).rejects.toThrow("connection lost");
    sent[1]?.fail(new Error("connection lost"));
    await expect(second).rejects.toThrow("connection lost");
    await expect(third).rejects.toThrow("connection lost");
    const later = lookups.load("d");
    sent[2]?.answer(["d"]);
    await expect(later).resolves.toBe("row of d");
  });

  it("sends queued lookups on another connection when a query stalls, up to maxInFlight", async () => {
    vi.useFakeTimers();
    const { sent, lookUp } = controlledQueries();
    const lookups = new BatchedLookup(lookUp, options);
    void lookups.load("stuck");
    const waiting = lookups.load("b");
    await vi.advanceTimersByTimeAsync(options.stallMs - 1);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent.map((query) => query.keys)).toEqual([["stuck"], ["b"]]);
    sent[1]?.answer(["b"]);
    await expect(waiting).resolves.toBe("row of b");
    // Two more stalls fill the third connection, then nothing more is opened.
    void lookups.load("c");
    await vi.advanceTimersByTimeAsync(options.stallMs);
    void lookups.load("d");
    await vi.advanceTimersByTimeAsync(options.stallMs);
    void lookups.load("e");
    await vi.advanceTimersByTimeAsync(options.stallMs * 5);
    expect(sent.map((query) => query.keys)).toEqual([["stuck"], ["b"], ["c"], ["d"]]);
  });

  it("waits the whole stall time for a lookup queued after the queue emptied", async () => {
    vi.useFakeTimers();
    const { sent, lookUp } = controlledQueries();
    const lookups = new BatchedLookup(lookUp, options);
    void lookups.load("stuck");
    void lookups.load("early"); // arms the stall timer
    await vi.advanceTimersByTimeAsync(options.stallMs - 4);
    sent[0]?.answer([]);
    await vi.advanceTimersByTimeAsync(0);
    // "early" went with the answer; the timer armed for it must not send "late" early.
    expect(sent.map((query) => query.keys)).toEqual([["stuck"], ["early"]]);
    void lookups.load("late");
    await vi.advanceTimersByTimeAsync(options.stallMs - 1);
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent.map((query) => query.keys)).toEqual([["stuck"], ["early"], ["late"]]);
  });

  it("fails lookups that wait past maxWaitMs with unavailable(), and the queue goes on", async () => {
    vi.useFakeTimers();
    const { sent, lookUp } = controlledQueries();
    const lookups = new BatchedLookup(lookUp, { ...options, maxInFlight: 1 });
    void lookups.load("stuck").catch(() => {});
    const first = lookups.load("a");
    await vi.advanceTimersByTimeAsync(options.maxWaitMs / 2);
    const second = lookups.load("b");
    const firstFailed = expect(first).rejects.toBeInstanceOf(Unavailable);
    await vi.advanceTimersByTimeAsync(options.maxWaitMs / 2);
    await firstFailed;
    const secondFailed = expect(second).rejects.toBeInstanceOf(Unavailable);
    await vi.advanceTimersByTimeAsync(options.maxWaitMs / 2);
    await secondFailed;
    sent[0]?.fail(new Error("query timeout"));
    await vi.advanceTimersByTimeAsync(0);
    const later = lookups.load("c");
    expect(sent.map((query) => query.keys)).toEqual([["stuck"], ["c"]]);
    sent[1]?.answer(["c"]);
    await expect(later).resolves.toBe("row of c");
  });

  it("fails a lookup at once when maxQueued lookups already wait", async () => {
    const { sent, lookUp } = controlledQueries();
    const lookups = new BatchedLookup(lookUp, { ...options, maxInFlight: 1, maxQueued: 2 });
    const first = lookups.load("a"); // sent
    const queued = [lookups.load("b"), lookups.load("c")];
    await expect(lookups.load("d")).rejects.toBeInstanceOf(Unavailable);
    sent[0]?.answer(["a"]);
    await first;
    await settle();
    sent[1]?.answer(["b", "c"]);
    await expect(Promise.all(queued)).resolves.toEqual(["row of b", "row of c"]);
  });

  it("fails the batch of a lookup that throws instead of rejecting, and goes on", async () => {
    let calls = 0;
    const lookups = new BatchedLookup(async (keys: string[]) => {
      calls++;
      return new Map(keys.map((key) => [key, key]));
    }, options);
    const throwing = new BatchedLookup<string>(() => {
      throw new Error("thrown");
    }, options);
    await expect(throwing.load("a")).rejects.toThrow("thrown");
    await expect(throwing.load("b")).rejects.toThrow("thrown");
    await expect(lookups.load("x")).resolves.toBe("x");
    expect(calls).toBe(1);
  });

  it("refuses settings that could never send", () => {
    const { lookUp } = controlledQueries();
    expect(() => new BatchedLookup(lookUp, { ...options, maxInFlight: 0 })).toThrow(RangeError);
  });
});
