import { randomBytes } from "node:crypto";
import { Client, type ClientConfig, type Notification, type QueryConfig } from "pg";
import { prefixOf, SecretFilter } from "../secret-filter.js";
import { ConnectionEnds } from "./connection-ends.js";
import { FenceShare } from "./fence-share.js";
import {
  INVALIDATE_ALL_PAYLOAD,
  INVALIDATION_CHANNEL,
  type InvalidationLog,
} from "./pg-invalidation.js";
import { ReconnectSchedule } from "./reconnect-schedule.js";

/** Where migration 0018's trigger announces the prefixes of inserted secrets. */
export const SECRETS_ADDED_CHANNEL = "keyward_secrets_added";

/**
 * How long every process of this version waits, after committing a token's new secret,
 * before anyone is told of it. The same on every process: a constant, not a setting.
 */
export const SECRET_SETTLE_MS = 10;

/**
 * How recent a fence must be for an absent prefix to be answered at once: less than
 * SECRET_SETTLE_MS, so that timers that fire early (Node's start from the event loop's
 * cached, whole-millisecond time) or clocks that drift apart do not eat the margin.
 */
export const FENCE_FRESH_MS = 7;

/**
 * Where every process sends its fences, each marked with the sender: a process hears how
 * often the others fence, and shares one process's fence rate with them (see the class).
 */
export const FENCES_CHANNEL = "keyward_secret_fences";

/** `<fencer id>:<sequence number>`; anything else on the channel is ignored. */
const FENCE_PAYLOAD = /^([0-9a-f]{16}):(\d{1,15})$/;

/**
 * Waits until SECRET_SETTLE_MS have passed since the call, measured on the monotonic
 * clock, not trusted to one timer (PostgresStore's `afterSecretCommit`). Real time on
 * purpose: other processes' filters rely on it.
 */
export async function settleSecret(): Promise<void> {
  const until = performance.now() + SECRET_SETTLE_MS;
  for (let left = SECRET_SETTLE_MS; left > 0; left = until - performance.now())
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(left)));
}

/** The same two levels as the token-change channel's log. */
export type SecretFilterLog = InvalidationLog;

export interface PgSecretFilterOptions {
  /** A direct (or session-mode) URL: LISTEN needs a session of its own. */
  url: string;
  /** Shown in pg_stat_activity; defaults to `keyward-secrets:<pid>`. */
  applicationName?: string;
  log?: SecretFilterLog;
  /** Reconnect delay after the connection drops: doubles from `initial` up to `max`. */
  reconnectDelayMs?: { initial: number; max: number };
  /**
   * Longest a lookup waits for a fence: then it reads storage. A fence out this long makes
   * every lookup read storage until it comes back; one out for `fenceTimeoutMs × 15` means
   * a dead connection: it is dropped, and the filter with it, until it is back and loaded.
   */
  fenceTimeoutMs?: number;
  /** Longest the connection may take to open, and any statement but the load to answer. */
  connectTimeoutMs?: number;
  /** Most secrets one statement of the load reads. */
  loadChunk?: number;
  /** A monotonic clock in milliseconds (default `performance.now`); tests pass their own. */
  now?: () => number;
}

export interface PgSecretFilter {
  /**
   * False only when no secret with this hash (64 hex digits) can have reached anyone before
   * this call: `true` at once when the filter holds the hash's prefix or is not loaded,
   * `false` at once after a recent fence, otherwise a promise settled after a fence (see
   * the class).
   */
  mayHold(hash: string): boolean | Promise<boolean>;
  /**
   * Synchronous, for the request path: true only when `mayHold` would say false at once,
   * given the hash's first 32 bits (`prefixOfBinaryHash`).
   */
  absentNow(prefix: number): boolean;
  /** True while the filter is loaded and its connection listening. */
  readonly ready: boolean;
  /** Prefixes held (distinct); 0 while not ready. */
  readonly size: number;
  /** Fences sent since start. */
  readonly fencesSent: number;
  /**
   * Milliseconds this filter now keeps between its fences: 0 while no other process
   * fences, else its share of one process's fence rate (see the class).
   */
  readonly fenceIntervalMs: number;
  close(): Promise<void>;
}

/** Hashes Keyward makes start so; the filter says nothing of any other text. */
const HEX_PREFIX = /^[0-9a-f]{8}/;

/** The load reads stored secrets in order of hash, this many to a statement. */
const LOAD_CHUNK = 500_000;
/** Longest one statement of the load may take. */
const LOAD_STATEMENT_TIMEOUT_MS = 60_000;

const noLog: SecretFilterLog = { info: () => {}, warn: () => {} };

/**
 * Starts the filter; resolves once the first connection attempt (and load) has finished.
 * If it failed, every `mayHold` says true (lookups read storage) while it retries.
 */
export async function startPgSecretFilter(options: PgSecretFilterOptions): Promise<PgSecretFilter> {
  const filter = new ListeningSecretFilter(options);
  await filter.connect();
  return filter;
}

interface Fence {
  seq: number;
  /** `now()` just before it was sent. */
  sentAt: number;
  waiters: Array<(caughtUp: boolean) => void>;
  /** Past `fenceTimeoutMs`: its waiters were answered "maybe", and so is every lookup. */
  late: boolean;
  lateTimer: NodeJS.Timeout;
  deadTimer: NodeJS.Timeout;
  /** Its waiters' own limit, counted from the first of them (see `afterFence`). */
  waitLimit: NodeJS.Timeout | undefined;
}

/**
 * The first 32 bits of every stored secret hash, for PostgreSQL, where many processes
 * write secrets. Loaded at start and kept complete by migration 0018's trigger, which
 * announces the prefixes of every inserted secret in the inserting transaction.
 *
 * A notice reaches each process a moment after its commit, so an absent prefix could
 * belong to a secret that has just been committed elsewhere: answering "absent" on the
 * filter alone could refuse a token its owner has already been shown. A fence closes that
 * gap: a NOTIFY this process sends and hears back on its own connection. PostgreSQL delivers
 * notices in commit order, so when a fence sent at time s comes back, every notice of a
 * secret committed before s has arrived. And no token is shown to its owner until
 * SECRET_SETTLE_MS after its secret committed (`settleSecret`, awaited by the store on
 * every process). So a request that arrives at t, when a fence sent at s >= t -
 * FENCE_FRESH_MS has come back, carries no secret committed after s: an absent prefix is
 * final, answered at once. Otherwise the lookup waits for the next fence, sent after it
 * arrived. Only durations are compared, each on its own process's clock, with
 * SECRET_SETTLE_MS - FENCE_FRESH_MS to spare. While made-up tokens keep coming, a fence
 * goes out whenever the last is half that window old, one at a time, so most are answered
 * at once.
 *
 * Each fence wakes every listening connection on the database, so fences from N processes
 * would cost PostgreSQL N² wake-ups. Instead, fences go to one channel, marked with their
 * sender, and every process hears the others' (FenceShare): together they send about as
 * many as one process alone, each taking what the others leave of that rate and at least
 * an equal share, so what PostgreSQL does for fences grows with N, not N². Their made-up
 * tokens wait for a fence more often instead (docs/deployment.md, "Made-up tokens: the
 * secret filter", has the figures).
 *
 * Only ever a superset (a deleted secret's prefix stays until the next load), so "maybe"
 * may be wrong, "absent" never. Not ready (the connection is down, or the load has not
 * finished), it answers "maybe" for everything: lookups read storage, as before. Nor
 * does it answer "absent" while a fence is late. The connection's liveness needs no
 * heartbeat: an absent answer needs a fence that came back through it. The invalidation
 * channel's `*` (an operator changed tokens by hand) reloads the filter, for secrets
 * inserted with triggers disabled. Loads run on a connection of their own, opened after
 * LISTEN has taken effect, so fences never wait behind one.
 */
class ListeningSecretFilter implements PgSecretFilter {
  private client: Client | undefined;
  private filter: SecretFilter | undefined;
  /** One list per load under way, of the prefixes heard meanwhile (its reads may miss them). */
  private readonly heardDuringLoads = new Set<number[]>();
  /** Marks this filter's fences on the shared channel. */
  private readonly fencerId = randomBytes(8).toString("hex");
  private fenceSeq = 0;
  private fence: Fence | undefined;
  /** When this filter last sent a fence, and the timer of one held back by the shared rate. */
  private lastFenceAt = Number.NEGATIVE_INFINITY;
  private heldFence: NodeJS.Timeout | undefined;
  /** The connection's server process, which sends this filter's fences and no one else's. */
  private backendPid: number | undefined;
  /** Other processes' fences heard lately, and the interval they leave this one. */
  private readonly share = new FenceShare(FENCE_FRESH_MS / 2);
  /** When the latest fence to come back on this connection was sent. */
  private caughtUpAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  private nextWaiters: Array<(caughtUp: boolean) => void> = [];
  private nextWaitersLimit: NodeJS.Timeout | undefined;
  private readonly reconnects: ReconnectSchedule;
  private closed = false;
  private connecting: Promise<void> | undefined;
  /** A reload under way, on which connection, and whether another was asked for meanwhile. */
  private reloading: { client: Client; again: boolean } | undefined;
  /** The last connection's end, which `close` waits for. */
  private ending: Promise<void> | undefined;
  /** The loads' own connections, open while they read: `close` ends them. */
  private readonly readers = new Set<Client>();
  /** Its clients' connects and ends, so that ending one never hangs. */
  private readonly connections = new ConnectionEnds();
  private loadsStarted = 0;
  /** Which load made the filter in use: a load that started earlier never replaces it. */
  private installedLoad = 0;
  private readonly log: SecretFilterLog;

  constructor(private readonly options: PgSecretFilterOptions) {
    this.reconnects = new ReconnectSchedule(
      options.reconnectDelayMs ?? { initial: 50, max: 2000 },
      () => void this.connect(),
    );
    this.log = options.log ?? noLog;
    this.now = options.now ?? (() => performance.now());
  }

  get ready(): boolean {
    return this.filter !== undefined;
  }

  get size(): number {
    return this.filter?.size ?? 0;
  }

  get fencesSent(): number {
    return this.fenceSeq;
  }

  get fenceIntervalMs(): number {
    return this.fenceInterval(this.now());
  }

  absentNow(prefix: number): boolean {
    const filter = this.filter;
    return filter !== undefined && !filter.mayContainPrefix(prefix) && this.recentlyCaughtUp();
  }

  mayHold(hash: string): boolean | Promise<boolean> {
    const filter = this.filter;
    if (filter === undefined || !HEX_PREFIX.test(hash) || filter.mayContain(hash)) return true;
    if (this.recentlyCaughtUp()) return false;
    if (this.fence?.late) return true;
    return this.afterFence().then((caughtUp) => {
      // A reload may have replaced the filter meanwhile; a dropped connection cleared it.
      const current = this.filter;
      return !caughtUp || current === undefined || current.mayContain(hash);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reconnects.cancel();
    // Ending the connection fails whatever it is waiting for, a connect or a load included.
    const client = this.client;
    if (client !== undefined) this.lost(client, undefined);
    const readersEnded = [...this.readers].map((reader) => this.end(reader));
    await this.connecting;
    await this.ending;
    await Promise.all(readersEnded);
  }

  connect(): Promise<void> {
    this.connecting ??= this.establish().finally(() => {
      this.connecting = undefined;
      if (this.client === undefined && !this.closed) this.reconnects.schedule();
    });
    return this.connecting;
  }

  private clientConfig(name: string, statementTimeoutMs: number): ClientConfig {
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    return {
      connectionString: this.options.url,
      application_name: name,
      keepAlive: true,
      connectionTimeoutMillis: timeoutMs,
      // A statement that does not answer (a network black hole, a lock) fails instead of
      // hanging the start or a reload.
      query_timeout: statementTimeoutMs,
    };
  }

  private async establish(): Promise<void> {
    if (this.closed) return;
    let client: Client;
    try {
      client = new Client(
        this.clientConfig(
          this.options.applicationName ?? `keyward-secrets:${process.pid}`,
          this.options.connectTimeoutMs ?? 5000,
        ),
      );
    } catch (error) {
      this.log.warn({ err: messageOf(error) }, "secret filter cannot connect");
      return;
    }
    this.client = client;
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, undefined));
    client.on("notification", (message) => this.receive(client, message));
    try {
      await this.connections.connect(client);
      // A fence is a transaction of its own: it need not wait for the disk.
      await client.query("set synchronous_commit = off");
      const backend = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
      this.backendPid = backend.rows[0]?.pid;
      for (const channel of [SECRETS_ADDED_CHANNEL, FENCES_CHANNEL, INVALIDATION_CHANNEL])
        await client.query(`listen ${client.escapeIdentifier(channel)}`);
      // Listening first: a secret committed from here on is heard; one before, loaded.
      await this.load(client);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    if (this.client !== client) return;
    if (this.reconnects.attempts > 0)
      this.log.info(
        { attempts: this.reconnects.attempts },
        "secret filter's channel re-established",
      );
    this.reconnects.succeeded();
  }

  /**
   * Reads every stored prefix on a connection of its own, in chunks in order of hash (each
   * its own snapshot: a secret committed before LISTEN is in every later one, and one
   * after is heard), then puts the new filter in place. Until the first load has finished,
   * the filter answers "maybe".
   */
  private async load(client: Client): Promise<void> {
    const heard: number[] = [];
    this.heardDuringLoads.add(heard);
    const load = ++this.loadsStarted;
    const started = this.now();
    const reader = new Client(
      this.clientConfig(
        `${this.options.applicationName ?? "keyward-secrets"}-load`,
        LOAD_STATEMENT_TIMEOUT_MS,
      ),
    );
    reader.on("error", () => {});
    this.readers.add(reader);
    // A load whose connection was lost, or a filter closed, stops reading.
    const current = () => !this.closed && this.client === client;
    try {
      if (!current()) return;
      await this.connections.connect(reader);
      const chunk = this.options.loadChunk ?? LOAD_CHUNK;
      const parts: string[] = [];
      let after = "";
      for (;;) {
        // 8 hex digits a secret in one string, not a row each: no garbage per row. Read
        // as the trigger reads them, whatever a row holds.
        const result = await reader.query<{ prefixes: string | null; last: string | null }>(
          `select string_agg(
               case when hash ~ '^[0-9a-f]{8}' then left(hash, 8) else '00000000' end, ''
             ) as prefixes,
             max(hash) as last
           from (select hash from token_secrets where hash > $1 order by hash limit $2) chunk`,
          [after, chunk],
        );
        const row = result.rows[0];
        if (!current()) return;
        if (row?.prefixes == null || row.last === null) break;
        parts.push(row.prefixes);
        if (row.prefixes.length < chunk * 8) break;
        after = row.last;
      }
      if (load < this.installedLoad) return;
      const count = parts.reduce((n, part) => n + part.length / 8, 0);
      const filter = new SecretFilter(count + heard.length);
      for (const part of parts)
        for (let i = 0; i + 8 <= part.length; i += 8) filter.addPrefix(prefixOf(part, i));
      for (const prefix of heard) filter.addPrefix(prefix);
      this.filter = filter;
      this.installedLoad = load;
      this.log.info(
        { secrets: filter.size, ms: Math.round(this.now() - started) },
        "secret filter loaded",
      );
    } finally {
      this.heardDuringLoads.delete(heard);
      this.readers.delete(reader);
      await this.end(reader);
    }
  }

  private receive(client: Client, message: Notification): void {
    if (this.client !== client) return;
    const payload = message.payload ?? "";
    if (message.channel === SECRETS_ADDED_CHANNEL) {
      for (let i = 0; i + 8 <= payload.length; i += 9) {
        const prefix = prefixOf(payload, i);
        this.filter?.addPrefix(prefix);
        for (const heard of this.heardDuringLoads) heard.push(prefix);
      }
    } else if (message.channel === FENCES_CHANNEL) {
      const [, fencer, seq] = FENCE_PAYLOAD.exec(payload) ?? [];
      if (fencer === undefined) return;
      // A fence of this filter's comes from its own connection's backend, which no other
      // session can send from: another's is counted, never taken for proof.
      if (message.processId !== this.backendPid) {
        this.share.heard(fencer, this.now());
        return;
      }
      const fence = this.fence;
      if (fencer !== this.fencerId || fence === undefined || fence.seq !== Number(seq)) return;
      // Loaded when it was sent (sendFence checks), and the connection has not changed.
      this.caughtUpAt = Math.max(this.caughtUpAt, fence.sentAt);
      this.settleFence(true);
      if (this.nextWaiters.length > 0) this.requestFence();
    } else if (message.channel === INVALIDATION_CHANNEL && payload === INVALIDATE_ALL_PAYLOAD) {
      this.reload(client);
    }
  }

  /**
   * Whether a fence sent within FENCE_FRESH_MS has come back. While it is so, a fence is
   * sent whenever the last is half that old, so steady traffic keeps it so.
   */
  private recentlyCaughtUp(): boolean {
    const age = this.now() - this.caughtUpAt;
    if (age > FENCE_FRESH_MS) return false;
    if (age > FENCE_FRESH_MS / 2) this.requestFence();
    return true;
  }

  /**
   * Resolves true once a fence sent after this call came back; false if it is late or
   * lost, or once `fenceTimeoutMs` has passed since the first of its waiters began to wait
   * (a fence held back by the shared rate, or one still out, must not stretch that).
   */
  private afterFence(): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.nextWaiters.length === 0) {
        const batch = this.nextWaiters;
        clearTimeout(this.nextWaitersLimit);
        this.nextWaitersLimit = setTimeout(() => {
          for (const waiter of batch.splice(0)) waiter(false);
        }, this.options.fenceTimeoutMs ?? 2000);
        this.nextWaitersLimit.unref();
      }
      this.nextWaiters.push(resolve);
      this.requestFence();
    });
  }

  /**
   * Sends a fence unless one is out or held back: at once while no other process fences,
   * otherwise at the interval the shared rate leaves this one (the class's comment says
   * why), never more than half of `fenceTimeoutMs`.
   */
  private requestFence(): void {
    if (this.fence !== undefined || this.heldFence !== undefined) return;
    const now = this.now();
    const interval = this.fenceInterval(now);
    const wait = interval === 0 ? 0 : this.lastFenceAt + interval - now;
    if (wait <= 0) {
      this.sendFence();
      return;
    }
    this.heldFence = setTimeout(() => {
      this.heldFence = undefined;
      if (this.fence === undefined) this.sendFence();
    }, Math.ceil(wait));
    this.heldFence.unref();
  }

  private fenceInterval(now: number): number {
    return Math.min(this.share.interval(now), (this.options.fenceTimeoutMs ?? 2000) / 2);
  }

  private sendFence(): void {
    const client = this.client;
    const waiters = this.nextWaiters;
    const waitLimit = this.nextWaitersLimit;
    this.nextWaiters = [];
    this.nextWaitersLimit = undefined;
    if (client === undefined || this.filter === undefined) {
      clearTimeout(waitLimit);
      for (const resolve of waiters) resolve(false);
      return;
    }
    const seq = ++this.fenceSeq;
    const sentAt = this.now();
    this.lastFenceAt = sentAt;
    const timeoutMs = this.options.fenceTimeoutMs ?? 2000;
    // Late: its waiters read storage, as does every lookup until it comes back. Much
    // later: the connection is taken for dead (a slow commit ahead of it is not).
    const lateTimer = setTimeout(() => {
      const fence = this.fence;
      if (fence?.seq !== seq) return;
      fence.late = true;
      for (const resolve of fence.waiters.splice(0)) resolve(false);
      for (const resolve of this.nextWaiters.splice(0)) resolve(false);
      clearTimeout(this.nextWaitersLimit);
      this.nextWaitersLimit = undefined;
    }, timeoutMs);
    const deadTimer = setTimeout(
      () => this.lost(client, new Error("fence timed out")),
      timeoutMs * 15,
    );
    lateTimer.unref();
    deadTimer.unref();
    this.fence = { seq, sentAt, waiters, late: false, lateTimer, deadTimer, waitLimit };
    // pg reads a query's own `query_timeout`, which its types do not list. Behind slow
    // commits a fence is late, not lost: the dead timer decides, not the connection's.
    // A statement without parameters goes as one simple-protocol message, answered with
    // two, where `select pg_notify($1, $2)` took five out and six back (a row description
    // among them), hundreds of times a second. The payload is ours: hex and digits.
    const fenceQuery: QueryConfig & { query_timeout: number } = {
      text: `notify ${FENCES_CHANNEL}, '${this.fencerId}:${seq}'`,
      query_timeout: timeoutMs * 16,
    };
    client.query(fenceQuery).catch((error: unknown) => this.lost(client, error));
  }

  private end(client: Client): Promise<void> {
    return this.connections.end(client);
  }

  private settleFence(caughtUp: boolean): void {
    const fence = this.fence;
    if (fence === undefined) return;
    this.fence = undefined;
    clearTimeout(fence.lateTimer);
    clearTimeout(fence.deadTimer);
    clearTimeout(fence.waitLimit);
    for (const resolve of fence.waiters) resolve(caughtUp);
  }

  /**
   * Loads again; the filter in use keeps answering meanwhile. Asked for during a reload,
   * another follows it: the one under way may have read before the change it is for.
   */
  private reload(client: Client): void {
    if (this.reloading?.client === client) {
      this.reloading.again = true;
      return;
    }
    const reloading = { client, again: false };
    this.reloading = reloading;
    void this.load(client)
      .catch((error: unknown) => {
        // The filter in use lacks what the reload was for (secrets written without the
        // trigger): start again from a new connection and a full load.
        this.log.warn({ err: messageOf(error) }, "secret filter's reload failed");
        this.lost(client, error);
      })
      .finally(() => {
        if (this.reloading === reloading) this.reloading = undefined;
        if (reloading.again && this.client === client) this.reload(client);
      });
  }

  /** The connection is gone (or never came up): answer "maybe" until it is back and loaded. */
  private lost(client: Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    const wasReady = this.filter !== undefined;
    this.filter = undefined;
    this.caughtUpAt = Number.NEGATIVE_INFINITY;
    this.reloading = undefined;
    clearTimeout(this.heldFence);
    this.heldFence = undefined;
    // Loads of the lost connection stop reading (they check between chunks); end them now.
    for (const reader of this.readers) void this.end(reader);
    this.settleFence(false);
    const waiting = this.nextWaiters;
    this.nextWaiters = [];
    clearTimeout(this.nextWaitersLimit);
    this.nextWaitersLimit = undefined;
    for (const resolve of waiting) resolve(false);
    this.ending = this.end(client);
    if (this.closed) return;
    if (wasReady || this.reconnects.attempts === 0)
      this.log.warn(
        { err: messageOf(error) },
        "secret filter's channel lost: made-up tokens are looked up until it is back",
      );
    if (this.connecting === undefined) this.reconnects.schedule();
  }
}

function messageOf(error: unknown): string | undefined {
  return error instanceof Error ? error.message : undefined;
}
