import { utcDay } from "../core/model.js";
import type { UsageIncrement, UsageStore } from "./ports.js";

const DAY_MS = 86_400_000;
/** Tokens per usage transaction. */
const USAGE_CHUNK = 500;

const byTokenThenDay = (a: UsageIncrement, b: UsageIncrement): number =>
  a.tokenId < b.tokenId
    ? -1
    : a.tokenId > b.tokenId
      ? 1
      : a.day < b.day
        ? -1
        : a.day > b.day
          ? 1
          : 0;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Counter {
  dayNumber: number;
  requests: number;
  lastUsedAt: number;
}

/**
 * Counts accepted requests in memory and writes them in one batch per flush, so a
 * verified request never waits on a storage write. A failed flush keeps its counts
 * and adds them to the next one: usage is delayed, never lost while the process lives.
 */
export class UsageRecorder {
  private current = new Map<string, Counter>();
  /** Counts of earlier days, or of a flush that failed, waiting for the next flush. */
  private pending: UsageIncrement[] = [];
  private flushing: Promise<void> | undefined;
  /** Presentations of revoked or expired tokens, per token. */
  private refusals = new Map<string, { count: number; lastAt: number }>();
  private writtenBatches = 0;

  /**
   * Told how long each flush that wrote something took, in seconds (for metrics). Timed
   * with the monotonic performance clock: a duration, not a time any decision reads.
   */
  onFlushed: ((seconds: number) => void) | undefined;

  constructor(private readonly store: UsageStore) {}

  record(tokenId: string, now: number): void {
    const dayNumber = Math.floor(now / DAY_MS);
    const counter = this.current.get(tokenId);
    if (counter === undefined) {
      this.current.set(tokenId, { dayNumber, requests: 1, lastUsedAt: now });
      return;
    }
    if (counter.dayNumber !== dayNumber) {
      this.pending.push(toIncrement(tokenId, counter));
      counter.dayNumber = dayNumber;
      counter.requests = 0;
    }
    counter.requests++;
    if (now > counter.lastUsedAt) counter.lastUsedAt = now;
  }

  /** Counts a revoked or expired token that was presented anyway. */
  recordRefusal(tokenId: string, now: number): void {
    const refusal = this.refusals.get(tokenId);
    if (refusal === undefined) {
      this.refusals.set(tokenId, { count: 1, lastAt: now });
      return;
    }
    refusal.count++;
    if (now > refusal.lastAt) refusal.lastAt = now;
  }

  /** Requests counted and not yet written. */
  get unflushedRequests(): number {
    let total = 0;
    for (const c of this.current.values()) total += c.requests;
    for (const p of this.pending) total += p.requests;
    return total;
  }

  /** Flushes that had something to write and wrote it, since start. */
  get flushes(): number {
    return this.writtenBatches;
  }

  /** Writes everything counted so far. Concurrent calls share one write. */
  flush(): Promise<void> {
    this.flushing ??= this.writeBatch().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async writeBatch(): Promise<void> {
    const started = performance.now();
    const wroteUsage = await this.writeUsage();
    const wroteRefusals = await this.writeRefusals();
    if (wroteUsage || wroteRefusals) {
      this.writtenBatches++;
      this.onFlushed?.((performance.now() - started) / 1000);
    }
  }

  private async writeUsage(): Promise<boolean> {
    const batch = this.pending;
    for (const [tokenId, counter] of this.current) batch.push(toIncrement(tokenId, counter));
    this.pending = [];
    this.current = new Map();
    if (batch.length === 0) return false;
    // In chunks, one transaction each, with the event loop free between them: on SQLite
    // a write runs on the event loop, so one transaction over thousands of scattered
    // tokens would stall every request for its whole length. Sorted first, so that each
    // chunk covers one stretch of token ids: its rows sit on neighbouring pages of the
    // usage table's key, and a flush writes each such page about once, where chunks of
    // tokens in the order they were first used each wrote pages all over it.
    batch.sort(byTokenThenDay);
    for (let start = 0; start < batch.length; start += USAGE_CHUNK) {
      if (start > 0) await yieldToEventLoop();
      try {
        await this.store.applyUsage(batch.slice(start, start + USAGE_CHUNK));
      } catch (error) {
        // Chunks before this one are written; this one and the rest wait for the next flush.
        this.pending = batch.slice(start).concat(this.pending);
        throw error;
      }
    }
    return true;
  }

  private async writeRefusals(): Promise<boolean> {
    if (this.refusals.size === 0) return false;
    const batch = this.refusals;
    this.refusals = new Map();
    try {
      await this.store.applyRefusals([...batch].map(([tokenId, r]) => ({ tokenId, ...r })));
    } catch (error) {
      for (const [tokenId, r] of batch) {
        const newer = this.refusals.get(tokenId);
        this.refusals.set(tokenId, {
          count: r.count + (newer?.count ?? 0),
          lastAt: Math.max(r.lastAt, newer?.lastAt ?? 0),
        });
      }
      throw error;
    }
    return true;
  }
}

function toIncrement(tokenId: string, counter: Counter): UsageIncrement {
  return {
    tokenId,
    day: utcDay(counter.dayNumber * DAY_MS),
    requests: counter.requests,
    lastUsedAt: counter.lastUsedAt,
  };
}
