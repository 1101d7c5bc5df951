import {
  KeywardAuthError,
  KeywardError,
  KeywardRequestError,
  KeywardUnavailableError,
  MAX_RETRY_AFTER_SECONDS,
} from "./errors.js";
import type {
  ApiToken,
  CreateHostUserTokenBody,
  CreatePortalSessionBody,
  HostUser,
  IssuedToken,
  PortalSession,
  Problem,
  ServiceVerification,
  UpsertHostUserBody,
} from "./generated/contract.js";
import { sha256Hex } from "./sha256.js";
import { EventStreamParser, type ServerSentEvent } from "./sse.js";
import { checkTokenFormat, TOKEN_PREFIX_PATTERN } from "./token-format.js";

/** The contract's hard limit on how long a verify answer may be reused. */
export const MAX_CACHE_AGE_MS = 5000;

type VerifiedFields = Required<Omit<ServiceVerification, "valid" | "code">>;

/** A valid token, as Keyward's service verify answered it (frozen: it may be shared). */
export type VerifiedToken = { readonly valid: true } & {
  readonly [K in keyof VerifiedFields]: VerifiedFields[K] extends (infer T)[]
    ? readonly T[]
    : VerifiedFields[K];
};

/** Every kind of invalid token gets this one answer. */
export interface RefusedToken {
  readonly valid: false;
  readonly code: "invalid_token";
}

export type Verification = VerifiedToken | RefusedToken;

export interface KeywardClientOptions {
  /** Keyward's origin, e.g. `https://keyward.example.com`. */
  url: string;
  /** A service key of the application (`kwsk_…`), from its Service keys page. */
  serviceKey: string;
  /** How long a verify answer may be reused, in ms: 0-5000, default 5000. 0 caches nothing. */
  cacheMaxAgeMs?: number;
  /** How many answers the cache holds at most (the oldest unread since its last pass dropped first: second-chance LRU). Default 10000. */
  cacheSize?: number;
  /**
   * How long an invalid answer may be reused, in ms, at most `cacheMaxAgeMs`. Default 1000.
   * A token Keyward called invalid never becomes valid, so this only saves calls for a
   * client retrying the same bad token; 0 asks Keyward every time.
   */
  negativeCacheMaxAgeMs?: number;
  /** The deployment's `TOKEN_PREFIX`. Default `kw`. */
  tokenPrefix?: string;
  /** Time allowed for each call to Keyward, in ms. Default 5000. */
  timeoutMs?: number;
  /** Keep the revocation stream open (default true). Off, cached answers only age out. */
  revocationStream?: boolean;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Called with what goes wrong in the background (the revocation stream). */
  onError?: (error: KeywardError) => void;
  /** The clock, in ms since the epoch (default `Date.now`); for tests. */
  now?: () => number;
}

export interface VerifyOptions {
  /**
   * The address of the host's own client, for tokens with an address allowlist. Answers
   * are cached per token and address.
   */
  clientAddress?: string;
}

/** The state of the revocation stream. */
export type StreamState = "idle" | "connecting" | "connected" | "disconnected" | "closed";

interface CacheEntry {
  answer: Verification;
  /** When the request that got this answer was sent (so its age is never under-counted). */
  askedAt: number;
  maxAgeMs: number;
  /** For valid answers: the token's id, to drop it when the stream says so. */
  tokenId: string | undefined;
  /** For valid answers with an expiry: when it expires, in ms since the epoch. */
  expiresAtMs: number | undefined;
  /** Read since it was stored or last given a second chance (the CLOCK eviction's mark). */
  used: boolean;
}

const INVALID: RefusedToken = Object.freeze({ valid: false, code: "invalid_token" });

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** The most of a server's `retry:` advice the client follows, as the base of its backoff. */
const SERVER_RETRY_MAX_MS = 5_000;
/** The server sends a comment at least every 15 s: silence this long means a dead connection. */
const STREAM_SILENCE_MS = 45_000;
/** A connection that stayed up this long resets the backoff. */
const STREAM_STABLE_MS = 5_000;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function unref(timer: ReturnType<typeof setTimeout>): void {
  // Node: a background timer must not keep the process alive. Other runtimes lack unref.
  (timer as { unref?: () => void }).unref?.();
}

function parseVerification(body: unknown): Verification {
  if (!isObject(body) || typeof body.valid !== "boolean") {
    throw new KeywardUnavailableError("Keyward's verify answer is not what the contract says.");
  }
  if (!body.valid) return INVALID;
  const { applicationId, userId, tokenId, scopes, expiresAt, externalId } = body;
  const wellFormed =
    typeof applicationId === "string" &&
    typeof userId === "string" &&
    typeof tokenId === "string" &&
    Array.isArray(scopes) &&
    scopes.every((s) => typeof s === "string") &&
    (expiresAt === undefined || expiresAt === null || typeof expiresAt === "string") &&
    (externalId === undefined || externalId === null || typeof externalId === "string");
  // A "valid" the client cannot read is never taken as valid.
  if (!wellFormed) {
    throw new KeywardUnavailableError("Keyward's verify answer is not what the contract says.");
  }
  const { code: _code, ...rest } = body;
  return Object.freeze({
    ...rest,
    valid: true,
    applicationId,
    userId,
    tokenId,
    scopes: Object.freeze([...scopes]),
    expiresAt: expiresAt ?? null,
    externalId: externalId ?? null,
  }) as VerifiedToken;
}

function problemOf(body: unknown): Problem | undefined {
  if (!isObject(body) || typeof body.code !== "string") return undefined;
  return {
    type: typeof body.type === "string" ? body.type : `urn:keyward:problem:${body.code}`,
    title: typeof body.title === "string" ? body.title : "",
    status: typeof body.status === "number" ? body.status : 0,
    detail: typeof body.detail === "string" ? body.detail : "",
    code: body.code,
  };
}

/** An HTTP-date in the one form a server sends (IMF-fixdate, RFC 9110 section 5.6.7). */
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * The whole seconds an answer's `Retry-After` asks to wait (delay-seconds, or an HTTP-date
 * counted from `nowMs`), at most MAX_RETRY_AFTER_SECONDS; undefined when there is none or
 * it is neither form. The adapters send it on to their own callers.
 */
function retryAfterOf(response: Response, nowMs: number): number | undefined {
  const value = response.headers.get("retry-after");
  if (value === null) return undefined;
  let seconds: number;
  if (/^[0-9]+$/.test(value)) seconds = Number(value);
  else if (IMF_FIXDATE.test(value)) seconds = Math.ceil((Date.parse(value) - nowMs) / 1000);
  else return undefined;
  // The form can still name no time (day 99, hour 25): Date.parse gives NaN then.
  if (Number.isNaN(seconds)) return undefined;
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_SECONDS);
}

/** The error for an answer that is not a success, read at `nowMs`. */
function errorOf(response: Response, body: unknown, nowMs: number): KeywardError {
  const problem = problemOf(body);
  if (response.status === 401) return new KeywardAuthError(problem);
  if (response.status >= 500 || response.status === 429 || response.status < 400) {
    return new KeywardUnavailableError(
      `Keyward answered ${response.status}${problem ? ` (${problem.code})` : ""}.`,
      { status: response.status, retryAfterSeconds: retryAfterOf(response, nowMs) },
    );
  }
  return new KeywardRequestError(response.status, problem);
}

function localProblem(detail: string): KeywardRequestError {
  return new KeywardRequestError(400, {
    type: "urn:keyward:problem:validation_failed",
    title: "The request is not valid",
    status: 400,
    detail,
    code: "validation_failed",
  });
}

/** A host user's id as one path segment. "." and ".." cannot be one: URLs resolve them. */
function externalIdSegment(externalId: string): string {
  if (typeof externalId !== "string" || externalId.length === 0) {
    throw localProblem("externalId must be a non-empty string.");
  }
  if (externalId === "." || externalId === "..") {
    throw localProblem(`An externalId of "${externalId}" cannot be sent in a URL path.`);
  }
  return encodeURIComponent(externalId);
}

/**
 * Keyward's client for a host's API servers: verifies tokens with a short, bounded cache
 * that the revocation stream keeps honest, and calls the service API.
 */
export class KeywardClient {
  readonly users: {
    /** Creates or updates a host user; `created` tells which. */
    upsert(
      externalId: string,
      fields?: UpsertHostUserBody,
    ): Promise<{ user: HostUser; created: boolean }>;
    /** The host user, or null when Keyward has none with that id. */
    get(externalId: string): Promise<HostUser | null>;
    /** Removes the host user and revokes every token of theirs (idempotent). */
    remove(externalId: string): Promise<void>;
  };
  readonly tokens: {
    /** A host user's tokens, newest first. */
    list(externalId: string): Promise<ApiToken[]>;
    /** Generates a token for a host user; the plaintext is in this answer only. */
    create(externalId: string, fields: CreateHostUserTokenBody): Promise<IssuedToken>;
    /** Revokes a token of the application (idempotent); this client forgets it at once. */
    revoke(tokenId: string): Promise<void>;
  };
  readonly portal: {
    /** A one-time link that signs the host user in to their account page (5 minutes). */
    createSession(input: CreatePortalSessionBody): Promise<PortalSession>;
  };

  private readonly base: string;
  private readonly authorization: string;
  private readonly prefix: string;
  private readonly maxAgeMs: number;
  private readonly negativeMaxAgeMs: number;
  private readonly cacheSize: number;
  private readonly timeoutMs: number;
  private readonly streamEnabled: boolean;
  private readonly fetchFn: typeof fetch;
  private readonly onError: ((error: KeywardError) => void) | undefined;
  private readonly now: () => number;

  /** Answers by SHA-256 of the token (and client address), oldest first (evicted by second chance). */
  private readonly cache = new Map<string, CacheEntry>();
  /** tokenId → the cache keys holding an answer for it. */
  private readonly keysByToken = new Map<string, Set<string>>();
  /**
   * Verifications on the way, by cache key: concurrent ones share one request, until the
   * client hears of an end (see `stopSharingInflight`).
   */
  private readonly inflight = new Map<string, Promise<Verification>>();
  /** tokenId → when the stream said it ended (oldest first), so late answers are not cached. */
  private readonly endedAt = new Map<string, number>();
  /** Bumped by every `reset`: answers asked for before it are not cached. */
  private generation = 0;

  private readonly closing = new AbortController();
  private closed = false;
  private state: StreamState = "idle";
  private streamAbort: AbortController | undefined;
  /** Ends the stream being read, whatever the fetch in use does with an abort. */
  private stopStream: (() => void) | undefined;
  private streamDone: Promise<void> = Promise.resolve();
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private silenceTimer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private lastEventId = "";
  private serverRetryMs: number | undefined;

  constructor(options: KeywardClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError("KeywardClient: url must be an http or https URL.");
    }
    this.base = `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
    this.prefix = options.tokenPrefix ?? "kw";
    if (!TOKEN_PREFIX_PATTERN.test(this.prefix)) {
      throw new TypeError("KeywardClient: tokenPrefix must be 2-8 lowercase letters or digits.");
    }
    if (!checkTokenFormat(options.serviceKey ?? "", `${this.prefix}sk`).ok) {
      throw new TypeError(
        `KeywardClient: serviceKey must be a service key (${this.prefix}sk_…) of the application.`,
      );
    }
    this.authorization = `Bearer ${options.serviceKey}`;
    this.maxAgeMs = options.cacheMaxAgeMs ?? MAX_CACHE_AGE_MS;
    if (!Number.isFinite(this.maxAgeMs) || this.maxAgeMs < 0 || this.maxAgeMs > MAX_CACHE_AGE_MS) {
      throw new RangeError(`KeywardClient: cacheMaxAgeMs must be 0-${MAX_CACHE_AGE_MS}.`);
    }
    this.negativeMaxAgeMs = Math.min(options.negativeCacheMaxAgeMs ?? 1000, this.maxAgeMs);
    if (!(this.negativeMaxAgeMs >= 0)) {
      throw new RangeError("KeywardClient: negativeCacheMaxAgeMs must be 0 or more.");
    }
    this.cacheSize = options.cacheSize ?? 10_000;
    if (!Number.isInteger(this.cacheSize) || this.cacheSize < 0) {
      throw new RangeError("KeywardClient: cacheSize must be a whole number, 0 or more.");
    }
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.streamEnabled = options.revocationStream ?? true;
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== "function") throw new TypeError("KeywardClient: no fetch available.");
    this.fetchFn = fetchFn;
    this.onError = options.onError;
    this.now = options.now ?? Date.now;

    this.users = {
      upsert: async (externalId, fields = {}) => {
        const { status, body } = await this.call(
          "PUT",
          `/api/v1/service/users/${externalIdSegment(externalId)}`,
          fields,
        );
        return { user: (body as { user: HostUser }).user, created: status === 201 };
      },
      get: async (externalId) => {
        try {
          const { body } = await this.call(
            "GET",
            `/api/v1/service/users/${externalIdSegment(externalId)}`,
          );
          return (body as { user: HostUser }).user;
        } catch (error) {
          if (error instanceof KeywardRequestError && error.code === "user_not_found") return null;
          throw error;
        }
      },
      remove: async (externalId) => {
        await this.call("DELETE", `/api/v1/service/users/${externalIdSegment(externalId)}`);
      },
    };
    this.tokens = {
      list: async (externalId) => {
        const { body } = await this.call(
          "GET",
          `/api/v1/service/users/${externalIdSegment(externalId)}/tokens`,
        );
        return (body as { tokens: ApiToken[] }).tokens;
      },
      create: async (externalId, fields) => {
        const { body } = await this.call(
          "POST",
          `/api/v1/service/users/${externalIdSegment(externalId)}/tokens`,
          fields,
        );
        return body as IssuedToken;
      },
      revoke: async (tokenId) => {
        await this.call("DELETE", `/api/v1/service/tokens/${encodeURIComponent(tokenId)}`);
        this.tokenEnded(tokenId);
      },
    };
    this.portal = {
      createSession: async (input) => {
        const { body } = await this.call("POST", "/api/v1/service/portal-sessions", input);
        return body as PortalSession;
      },
    };
  }

  /** The revocation stream's state ("idle" until the first verify). */
  get streamState(): StreamState {
    return this.state;
  }

  /** How many answers the cache holds now. */
  get cachedAnswers(): number {
    return this.cache.size;
  }

  /**
   * Checks a token: `{ valid: true, … }` or `{ valid: false, code: "invalid_token" }`.
   * A malformed or bad-checksum token is refused without a network call. Throws
   * KeywardUnavailableError when Keyward cannot answer and nothing fresh is cached; it
   * never answers valid then.
   */
  verify(token: string, options: VerifyOptions = {}): Promise<Verification> {
    if (this.closed)
      return Promise.reject(new KeywardError("client_closed", "The client is closed."));
    if (typeof token !== "string") return Promise.resolve(INVALID);
    const address = options.clientAddress;
    const key = address === undefined ? sha256Hex(token) : `${sha256Hex(token)} ${address}`;
    const cached = this.fresh(key);
    if (cached !== undefined) return Promise.resolve(cached);
    // Only well-formed tokens are ever cached, so a hit needed no format check.
    if (!checkTokenFormat(token, this.prefix).ok) return Promise.resolve(INVALID);
    if (this.state === "idle" && this.streamEnabled) this.connect();
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const request: Promise<Verification> = this.ask(token, key, address).finally(() => {
      // An end may have put a newer request for this key in its place.
      if (this.inflight.get(key) === request) this.inflight.delete(key);
    });
    this.inflight.set(key, request);
    return request;
  }

  /**
   * The answer `verify` would give from its cache right now, or undefined when it would
   * have to ask Keyward: never a network call, never a promise. The adapters use it to
   * answer a cached token without a microtask.
   */
  cachedVerification(token: string, options: VerifyOptions = {}): Verification | undefined {
    if (this.closed || typeof token !== "string") return undefined;
    const address = options.clientAddress;
    return this.fresh(address === undefined ? sha256Hex(token) : `${sha256Hex(token)} ${address}`);
  }

  /** A cached answer still young enough to use (moved to the recent end), or undefined. */
  private fresh(key: string): Verification | undefined {
    const cached = this.cache.get(key);
    if (cached === undefined) return undefined;
    const now = this.now();
    if (
      now - cached.askedAt < cached.maxAgeMs &&
      (cached.expiresAtMs === undefined || now < cached.expiresAtMs)
    ) {
      // Marked, not moved: a hit costs no write to the map (see `store` for the eviction).
      cached.used = true;
      return cached.answer;
    }
    this.forget(key, cached);
    return undefined;
  }

  /**
   * Stops the revocation stream, cancels calls on the way and clears the cache and every
   * timer, so the process can exit. Resolves once the stream is closed.
   */
  async close(): Promise<void> {
    if (this.closed) return this.streamDone;
    this.closed = true;
    this.state = "closed";
    this.closing.abort(new KeywardError("client_closed", "The client is closed."));
    this.streamAbort?.abort();
    this.stopStream?.();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.silenceTimer);
    this.dropAll();
    this.endedAt.clear();
    await this.streamDone;
  }

  // -------------------------------------------------------------------------------------
  // Verification and the cache.

  private async ask(token: string, key: string, address: string | undefined) {
    const askedAt = this.now();
    const generation = this.generation;
    const { body } = await this.call("POST", "/api/v1/service/verify", {
      token,
      ...(address === undefined ? {} : { clientAddress: address }),
    });
    const answer = parseVerification(body);
    if (generation !== this.generation || this.closed) return answer;
    if (answer.valid) {
      const ended = this.endedAt.get(answer.tokenId);
      // The stream said this token ended after the question was sent: the answer may
      // predate it, so it is returned to this caller but not kept.
      if (ended !== undefined && ended >= askedAt) return answer;
      const expiresAtMs = answer.expiresAt === null ? undefined : Date.parse(answer.expiresAt);
      this.store(key, {
        answer,
        askedAt,
        maxAgeMs: this.maxAgeMs,
        tokenId: answer.tokenId,
        expiresAtMs,
        used: false,
      });
    } else {
      this.store(key, {
        answer,
        askedAt,
        maxAgeMs: this.negativeMaxAgeMs,
        tokenId: undefined,
        expiresAtMs: undefined,
        used: false,
      });
    }
    return answer;
  }

  private store(key: string, entry: CacheEntry): void {
    if (entry.maxAgeMs <= 0 || this.cacheSize === 0) return;
    const previous = this.cache.get(key);
    if (previous) this.forget(key, previous);
    this.cache.set(key, entry);
    if (entry.tokenId !== undefined) {
      let keys = this.keysByToken.get(entry.tokenId);
      if (!keys) {
        keys = new Set();
        this.keysByToken.set(entry.tokenId, keys);
      }
      keys.add(key);
    }
    // Second chance (CLOCK): the oldest entry goes unless it was read since it was stored
    // or last passed over; a read one moves to the recent end, unmarked. Close to least
    // recently used, without moving an entry on every hit.
    while (this.cache.size > this.cacheSize) {
      const [oldestKey, oldest] = this.cache.entries().next().value as [string, CacheEntry];
      if (oldest.used) {
        oldest.used = false;
        this.cache.delete(oldestKey);
        this.cache.set(oldestKey, oldest);
      } else {
        this.forget(oldestKey, oldest);
      }
    }
  }

  private forget(key: string, entry: CacheEntry): void {
    this.cache.delete(key);
    if (entry.tokenId === undefined) return;
    const keys = this.keysByToken.get(entry.tokenId);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) this.keysByToken.delete(entry.tokenId);
  }

  /** A token was revoked or one of its secrets ended: drop every answer about it. */
  private tokenEnded(tokenId: string): void {
    this.stopSharingInflight();
    const keys = this.keysByToken.get(tokenId);
    if (keys) {
      for (const key of keys) this.cache.delete(key);
      this.keysByToken.delete(tokenId);
    }
    const now = this.now();
    this.endedAt.delete(tokenId);
    this.endedAt.set(tokenId, now);
    // Only answers asked for before an end matter, and none lives past maxAgeMs + timeout.
    const horizon = now - this.maxAgeMs - this.timeoutMs;
    for (const [id, at] of this.endedAt) {
      if (at >= horizon && this.endedAt.size <= Math.max(this.cacheSize, 1000)) break;
      this.endedAt.delete(id);
    }
  }

  private dropAll(): void {
    this.generation++;
    this.cache.clear();
    this.keysByToken.clear();
    this.stopSharingInflight();
  }

  /**
   * After an end, no later caller joins a request sent before it: that request's answer
   * may predate the end, and is for those who asked before it (`ask` does not cache it).
   * Which token a request is about shows only in its answer, so none is joined: the
   * callers who come next start fresh requests, shared among themselves. Ends are rare;
   * the cost is one extra request per token (and address) being verified at that moment.
   */
  private stopSharingInflight(): void {
    this.inflight.clear();
  }

  // -------------------------------------------------------------------------------------
  // HTTP.

  /**
   * The signal of one call, aborted by its timeout or by `close()`; `release` ends both
   * ties once the call is over. (`AbortSignal.any` with the client's long-lived closing
   * signal kept a few dozen bytes per call until the client was gone: memory that grew
   * with every call made.)
   */
  private callSignal(): { signal: AbortSignal; release: () => void } {
    const call = new AbortController();
    const closing = this.closing.signal;
    const onClose = () => call.abort(closing.reason);
    closing.addEventListener("abort", onClose, { once: true });
    const timer = setTimeout(
      () => call.abort(new DOMException("The call timed out.", "TimeoutError")),
      this.timeoutMs,
    );
    timer.unref?.();
    return {
      signal: call.signal,
      release: () => {
        clearTimeout(timer);
        closing.removeEventListener("abort", onClose);
      },
    };
  }

  private async call(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    if (this.closed) throw new KeywardError("client_closed", "The client is closed.");
    const headers: Record<string, string> = {
      authorization: this.authorization,
      accept: "application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    let text: string;
    const { signal, release } = this.callSignal();
    try {
      response = await this.fetchFn(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // The service key is never sent anywhere Keyward did not answer from.
        redirect: "error",
        signal,
      });
      text = await response.text();
    } catch (error) {
      if (this.closed) throw new KeywardError("client_closed", "The client is closed.");
      throw new KeywardUnavailableError(`Keyward could not be reached at ${this.base}.`, {
        cause: error,
      });
    } finally {
      release();
    }
    let parsed: unknown;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        if (response.ok) {
          throw new KeywardUnavailableError("Keyward's answer is not JSON.", {
            status: response.status,
            cause: error,
          });
        }
      }
    }
    if (!response.ok) throw errorOf(response, parsed, this.now());
    return { status: response.status, body: parsed };
  }

  // -------------------------------------------------------------------------------------
  // The revocation stream.

  private connect(): void {
    if (this.closed) return;
    this.state = "connecting";
    const abort = new AbortController();
    this.streamAbort = abort;
    this.streamDone = this.readStream(abort).then(
      () => this.streamEnded(undefined),
      (error: unknown) => this.streamEnded(error),
    );
  }

  private async readStream(abort: AbortController): Promise<void> {
    const headers: Record<string, string> = {
      authorization: this.authorization,
      accept: "text/event-stream",
      "cache-control": "no-store",
    };
    if (this.lastEventId) headers["last-event-id"] = this.lastEventId;
    const openedAt = this.now();
    const response = await this.fetchFn(`${this.base}/api/v1/service/events`, {
      headers,
      redirect: "error",
      signal: abort.signal,
    });
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {}
      throw errorOf(response, parsed, this.now());
    }
    const type = response.headers.get("content-type") ?? "";
    if (!type.toLowerCase().startsWith("text/event-stream") || !response.body) {
      await response.body?.cancel();
      throw new KeywardUnavailableError("The revocation stream is not a text/event-stream.");
    }
    this.state = "connected";
    const parser = new EventStreamParser((event) => this.streamEvent(event));
    parser.lastEventId = this.lastEventId;
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    // Aborting the request is not enough to end a pending read: Node's fetch can leave it
    // pending forever when the abort lands mid-body (nodejs/node#56917), which would hang
    // close() and leave a silent stream connected and deaf. Cancelling the reader ends it.
    let stopped = false;
    const stop = () => {
      stopped = true;
      abort.abort();
      reader.cancel().catch(() => {});
    };
    this.stopStream = stop;
    // close() may have come while the response was on its way, before `stop` existed.
    if (abort.signal.aborted) stop();
    const silence = setTimeout(stop, STREAM_SILENCE_MS);
    unref(silence);
    this.silenceTimer = silence;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        silence.refresh();
        try {
          parser.push(decoder.decode(value, { stream: true }));
        } catch (error) {
          // Not Keyward's stream (a line or an event past the parser's bound): the
          // connection is cut, not left open behind the reconnection.
          stop();
          throw new KeywardUnavailableError("The revocation stream is not Keyward's.", {
            cause: error,
          });
        }
        this.lastEventId = parser.lastEventId;
        // Advice, not an order: a server asking for hours would leave the client deaf.
        if (parser.retryMs !== undefined) {
          this.serverRetryMs = Math.min(parser.retryMs, SERVER_RETRY_MAX_MS);
        }
      }
    } finally {
      clearTimeout(silence);
      if (this.stopStream === stop) this.stopStream = undefined;
      reader.releaseLock();
    }
    // Ended by us (silence, close), not by the server: a cut, reported and backed off as one.
    if (stopped) throw new KeywardUnavailableError("The revocation stream went silent.");
    if (this.now() - openedAt >= STREAM_STABLE_MS) this.attempt = 0;
  }

  private streamEvent(event: ServerSentEvent): void {
    this.lastEventId = event.id;
    if (event.event === "reset") {
      this.dropAll();
      return;
    }
    if (event.event !== "token.revoked" && event.event !== "secret.ended") return;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (isObject(data) && typeof data.tokenId === "string") this.tokenEnded(data.tokenId);
  }

  private streamEnded(error: unknown): void {
    if (this.closed) return;
    this.state = "disconnected";
    if (error !== undefined && this.onError) {
      this.onError(
        error instanceof KeywardError
          ? error
          : new KeywardUnavailableError("The revocation stream was cut.", { cause: error }),
      );
    }
    // Exponential backoff with jitter, from the server's `retry:` advice when it gave one.
    const base = Math.max(this.serverRetryMs ?? 0, BACKOFF_BASE_MS);
    const ceiling = Math.min(BACKOFF_MAX_MS, base * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    unref(this.reconnectTimer);
  }
}
