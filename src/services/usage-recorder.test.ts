import { describe, expect, it } from "vitest";
import type { UsageIncrement, UsageStore } from "./ports.js";
import { UsageRecorder } from "./usage-recorder.js";

const T0 = Date.UTC(2030, 0, 1, 12);

/** A usage store in memory that can be told to fail its next calls. */
function memoryUsageStore() {
  const calls: UsageIncrement[][] = [];
  const totals = new Map<string, number>();
  let failures = 0;
  let failAfter = Number.POSITIVE_INFINITY;
  const store: UsageStore = {
    applyUsage: async (increments) => {
      if (calls.length >= failAfter && failures > 0) {
        failures--;
        throw new Error("storage down");
      }
      calls.push([...increments]);
      for (const inc of increments)
        totals.set(inc.tokenId, (totals.get(inc.tokenId) ?? 0) + inc.requests);
    },
    applyRefusals: async () => {},
    dailyUsage: async () => [],
    totalUsage: async (tokenId) => totals.get(tokenId) ?? 0,
    usageOfTokens: async () => [],
  } as UsageStore;
  return {
    store,
    calls,
    totals,
    failOnce(afterCalls: number) {
      failures = 1;
      failAfter = afterCalls;
    },
  };
}

function recordTokens(usage: UsageRecorder, count: number, times = 1) {
  for (let t = 0; t < times; t++)
    for (let i = 0; i < count; i++) usage.record(`tok_${String(i).padStart(20, "0")}`, T0 + t);
}

describe("UsageRecorder", () => {
  it("writes a large flush in chunks of at most 500 tokens, each its own call", async () => {
    const memory = memoryUsageStore();
    const usage = new UsageRecorder(memory.store);
    recordTokens(usage, 1234, 2);
    expect(usage.unflushedRequests).toBe(2468);
    await usage.flush();
    expect(memory.calls.map((c) => c.length)).toEqual([500, 500, 234]);
    expect(usage.unflushedRequests).toBe(0);
    expect(usage.flushes).toBe(1);
    expect([...memory.totals.values()].every((n) => n === 2)).toBe(true);
  });

  it("writes the tokens in order of id, so each chunk covers its own stretch of ids", async () => {
    const memory = memoryUsageStore();
    const usage = new UsageRecorder(memory.store);
    // First used in a scattered order, as uniform traffic over many tokens would be.
    for (let i = 0; i < 1200; i++) {
      usage.record(`tok_${String((i * 7919) % 1200).padStart(20, "0")}`, T0);
    }
    await usage.flush();
    const chunks = memory.calls.map((call) => call.map((inc) => inc.tokenId));
    expect(chunks.map((ids) => ids.length)).toEqual([500, 500, 200]);
    const all = chunks.flat();
    expect(all).toEqual([...all].sort());
  });

  it("lets other work run between chunks", async () => {
    const memory = memoryUsageStore();
    const usage = new UsageRecorder(memory.store);
    recordTokens(usage, 1500);
    const seen: number[] = [];
    // Other work, queued before the flush starts: it runs only when the flush gives the
    // event loop back. (A 0 ms interval timer was used before; on a fast machine the whole
    // flush fit inside its 1 ms, and the test failed though the flush did yield.)
    let probing = true;
    const probe = () => {
      seen.push(memory.calls.length);
      if (probing) setImmediate(probe);
    };
    setImmediate(probe);
    await usage.flush();
    probing = false;
    // It ran while the flush was between chunks.
    expect(seen.some((n) => n > 0 && n < 3)).toBe(true);
  });

  it("retries only the chunks a failed flush did not write, counting nothing twice", async () => {
    const memory = memoryUsageStore();
    const usage = new UsageRecorder(memory.store);
    recordTokens(usage, 1200);
    memory.failOnce(1);
    await expect(usage.flush()).rejects.toThrow("storage down");
    expect(memory.calls.map((c) => c.length)).toEqual([500]);
    expect(usage.unflushedRequests).toBe(700);
    expect(usage.flushes).toBe(0);
    await usage.flush();
    expect(memory.totals.size).toBe(1200);
    expect([...memory.totals.values()].every((n) => n === 1)).toBe(true);
    expect(usage.flushes).toBe(1);
  });
});
