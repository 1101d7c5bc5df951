import { Client, type Notification } from "pg";
import type { TokenInvalidation } from "../../services/ports.js";
import { ConnectionEnds } from "./connection-ends.js";
import { ReconnectSchedule } from "./reconnect-schedule.js";

/** The channel every Keyward process on one database listens on. */
export const INVALIDATION_CHANNEL = "keyward_token_changed";

/** A payload that drops every cached answer, e.g. after an operator edits tokens by hand. */
export const INVALIDATE_ALL_PAYLOAD = "*";

/**
 * Marks a payload of revoked token ids (`revoked:<id>,<id>`). A revocation is sent twice:
 * marked, so a process of this version answers the tokens "revoked" from memory, and
 * plain, so a process of an earlier version (an upgrade replaces processes one by one)
 * still evicts them. An earlier version reads the marked copy's first id as an id no token
 * has, and evicts the others a moment early; harmless. This version skips the plain copy.
 */
export const REVOKED_PAYLOAD_PREFIX = "revoked:";

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; stay well under it. */
export const MAX_PAYLOAD_BYTES = 7900;

/** The part of the verifier this module drives. */
export interface VerificationCache {
  invalidate(tokenIds: readonly string[]): void;
  /** These tokens were revoked: refused from memory (see `TokenVerifier.revoke`). */
  revoke(tokenIds: readonly string[]): void;
  invalidateAll(): void;
  setCacheTrusted(trusted: boolean): void;
}

export interface InvalidationLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface PgInvalidationOptions {
  /** The database URL; the listener opens its own connection, outside the query pool. */
  url: string;
  cache: VerificationCache;
  /** Sends payloads as NOTIFYs on a channel (the store's pool does this). */
  notify(channel: string, payloads: readonly string[]): Promise<void>;
  log?: InvalidationLog;
  channel?: string;
  /** Shown in pg_stat_activity; defaults to `keyward-listener:<pid>`. */
  applicationName?: string;
  /** Reconnect delay after the listening connection drops: doubles from `initial` up to `max`. */
  reconnectDelayMs?: { initial: number; max: number };
  /** How often the listening connection is checked with a round trip (0: never). */
  heartbeatIntervalMs?: number;
  /**
   * A connect or heartbeat that takes longer than this counts as a dropped connection. Too
   * short only costs cache misses on a busy machine; the verifier's maximum age bounds
   * staleness however long a dead connection goes unnoticed.
   */
  timeoutMs?: number;
}

export interface PgInvalidation extends TokenInvalidation {
  /** True while LISTEN is established (and so the verification cache is trusted). */
  readonly listening: boolean;
  /** Stops listening and closes the listening connection. */
  close(): Promise<void>;
}

/** Splits token ids into comma-separated payloads, each under PostgreSQL's size limit. */
export function chunkPayloads(tokenIds: readonly string[], maxBytes = MAX_PAYLOAD_BYTES): string[] {
  const payloads: string[] = [];
  let current = "";
  for (const id of tokenIds) {
    if (id.length === 0 || id.includes(",")) throw new Error(`not a token id: ${id}`);
    const next = current === "" ? id : `${current},${id}`;
    if (Buffer.byteLength(next) > maxBytes && current !== "") {
      payloads.push(current);
      current = id;
    } else {
      current = next;
    }
  }
  if (current !== "") payloads.push(current);
  return payloads;
}

/**
 * What a revocation of these tokens is sent as: the marked payloads, then the same lists
 * plain (split alike, so a receiver can tell each plain copy from its marked one).
 */
export function revocationPayloads(tokenIds: readonly string[]): string[] {
  const lists = chunkPayloads(tokenIds, MAX_PAYLOAD_BYTES - REVOKED_PAYLOAD_PREFIX.length);
  return [...lists.map((ids) => REVOKED_PAYLOAD_PREFIX + ids), ...lists];
}

/** Most marked lists remembered while their plain copies are awaited (they come at once). */
const MAX_AWAITED_PLAIN_COPIES = 1000;

const noLog: InvalidationLog = { info: () => {}, warn: () => {} };

/**
 * Carries token changes between Keyward processes over PostgreSQL LISTEN/NOTIFY.
 *
 * `tokenChanged` evicts the tokens from this process's cache, then NOTIFYs the others;
 * `tokensRevoked` does the same with revoked tokens, which every process then refuses
 * from memory.
 * Each process LISTENs on a dedicated connection and evicts what it is told. The cache is
 * only trusted while that connection is up: the moment it drops, every request reads
 * storage, until LISTEN is established again and the cache has been emptied (anything
 * sent in between was missed). Independently, the verifier never uses an answer older
 * than its maximum age, which bounds what a connection that dies silently can cost.
 *
 * Resolves once the first connection attempt has finished; if it failed, the process
 * still serves (uncached, from storage) and keeps retrying.
 */
export async function startPgInvalidation(options: PgInvalidationOptions): Promise<PgInvalidation> {
  const listener = new Listener(options);
  await listener.start();
  return listener;
}

class Listener implements PgInvalidation {
  private readonly channel: string;
  private readonly log: InvalidationLog;
  private client: Client | undefined;
  private readonly reconnects: ReconnectSchedule;
  private closed = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatInFlight = false;
  private connecting: Promise<void> | undefined;
  /** Its clients' connects and ends, so that ending one never hangs. */
  private readonly connections = new ConnectionEnds();
  /** The last lost connection's end, which `close` waits for. */
  private ending: Promise<void> | undefined;
  /**
   * Lists heard marked as revoked whose plain copies (for earlier versions) have not come
   * yet: each is skipped when it comes, so a revocation is acted on once, not twice.
   */
  private readonly awaitedPlainCopies = new Set<string>();
  listening = false;

  constructor(private readonly options: PgInvalidationOptions) {
    this.reconnects = new ReconnectSchedule(
      options.reconnectDelayMs ?? { initial: 50, max: 2000 },
      () => void this.connect(),
    );
    this.channel = options.channel ?? INVALIDATION_CHANNEL;
    this.log = options.log ?? noLog;
  }

  async start(): Promise<void> {
    // Untrusted until LISTEN is up: a change another process makes before then is missed.
    this.options.cache.setCacheTrusted(false);
    const interval = this.options.heartbeatIntervalMs ?? 1000;
    if (interval > 0) {
      this.heartbeatTimer = setInterval(() => this.heartbeat(), interval);
      this.heartbeatTimer.unref();
    }
    await this.connect();
  }

  async tokenChanged(tokenIds: readonly string[]): Promise<void> {
    if (tokenIds.length === 0) return;
    this.options.cache.invalidate(tokenIds);
    // Sent after the change has committed, so a process that evicts on receipt reads the
    // new state. If it cannot be sent, the caller gets the error (503) and may retry;
    // other processes' cached answers expire within the maximum age regardless.
    await this.options.notify(this.channel, chunkPayloads(tokenIds));
  }

  async tokensRevoked(tokenIds: readonly string[]): Promise<void> {
    if (tokenIds.length === 0) return;
    this.options.cache.revoke(tokenIds);
    await this.options.notify(this.channel, revocationPayloads(tokenIds));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reconnects.cancel();
    clearInterval(this.heartbeatTimer);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    // Ended first: a connect under way then fails at once rather than at its timeout.
    const ended = client === undefined ? undefined : this.end(client);
    await this.connecting;
    await ended;
    // A connection lost before, still closing.
    await this.ending;
  }

  private end(client: Client): Promise<void> {
    return this.connections.end(client);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.establish().finally(() => {
      this.connecting = undefined;
      // However the attempt ended, if it did not leave us listening, try again later.
      if (this.client === undefined && !this.closed) this.reconnects.schedule();
    });
    return this.connecting;
  }

  private async establish(): Promise<void> {
    if (this.closed) return;
    const timeoutMs = this.options.timeoutMs ?? 5000;
    const client = new Client({
      connectionString: this.options.url,
      application_name: this.options.applicationName ?? `keyward-listener:${process.pid}`,
      keepAlive: true,
      connectionTimeoutMillis: timeoutMs,
    });
    this.client = client;
    // Errors and the end of this connection arrive as events; a handler must always be
    // attached (an unhandled 'error' would crash the process), and it ignores stale clients.
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, undefined));
    client.on("notification", (message) => this.receive(message));
    try {
      await this.connections.connect(client);
      await client.query(`listen ${client.escapeIdentifier(this.channel)}`);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    if (this.client !== client || this.closed) return;
    // Whatever changed while we were not listening is unknown: start from an empty cache.
    // invalidateAll also stops lookups that began before now from being cached.
    this.awaitedPlainCopies.clear();
    this.options.cache.invalidateAll();
    this.options.cache.setCacheTrusted(true);
    this.listening = true;
    if (this.reconnects.attempts > 0) {
      this.log.info({ attempts: this.reconnects.attempts }, "token change channel re-established");
    }
    this.reconnects.succeeded();
  }

  private receive(message: Notification): void {
    if (message.channel !== this.channel) return;
    const payload = message.payload ?? "";
    if (payload === INVALIDATE_ALL_PAYLOAD) {
      this.options.cache.invalidateAll();
      return;
    }
    if (payload.startsWith(REVOKED_PAYLOAD_PREFIX)) {
      const list = payload.slice(REVOKED_PAYLOAD_PREFIX.length);
      if (this.awaitedPlainCopies.size >= MAX_AWAITED_PLAIN_COPIES) this.awaitedPlainCopies.clear();
      this.awaitedPlainCopies.add(list);
      this.options.cache.revoke(idsOf(list));
      return;
    }
    if (this.awaitedPlainCopies.delete(payload)) return;
    this.options.cache.invalidate(idsOf(payload));
  }

  /** The listening connection is gone (or never came up): stop trusting, then reconnect. */
  private lost(client: Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    const wasListening = this.listening;
    this.listening = false;
    this.options.cache.setCacheTrusted(false);
    this.ending = this.end(client);
    if (this.closed) return;
    if (wasListening || this.reconnects.attempts === 0) {
      this.log.warn(
        { err: error instanceof Error ? error.message : undefined },
        "token change channel lost: verifying from storage until it is back",
      );
    }
    // While an attempt is under way, its end schedules the next one.
    if (this.connecting === undefined) this.reconnects.schedule();
  }

  /**
   * A round trip on the listening connection. A connection that died without a word (a
   * network partition) would otherwise look healthy until TCP keepalive gives up.
   */
  private heartbeat(): void {
    const client = this.client;
    if (client === undefined || !this.listening || this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    const timeoutMs = this.options.timeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("heartbeat timed out")), timeoutMs);
    });
    void Promise.race([client.query("select 1"), timeout])
      .catch((error: unknown) => this.lost(client, error))
      .finally(() => {
        clearTimeout(timer);
        this.heartbeatInFlight = false;
      });
  }
}

function idsOf(list: string): string[] {
  return list.split(",").filter((id) => id.length > 0);
}
