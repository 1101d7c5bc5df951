import { KeywardError } from "../core/errors.js";
import type { Clock, RevocationEvent, RevocationEventStore } from "./ports.js";

// The revocation stream (GET /api/v1/service/events): every process holds the streams open
// on it, per application. Events are written to storage by the changes themselves, in
// their transactions; after a change commits, the process that made it calls `changed()`
// here and (on PostgreSQL) notifies the others, whose hubs are told the same. A hub then
// reads what is new, once for every application, and writes it to its streams.

/** Where a stream's text goes: the HTTP layer's response, or anything that takes text. */
export interface StreamSink {
  /**
   * Queues `text` for the reader. False when the reader's buffer is past its bound: nothing
   * more is written until `onDrain` fires (what it misses meanwhile is read from storage).
   */
  write(text: string): boolean;
  /** Calls `listener` once, when the reader has taken what was queued. */
  onDrain(listener: () => void): void;
  /** Ends the stream cleanly (the server is closing). */
  end(): void;
  /** Drops the connection (its reader stopped reading). */
  abort(): void;
}

export interface StreamLog {
  warn(fields: object, message: string): void;
}

export interface RevocationStreamOptions {
  /** A comment line at least this often keeps proxies from closing an idle stream. */
  keepAliveMs: number;
  /** Most streams one service key may hold open on this process. */
  maxStreamsPerKey: number;
  /** A reconnecting reader that missed more than this gets `reset` instead. */
  maxReplayEvents: number;
  /** Storage is read this often while streams are open, in case a notification was lost. */
  pollIntervalMs: number;
  /** A reader whose buffer has stayed full this long is disconnected. */
  stalledAfterMs: number;
  /** Events are kept at least this long (the replay window), then pruned. */
  retentionMs: number;
  pruneIntervalMs: number;
}

export const DEFAULT_REVOCATION_STREAM_OPTIONS: RevocationStreamOptions = {
  keepAliveMs: 15_000,
  maxStreamsPerKey: 10,
  maxReplayEvents: 5000,
  pollIntervalMs: 1000,
  stalledAfterMs: 60_000,
  retentionMs: 24 * 3_600_000,
  pruneIntervalMs: 600_000,
};

/** Events read from storage per query while catching up. */
const READ_BATCH = 1000;

/** Last-Event-ID as we hand it out: a decimal `seq`, nothing else. */
const EVENT_ID = /^[0-9]{1,15}$/;

export function formatEvent(event: RevocationEvent): string {
  const data = JSON.stringify({ tokenId: event.tokenId, at: new Date(event.at).toISOString() });
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${data}\n\n`;
}

/**
 * `reset`: what the reader missed cannot be replayed; it must drop every cached answer.
 * The id moves the reader to the present.
 */
export function formatReset(seq: number): string {
  return `id: ${seq}\nevent: reset\ndata: {}\n\n`;
}

/**
 * A bare `id:` dispatches no event but sets the reader's last event id (the SSE rules),
 * so even a reader that never gets an event reconnects with a position to replay from.
 */
export function formatPosition(seq: number): string {
  return `id: ${seq}\n\n`;
}

export const KEEP_ALIVE = ": keep-alive\n\n";

interface Subscriber {
  applicationId: string;
  keyId: string;
  sink: StreamSink;
  /** Every event of its application up to here has been written (or was before it came). */
  cursor: number;
  /** Closed by its reader, by its sink or by the hub: never written to again. */
  gone: boolean;
  /**
   * Since when its buffer has been full (clock ms), or undefined. Meanwhile nothing is
   * written: once it drains, what it missed is read from storage. A reader that falls
   * behind costs no memory beyond its socket's buffer, and never holds up the others.
   */
  behindSince: number | undefined;
}

export interface OpenStream {
  /** The reader has gone: forget it. */
  close(): void;
}

export class RevocationStream {
  private readonly byApplication = new Map<string, Set<Subscriber>>();
  private readonly perKey = new Map<string, number>();
  /** Every event up to here has been read and written to the streams open at the time. */
  private lastSeq: number | undefined;
  /** Storage reads and stream openings run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private readQueued = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    private readonly store: RevocationEventStore,
    private readonly clock: Clock,
    private readonly options: RevocationStreamOptions = DEFAULT_REVOCATION_STREAM_OPTIONS,
    private readonly log: StreamLog = { warn: () => {} },
  ) {}

  /** Starts the keep-alive, the safety-net read and pruning. */
  start(): void {
    const every = (ms: number, run: () => void) => {
      const timer = setInterval(run, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.keepAliveMs, () => this.keepAlive());
    every(this.options.pollIntervalMs, () => {
      if (this.openStreams > 0) this.changed();
    });
    every(this.options.pruneIntervalMs, () => {
      this.store.prune(this.clock.now() - this.options.retentionMs).catch((error: unknown) => {
        this.log.warn({ err: error }, "pruning the revocation stream failed");
      });
    });
  }

  get openStreams(): number {
    let count = 0;
    for (const set of this.byApplication.values()) count += set.size;
    return count;
  }

  /** Open streams whose reader has fallen behind (their buffer is full). */
  get streamsBehind(): number {
    let count = 0;
    for (const subscriber of this.subscribers()) if (subscriber.behindSince !== undefined) count++;
    return count;
  }

  /** Something may have been written to the stream: read it (coalesced). */
  changed(): void {
    if (this.readQueued || this.closed) return;
    this.readQueued = true;
    void this.run(async () => {
      await this.endRevokedKeys();
      await this.readNew();
    });
  }

  /**
   * How the hub learns which service keys have been revoked (one query for the keys of
   * the open streams). A key's revocation wakes the hub like a token's, on every process,
   * and the 1 s safety-net read checks again: a revoked key's streams end at once.
   */
  setRevokedKeyCheck(check: (keyIds: readonly string[]) => Promise<ReadonlySet<string>>): void {
    this.revokedKeys = check;
  }

  private revokedKeys: ((keyIds: readonly string[]) => Promise<ReadonlySet<string>>) | undefined;

  private async endRevokedKeys(): Promise<void> {
    if (this.revokedKeys === undefined || this.perKey.size === 0) return;
    let revoked: ReadonlySet<string>;
    try {
      revoked = await this.revokedKeys([...this.perKey.keys()]);
    } catch (error) {
      this.log.warn({ err: error }, "checking the streams' service keys failed");
      return;
    }
    if (revoked.size === 0) return;
    for (const subscriber of this.subscribers()) {
      if (!revoked.has(subscriber.keyId)) continue;
      this.forget(subscriber);
      subscriber.sink.end();
    }
  }

  /**
   * Opens a stream for a service key: at most `maxStreamsPerKey` per key, else
   * `too_many_streams`. Writes the reader's position, then what it missed since
   * `lastEventId` (or `reset`), then every new event of its application as it comes.
   */
  async open(input: {
    applicationId: string;
    keyId: string;
    lastEventId: string | undefined;
    sink: StreamSink;
  }): Promise<OpenStream> {
    this.checkRoomFor(input.keyId);
    const held = this.perKey.get(input.keyId) ?? 0;
    // Counted now, before any await, so streams opened at once cannot pass the limit.
    this.perKey.set(input.keyId, held + 1);
    const subscriber: Subscriber = {
      applicationId: input.applicationId,
      keyId: input.keyId,
      sink: input.sink,
      cursor: 0,
      gone: false,
      behindSince: undefined,
    };
    let counted = true;
    const release = () => {
      this.forget(subscriber);
      if (!counted) return;
      counted = false;
      const count = (this.perKey.get(subscriber.keyId) ?? 1) - 1;
      if (count > 0) this.perKey.set(subscriber.keyId, count);
      else this.perKey.delete(subscriber.keyId);
    };
    try {
      await this.run(async () => {
        await this.catchUp(subscriber, input.lastEventId);
        // Joined on the chain, so no read of new events falls between catching up and this.
        if (this.closed) input.sink.end();
        else if (!subscriber.gone) this.join(subscriber);
      });
    } catch (error) {
      release();
      throw error;
    }
    return { close: release };
  }

  /**
   * Throws what `open` would refuse a stream of this key with now: the server closing, or
   * the key's streams at their limit. For `HEAD`, which answers as a `GET` would.
   */
  checkRoomFor(keyId: string): void {
    if (this.closed) throw new KeywardError("storage_unavailable", "The server is closing.");
    const held = this.perKey.get(keyId) ?? 0;
    if (held >= this.options.maxStreamsPerKey) {
      throw new KeywardError(
        "too_many_streams",
        `This key already has ${held} event streams open; close one first.`,
      );
    }
  }

  /** Ends every stream and stops the timers; later openings are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    for (const subscriber of this.subscribers()) subscriber.sink.end();
    this.byApplication.clear();
    this.perKey.clear();
    await this.chain;
  }

  private keepAlive(): void {
    const now = this.clock.now();
    for (const subscriber of this.subscribers()) {
      if (subscriber.behindSince === undefined) this.write(subscriber, KEEP_ALIVE);
      else if (now - subscriber.behindSince >= this.options.stalledAfterMs) {
        // It reconnects with its Last-Event-ID when it reads again, and is replayed.
        this.log.warn(
          { keyId: subscriber.keyId },
          "revocation stream reader stalled: disconnected",
        );
        this.forget(subscriber);
        subscriber.sink.abort();
      }
    }
  }

  private join(subscriber: Subscriber): void {
    let set = this.byApplication.get(subscriber.applicationId);
    if (set === undefined) {
      set = new Set();
      this.byApplication.set(subscriber.applicationId, set);
    }
    set.add(subscriber);
  }

  private forget(subscriber: Subscriber): void {
    subscriber.gone = true;
    const set = this.byApplication.get(subscriber.applicationId);
    set?.delete(subscriber);
    if (set?.size === 0) this.byApplication.delete(subscriber.applicationId);
  }

  private *subscribers(): Iterable<Subscriber> {
    for (const set of [...this.byApplication.values()]) yield* [...set];
  }

  private run(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work);
    // The chain goes on whatever one step did; the step's caller sees its own failure.
    this.chain = next.catch(() => {});
    return next;
  }

  /** Where the hub stands, read from storage when no stream has been open to keep it. */
  private async position(): Promise<number> {
    if (this.lastSeq === undefined) this.lastSeq = (await this.store.bounds()).head;
    return this.lastSeq;
  }

  /**
   * Runs on the chain, so no read of new events is written in between: everything after
   * the cursor it leaves is either written by a later read or was before the reader came.
   */
  private async catchUp(subscriber: Subscriber, lastEventId: string | undefined): Promise<void> {
    const position = await this.position();
    if (lastEventId === undefined) {
      subscriber.cursor = position;
      this.write(subscriber, formatPosition(position));
      return;
    }
    const after = EVENT_ID.test(lastEventId) ? Number(lastEventId) : undefined;
    const { floor, head } = await this.store.bounds();
    // An id below the floor was pruned, one above the head was never handed out by this
    // database (a restore, another deployment), and garbage is garbage: none can be replayed.
    if (after === undefined || after < floor || after > head) {
      subscriber.cursor = position;
      this.write(subscriber, formatReset(position));
      return;
    }
    subscriber.cursor = after;
    if (await this.replay(subscriber, position)) this.write(subscriber, formatPosition(after));
  }

  /**
   * Writes the reader's events after its cursor from storage, or `reset` when there are
   * more than `maxReplayEvents`. True when there were none. Every event up to `position`
   * had committed before the query, so it is read here if it concerns this reader; later
   * ones may be too, and are skipped when the read of new events reaches them.
   */
  private async replay(subscriber: Subscriber, position: number): Promise<boolean> {
    const missed = await this.store.listAfter(
      subscriber.cursor,
      this.options.maxReplayEvents + 1,
      subscriber.applicationId,
    );
    if (missed.length > this.options.maxReplayEvents) {
      subscriber.cursor = position;
      this.write(subscriber, formatReset(position));
      return false;
    }
    for (const event of missed) {
      subscriber.cursor = event.seq;
      // Full again: the rest is read again when it drains.
      if (!this.write(subscriber, formatEvent(event))) return false;
    }
    subscriber.cursor = Math.max(subscriber.cursor, position);
    return missed.length === 0;
  }

  /**
   * A reader that fell behind has drained: catch it up from storage, a batch at a time,
   * for as long as it keeps taking them. Unless what it missed has been pruned meanwhile.
   */
  private resume(subscriber: Subscriber): void {
    void this.run(async () => {
      if (subscriber.gone || this.closed) return;
      subscriber.behindSince = undefined;
      try {
        const position = await this.position();
        if (subscriber.cursor < (await this.store.bounds()).floor) {
          subscriber.cursor = position;
          this.write(subscriber, formatReset(position));
          return;
        }
        for (;;) {
          const missed = await this.store.listAfter(
            subscriber.cursor,
            READ_BATCH,
            subscriber.applicationId,
          );
          for (const event of missed) {
            subscriber.cursor = event.seq;
            if (!this.write(subscriber, formatEvent(event))) return;
          }
          if (missed.length < READ_BATCH) break;
        }
        subscriber.cursor = Math.max(subscriber.cursor, position);
      } catch (error) {
        // Storage is down: give up on this reader; it reconnects and replays.
        this.log.warn({ err: error }, "catching up a revocation stream reader failed");
        this.forget(subscriber);
        subscriber.sink.abort();
      }
    });
  }

  private async readNew(): Promise<void> {
    this.readQueued = false;
    if (this.openStreams === 0) {
      // Nobody to tell: the next stream reads the position afresh.
      this.lastSeq = undefined;
      return;
    }
    try {
      let after = await this.position();
      for (;;) {
        const events = await this.store.listAfter(after, READ_BATCH);
        for (const event of events) {
          this.dispatch(event);
          after = event.seq;
          this.lastSeq = after;
        }
        if (events.length < READ_BATCH) break;
      }
    } catch (error) {
      // Read again at the next notification or poll; nothing written is lost.
      this.log.warn({ err: error }, "reading the revocation stream failed");
    }
  }

  private dispatch(event: RevocationEvent): void {
    const set = this.byApplication.get(event.applicationId);
    if (set === undefined) return;
    let text: string | undefined;
    for (const subscriber of [...set]) {
      if (event.seq <= subscriber.cursor || subscriber.behindSince !== undefined) continue;
      subscriber.cursor = event.seq;
      text ??= formatEvent(event);
      this.write(subscriber, text);
    }
  }

  /** Writes to a reader; false when its buffer is full (it is then behind until it drains). */
  private write(subscriber: Subscriber, text: string): boolean {
    if (subscriber.gone || subscriber.behindSince !== undefined) return false;
    if (subscriber.sink.write(text)) return true;
    subscriber.behindSince = this.clock.now();
    subscriber.sink.onDrain(() => this.resume(subscriber));
    return false;
  }
}
/**
 * Sends `secret.ended` when a regenerated token's old secret reaches the end of its grace.
 * Every process schedules a timer for the next end it knows of (read at start and after
 * every token change); when it fires, storage writes each ended secret's event exactly once,
 * whichever process gets there first, and `announced` tells the others.
 */
export class SecretEndSweeper {
  private timer: NodeJS.Timeout | undefined;
  private scheduling = false;
  private again = false;
  private closed = false;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly store: RevocationEventStore,
    private readonly clock: Clock,
    private readonly announced: (tokenIds: readonly string[]) => Promise<void>,
    private readonly log: StreamLog = { warn: () => {} },
    /** Longest a timer is set for; the next end is read again after it (and on errors). */
    private readonly maxWaitMs = 3_600_000,
  ) {}

  /** Reads the next end and sets the timer for it (coalesced). */
  reschedule(): void {
    if (this.closed) return;
    if (this.scheduling) {
      this.again = true;
      return;
    }
    this.scheduling = true;
    void this.store
      .nextSecretEnd()
      .then(
        (next) => this.setTimer(next === undefined ? this.maxWaitMs : next - this.clock.now()),
        (error: unknown) => {
          this.log.warn({ err: error }, "reading the next secret end failed");
          this.setTimer(5000);
        },
      )
      .finally(() => {
        this.scheduling = false;
        if (this.again) {
          this.again = false;
          this.reschedule();
        }
      });
  }

  /** Announces every old secret ended by now; then sets the timer for the next. */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        const tokenIds = await this.store.announceEndedSecrets(this.clock.now());
        if (tokenIds.length > 0) await this.announced(tokenIds);
      } catch (error) {
        this.log.warn({ err: error }, "announcing ended secrets failed");
      } finally {
        this.sweeping = undefined;
      }
      this.reschedule();
    })();
    return this.sweeping;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.sweeping;
  }

  private setTimer(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const delay = Math.min(Math.max(0, delayMs), this.maxWaitMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sweep();
    }, delay);
    this.timer.unref();
  }
}
