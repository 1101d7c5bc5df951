import { randomBytes } from "node:crypto";
import { Client, type Notification } from "pg";
import { prefixOf, SecretFilter } from "../secret-filter.js";
import { INVALIDATE_ALL_PAYLOAD, INVALIDATION_CHANNEL } from "./pg-invalidation.js";

/** Where migration 0018's trigger announces the prefixes of inserted secrets. */
export const SECRETS_ADDED_CHANNEL = "keyward_secrets_added";

/**
 * How long every process of this version waits, after committing a token's new secret,
 * before anyone is told of it; and so how recent a fence must be for an absent prefix to be
 * answered at once. The same on every process: it is a constant, not a setting.
 */
export const SECRET_SETTLE_MS = 10;

/** Waits SECRET_SETTLE_MS (PostgresStore's `afterSecretCommit`). */
export function settleSecret(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SECRET_SETTLE_MS));
}

export interface SecretFilterLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface PgSecretFilterOptions {
  /** A direct (or session-mode) URL: LISTEN needs a session of its own. */
  url: string;
  /** Shown in pg_stat_activity; defaults to `keyward-secrets:<pid>`. */
  applicationName?: string;
  log?: SecretFilterLog;
  /** Reconnect delay after the connection drops: doubles from `initial` up to `max`. */
  reconnectDelayMs?: { initial: number; max: number };
  /**
   * Longest a fence may take before the connection counts as lost. The lookups waiting on
   * it then read storage, as every lookup does until the filter is back.
   */
  fenceTimeoutMs?: number;
  /** Longest the connection may take to open. */
  connectTimeoutMs?: number;
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
  close(): Promise<void>;
}

/** Hashes Keyward makes start so; the filter says nothing of any other text. */
const HEX_PREFIX = /^[0-9a-f]{8}/;

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
  client: Client;
  waiters: Array<(caughtUp: boolean) => void>;
  timer: NodeJS.Timeout;
}

/**
 * The first 32 bits of every stored secret hash, for PostgreSQL, where many processes
 * write secrets. Loaded at start and kept complete by migration 0018's trigger, which
 * announces the prefixes of every inserted secret in the inserting transaction.
 *
 * A notice reaches each process a moment after its commit, so a prefix absent here may
 * belong to a secret that has just been committed elsewhere: answering "absent" on the
 * filter alone could refuse a token its owner has already been shown. A fence closes that
 * gap: a NOTIFY this process sends to itself on its own connection. PostgreSQL delivers
 * notices in commit order, so when a fence sent at time s comes back, every notice of a
 * secret committed before s has arrived. And no token is shown to its owner until
 * SECRET_SETTLE_MS after its secret committed (`settleSecret`, awaited by the store on
 * every process). So a request that arrives at t, when a fence sent at s >= t -
 * SECRET_SETTLE_MS has come back, carries no secret committed after s: an absent prefix is
 * final, answered at once. Otherwise the lookup waits for the next fence, sent after it
 * arrived. Only durations are compared, each on its own process's clock. While made-up
 * tokens keep coming, a fence goes out whenever the last is a quarter of that window old,
 * so most are answered at once; a fence costs PostgreSQL a NOTIFY (no index probe), and
 * one is out at a time. A token that works on one process works on all, at once.
 *
 * Only ever a superset (a deleted secret's prefix stays until the next load), so "maybe"
 * may be wrong, "absent" never. Not ready (the connection is down, or the load has not
 * finished), it answers "maybe" for everything: lookups read storage, as before. The
 * connection's liveness needs no heartbeat: an absent answer needs a fence that came back
 * through it. The invalidation channel's `*` (an operator changed tokens by hand)
 * reloads the filter, for secrets inserted with triggers disabled.
 */
class ListeningSecretFilter implements PgSecretFilter {
  private client: Client | undefined;
  private filter: SecretFilter | undefined;
  /** Prefixes heard while a load runs: the load's snapshot may or may not hold them. */
  private heardDuringLoad: number[] | undefined;
  private readonly fenceChannel = `keyward_fence_${randomBytes(8).toString("hex")}`;
  private fenceSeq = 0;
  private fence: Fence | undefined;
  /** When the latest fence to come back on this connection was sent. */
  private caughtUpAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  private nextWaiters: Array<(caughtUp: boolean) => void> = [];
  private attempts = 0;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;
  private reloading = false;
  /** The last connection's end, which `close` waits for. */
  private ending: Promise<void> | undefined;
  private readonly log: SecretFilterLog;

  constructor(private readonly options: PgSecretFilterOptions) {
    this.log = options.log ?? noLog;
    this.now = options.now ?? (() => performance.now());
  }

  get ready(): boolean {
    return this.filter !== undefined;
  }

  get size(): number {
    return this.filter?.size ?? 0;
  }

  absentNow(prefix: number): boolean {
    const filter = this.filter;
    return filter !== undefined && !filter.mayContainPrefix(prefix) && this.recentlyCaughtUp();
  }

  mayHold(hash: string): boolean | Promise<boolean> {
    const filter = this.filter;
    if (filter === undefined || !HEX_PREFIX.test(hash) || filter.mayContain(hash)) return true;
    if (this.recentlyCaughtUp()) return false;
    return this.afterFence().then((caughtUp) => {
      // A reload may have replaced the filter meanwhile; a dropped connection cleared it.
      const current = this.filter;
      return !caughtUp || current === undefined || current.mayContain(hash);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await this.connecting;
    const client = this.client;
    if (client !== undefined) this.lost(client, undefined);
    await this.ending;
  }

  connect(): Promise<void> {
    this.connecting ??= this.establish().finally(() => {
      this.connecting = undefined;
      if (this.client === undefined) this.scheduleReconnect();
    });
    return this.connecting;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const { initial, max } = this.options.reconnectDelayMs ?? { initial: 50, max: 2000 };
    const delay = Math.min(max, initial * 2 ** this.attempts);
    this.attempts++;
    this.reconnectTimer = setTimeout(
      () => {
        this.reconnectTimer = undefined;
        void this.connect();
      },
      delay * (0.5 + Math.random() / 2),
    );
    this.reconnectTimer.unref();
  }

  private async establish(): Promise<void> {
    if (this.closed) return;
    const client = new Client({
      connectionString: this.options.url,
      application_name: this.options.applicationName ?? `keyward-secrets:${process.pid}`,
      keepAlive: true,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
    });
    this.client = client;
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, undefined));
    client.on("notification", (message) => this.receive(client, message));
    try {
      await client.connect();
      // A fence is a transaction of its own: it need not wait for the disk.
      await client.query("set synchronous_commit = off");
      for (const channel of [SECRETS_ADDED_CHANNEL, this.fenceChannel, INVALIDATION_CHANNEL])
        await client.query(`listen ${client.escapeIdentifier(channel)}`);
      // Listening first: a secret committed from here on is heard; one before, loaded.
      await this.load(client);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    if (this.client !== client) return;
    if (this.attempts > 0)
      this.log.info({ attempts: this.attempts }, "secret filter's channel re-established");
    this.attempts = 0;
  }

  /** Loads every stored prefix; the filter answers "absent" only once this has finished. */
  private async load(client: Client): Promise<void> {
    this.heardDuringLoad = [];
    const started = performance.now();
    // One string (8 characters a secret) rather than a row per secret: no garbage per row.
    // Read as the trigger reads them: 8 hex digits for every row, whatever it holds.
    const result = await client.query<{ prefixes: string | null }>(
      "select string_agg(case when hash ~ '^[0-9a-f]{8}' then left(hash, 8) else '00000000' end, '') as prefixes from token_secrets",
    );
    if (this.client !== client) return;
    const prefixes = result.rows[0]?.prefixes ?? "";
    const heard = this.heardDuringLoad;
    const filter = new SecretFilter(prefixes.length / 8 + heard.length);
    for (let i = 0; i + 8 <= prefixes.length; i += 8) filter.addPrefix(prefixOf(prefixes, i));
    for (const prefix of heard) filter.addPrefix(prefix);
    this.heardDuringLoad = undefined;
    this.filter = filter;
    this.log.info(
      { secrets: filter.size, ms: Math.round(performance.now() - started) },
      "secret filter loaded",
    );
  }

  private receive(client: Client, message: Notification): void {
    if (this.client !== client) return;
    const payload = message.payload ?? "";
    if (message.channel === SECRETS_ADDED_CHANNEL) {
      for (let i = 0; i + 8 <= payload.length; i += 9) {
        const prefix = prefixOf(payload, i);
        this.filter?.addPrefix(prefix);
        this.heardDuringLoad?.push(prefix);
      }
    } else if (message.channel === this.fenceChannel) {
      const fence = this.fence;
      if (fence === undefined || fence.seq !== Number(payload)) return;
      // Loaded when it was sent (sendFence checks), and the connection has not changed.
      this.caughtUpAt = Math.max(this.caughtUpAt, fence.sentAt);
      this.settleFence(true);
      if (this.nextWaiters.length > 0) this.sendFence();
    } else if (message.channel === INVALIDATION_CHANNEL && payload === INVALIDATE_ALL_PAYLOAD) {
      this.reload(client);
    }
  }

  /**
   * Whether a fence sent within SECRET_SETTLE_MS has come back. While it is so, a fence is
   * sent whenever the last is a quarter of that old, so steady traffic keeps it so.
   */
  private recentlyCaughtUp(): boolean {
    const age = this.now() - this.caughtUpAt;
    if (age > SECRET_SETTLE_MS) return false;
    if (this.fence === undefined && age > SECRET_SETTLE_MS / 4) this.sendFence();
    return true;
  }

  /** Resolves true once a fence sent after this call came back; false if the connection went. */
  private afterFence(): Promise<boolean> {
    return new Promise((resolve) => {
      this.nextWaiters.push(resolve);
      if (this.fence === undefined) this.sendFence();
    });
  }

  private sendFence(): void {
    const client = this.client;
    const waiters = this.nextWaiters;
    this.nextWaiters = [];
    if (client === undefined || this.filter === undefined) {
      for (const resolve of waiters) resolve(false);
      return;
    }
    const seq = ++this.fenceSeq;
    const sentAt = this.now();
    const timer = setTimeout(
      () => this.lost(client, new Error("fence timed out")),
      this.options.fenceTimeoutMs ?? 2000,
    );
    timer.unref();
    this.fence = { seq, sentAt, client, waiters, timer };
    client
      .query("select pg_notify($1, $2)", [this.fenceChannel, String(seq)])
      .catch((error: unknown) => this.lost(client, error));
  }

  private settleFence(caughtUp: boolean): void {
    const fence = this.fence;
    if (fence === undefined) return;
    this.fence = undefined;
    clearTimeout(fence.timer);
    for (const resolve of fence.waiters) resolve(caughtUp);
  }

  /** Loads again on the same connection; the filter in use keeps answering meanwhile. */
  private reload(client: Client): void {
    if (this.reloading) return;
    this.reloading = true;
    this.load(client)
      .catch((error: unknown) => this.lost(client, error))
      .finally(() => {
        this.reloading = false;
      });
  }

  /** The connection is gone (or never came up): answer "maybe" until it is back and loaded. */
  private lost(client: Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    const wasReady = this.filter !== undefined;
    this.filter = undefined;
    this.heardDuringLoad = undefined;
    this.caughtUpAt = Number.NEGATIVE_INFINITY;
    this.settleFence(false);
    const waiting = this.nextWaiters;
    this.nextWaiters = [];
    for (const resolve of waiting) resolve(false);
    this.ending = client.end().catch(() => {});
    if (this.closed) return;
    if (wasReady || this.attempts === 0)
      this.log.warn(
        { err: error instanceof Error ? error.message : undefined },
        "secret filter's channel lost: made-up tokens are looked up until it is back",
      );
    if (this.connecting === undefined) this.scheduleReconnect();
  }
}
