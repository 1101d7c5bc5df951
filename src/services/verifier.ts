import { isAddressAllowed } from "../core/addresses.js";
import type { SecretRecord } from "../core/model.js";
import {
  checkTokenFormat,
  hashTokenBinary,
  hexOfBinaryHash,
  prefixOfBinaryHash,
  type TokenFormatCheck,
} from "../core/token.js";
import { Uint32Set } from "../core/uint32-set.js";
import type { Clock, TokenStore } from "./ports.js";
import type { UsageRecorder } from "./usage-recorder.js";

export type VerifyFailureReason =
  | "malformed"
  | "checksum"
  | "unknown"
  | "expired"
  | "revoked"
  /** Presented from an address its allowlist does not hold. */
  | "address";

/** A failed check is a result, not an exception; only faults (storage down) throw. */
export type VerifyResult =
  | { ok: true; token: SecretRecord }
  | { ok: false; reason: VerifyFailureReason; tokenId?: string };

export interface VerifierOptions {
  tokenPrefix: string;
  /** Most secrets kept in memory; the oldest entry is dropped past this. */
  cacheSize: number;
  /** No cached answer is used after this age, whatever else happens. */
  cacheMaxAgeMs: number;
  /** Tokens cached on their first miss in one second; FREE_ADMISSIONS_PER_SECOND if absent. */
  freeAdmissionsPerSecond?: number;
}

/**
 * Most entries one `sweepExpired` call drops, so that one call's pause stays short (what a
 * deletion costs: docs/performance.md, "Round two, twelfth part"); a larger backlog goes
 * over the next calls.
 */
const SWEEP_LIMIT = 5_000;

/**
 * How often the server calls `sweepExpired`. With SWEEP_LIMIT it drops up to 25,000
 * entries a second: more than a full cache of the default size (100,000 entries, each
 * at most 5 s old) can see pass their age.
 */
export const CACHE_SWEEP_INTERVAL_MS = 200;

/** The span over which `FREE_ADMISSIONS_PER_SECOND` counts: one second of the clock. */
const ADMISSION_WINDOW_MS = 1000;

/**
 * Tokens a cache with room takes on their first miss in one second of the clock (up to
 * twice as many in a second that straddles two); past that, as in a full cache, only on
 * their second miss while the doorkeeper remembers the first (see `missedOnce`). A
 * client that comes back is cached from its first or second request, while a flood of
 * tokens each seen once in a long while adds at most this many entries a second. The
 * figure was measured against a larger one (docs/performance.md, "Round two, twelfth
 * part").
 */
const FREE_ADMISSIONS_PER_SECOND = 100;

/** Every outcome a verification can have: accepted, or refused for a reason. */
export type VerifyOutcome = "ok" | VerifyFailureReason;

export const VERIFY_OUTCOMES: readonly VerifyOutcome[] = [
  "ok",
  "malformed",
  "checksum",
  "unknown",
  "expired",
  "revoked",
  "address",
];

/**
 * Counts kept on the hot path as plain numbers, read only when metrics are scraped: an
 * increment costs nanoseconds, where a labelled metric call hashes its labels each time.
 */
export class VerificationCounts {
  cacheHits = 0;
  cacheMisses = 0;
  readonly outcomes: Record<VerifyOutcome, number> = {
    ok: 0,
    malformed: 0,
    checksum: 0,
    unknown: 0,
    expired: 0,
    revoked: 0,
    address: 0,
  };

  count<R extends { ok: true } | { ok: false; reason: VerifyFailureReason }>(result: R): R {
    this.outcomes[result.ok ? "ok" : result.reason]++;
    return result;
  }
}

/** A token heard of as changed: when, in which generation, and whether it was revoked. */
interface Invalidation {
  generation: number;
  at: number;
  /**
   * Revoked for good: its cached entries are answered "revoked" from memory rather than
   * read again (revocation cannot be undone, so storage could only say the same).
   */
  revoked: boolean;
}

/** One cached answer; a class, so every entry has one shape and no boxed numbers. */
class CacheEntry {
  constructor(
    readonly record: SecretRecord,
    /**
     * Milliseconds since the verifier was made: a small integer, not a boxed double, for
     * the first 24 days a process runs (2^31 ms); a boxed double after that.
     */
    readonly cachedAt: number,
    /** The invalidation count when its lookup began (see `invalidatedAt`). */
    readonly generation: number,
  ) {}
}

/**
 * Decides whether a presented token is valid. Format and checksum are checked offline
 * first; then the answer comes from a bounded in-memory cache of lookups, or from one
 * indexed storage read. Any change to a token (regenerate, a new allowlist) evicts its
 * entries through `invalidate`, so the next request reads it again; a revocation (by its
 * owner, an admin, a member's removal, a leak report) marks them revoked through `revoke`,
 * so the next request is refused without a read.
 */
export class TokenVerifier {
  /**
   * Keyed by the secret's SHA-256 as a 32-character binary string: half the memory of its
   * 64 hex digits, which storage is asked with on a miss.
   */
  private readonly cache = new Map<string, CacheEntry>();
  /**
   * Each token invalidated in the last `cacheMaxAgeMs`, with the generation its
   * invalidation began: an entry of that token cached in an earlier generation is stale.
   * Older invalidations are forgotten, since every entry that old is re-read anyway. This
   * is what evicts a changed token's entries (or marks a revoked one's), without keeping an
   * index from each token to its cached secrets (which cost about 50 bytes a cached entry).
   */
  private readonly invalidatedAt = new Map<string, Invalidation>();
  /** When the newest of those was made. */
  private lastInvalidationAt = 0;
  /**
   * Entries from before the newest forgotten invalidation are stale. They are past their
   * maximum age anyway while the clock only moves forward; this keeps a revoked token
   * refused should the system clock be set back between its caching and its revocation.
   */
  private staleBefore = 0;
  /**
   * One copy of each application id and name, user id and email, external id and scope
   * list among the cached records: storage hands each lookup fresh strings and arrays,
   * and thousands of cached tokens share an application, a user or a set of scopes.
   * Cleared when it outgrows the cache.
   */
  private readonly shared = new Map<string, string>();
  private readonly sharedScopes = new Map<string, string[]>();
  /**
   * The first 32 bits of each secret missed once lately, while the cache is full or has
   * taken its `FREE_ADMISSIONS_PER_SECOND`: a token then enters the cache only when it is
   * missed a second time while remembered here (the "doorkeeper" of TinyLFU: Einziger,
   * Friedman and Manes, 2017). A token seen once in a long while would otherwise take an
   * entry on every miss; under a flood of tokens spread over a large store, each such
   * entry is promoted to the old generation and dies there (evicted, or swept once past
   * its age), which made every miss dearer and the heap larger (docs/performance.md,
   * "Round two, fifth part" and "twelfth part"). Emptied when it holds as many keys as
   * the cache.
   */
  private missedOnce: Uint32Set | undefined;
  /** When the current window of free admissions began, on the clock, and how many it took. */
  private admissionWindowStart = Number.NEGATIVE_INFINITY;
  private admissionsInWindow = 0;
  /** Bumped by every invalidation, so a lookup that raced with one is not cached. */
  private generation = 0;
  private trusted = true;
  /** Whether any imported token exists, as last read (see refreshImported). */
  private importedExist = false;
  /** Where `CacheEntry.cachedAt` counts from. */
  private readonly epoch: number;
  /** Outcomes and cache use since start, for metrics. */
  readonly counts = new VerificationCounts();

  constructor(
    private readonly store: TokenStore,
    private readonly clock: Clock,
    /** Public for metrics: unflushed counts and flushes. */
    readonly usage: UsageRecorder,
    private readonly options: VerifierOptions,
  ) {
    this.epoch = clock.now();
  }

  /** Told of each presentation refused for its address (the owner sees these). */
  onAddressRefused: ((token: SecretRecord, address: string) => void) | undefined;

  /**
   * @param clientAddress the address the token was presented from; needed for a token
   *   with an address allowlist, which is refused without one.
   */
  async verify(
    token: string,
    clientAddress?: string,
    /** The application the caller speaks for: another's token is unknown, and untouched. */
    audience?: string,
  ): Promise<VerifyResult> {
    return this.verifyNow(token, clientAddress, audience);
  }

  /**
   * As `verify`, but answered at once when memory decides (a token refused offline, or one
   * the cache holds), and a promise only when storage must be read. For the request path,
   * where each promise awaited is one more turn of the microtask queue per request.
   */
  verifyNow(
    token: string,
    clientAddress?: string,
    audience?: string,
  ): VerifyResult | Promise<VerifyResult> {
    const format = checkTokenFormat(token, this.options.tokenPrefix);
    // Not of our format: refused offline, unless tokens were imported from another system
    // (whose secrets have no prefix or checksum of ours). A token with our prefix and a
    // wrong checksum is refused offline whatever was imported: no made-up token of our own
    // format ever costs a read.
    if (!format.ok && (format.reason !== "malformed" || !this.importedExist)) {
      return this.counts.count({ ok: false, reason: format.reason });
    }
    const key = hashTokenBinary(token);
    const now = this.clock.now();
    const record = this.cachedRecord(key, now);
    if (record === undefined) {
      this.counts.cacheMisses++;
      // A secret storage surely does not hold: refused as the read would refuse it.
      if (this.store.mayHoldSecret?.(key) === false) {
        return this.counts.count({ ok: false, reason: format.ok ? "unknown" : format.reason });
      }
      return this.lookUp(key, format, now, clientAddress, audience);
    }
    this.counts.cacheHits++;
    return this.counts.count(this.conclude(record, format, now, clientAddress, audience));
  }

  /** The cache did not answer: one storage read, cached if nothing changed meanwhile. */
  private async lookUp(
    key: string,
    format: TokenFormatCheck,
    now: number,
    clientAddress: string | undefined,
    audience: string | undefined,
  ): Promise<VerifyResult> {
    const generation = this.generation;
    const record = await this.store.findSecret(hexOfBinaryHash(key));
    if (record === undefined) {
      return this.counts.count({ ok: false, reason: format.ok ? "unknown" : format.reason });
    }
    // Not cached if an invalidation came meanwhile: the entry's generation would also
    // mark it stale, but only while that invalidation is remembered.
    if (generation === this.generation && this.trusted) {
      const cachedAt = this.clock.now();
      if (this.admits(key, cachedAt)) this.remember(key, record, cachedAt, generation);
    }
    return this.counts.count(this.conclude(record, format, now, clientAddress, audience));
  }

  /** The answer for a token whose record was found, and what it records. */
  private conclude(
    record: SecretRecord,
    format: TokenFormatCheck,
    now: number,
    clientAddress: string | undefined,
    audience: string | undefined,
  ): VerifyResult {
    // Only an imported token may be outside our format.
    if (!format.ok && record.imported !== true) return { ok: false, reason: format.reason };
    // Before anything is recorded: a caller must not move another application's counters.
    if (audience !== undefined && record.applicationId !== audience) {
      return { ok: false, reason: "unknown" };
    }
    const result = decide(record, this.clock.now());
    if (result.ok && !addressAllowed(record, clientAddress)) {
      this.onAddressRefused?.(record, clientAddress ?? "unknown");
      return { ok: false, reason: "address", tokenId: record.tokenId };
    }
    if (result.ok) this.usage.record(record.tokenId, now);
    else this.usage.recordRefusal(record.tokenId, now);
    return result;
  }

  /**
   * Reads whether any token was imported (`keyward import-tokens`). Called at start and on
   * every whole-cache invalidation, which is how an import is announced (SQLite's change
   * feed, PostgreSQL's `*` notification): never on a request, so a token outside our
   * format still costs no storage read while nothing was imported.
   */
  async refreshImported(): Promise<void> {
    this.importedExist = await this.store.hasImportedTokens();
  }

  /** Drops every cached answer about these tokens. */
  invalidate(tokenIds: readonly string[]): void {
    this.recordInvalidation(tokenIds, false);
  }

  /**
   * These tokens were revoked: their cached answers say "revoked" from now on, without a
   * storage read. A refusal then needs only the notice, not a read of storage, which may be
   * slow or down when it matters most (docs/deployment.md, "The revocation bound").
   */
  revoke(tokenIds: readonly string[]): void {
    this.recordInvalidation(tokenIds, true);
  }

  private recordInvalidation(tokenIds: readonly string[], revoked: boolean): void {
    this.generation++;
    // With no cache there is nothing to make stale (the generation still stops a lookup
    // in flight from being cached).
    if (this.options.cacheSize <= 0) return;
    const at = this.clock.now();
    const invalidation: Invalidation = { generation: this.generation, at, revoked };
    // A plain change heard after a revocation (both are sent for one) keeps it revoked.
    const stillRevoked: Invalidation = { generation: this.generation, at, revoked: true };
    for (const tokenId of tokenIds) {
      const previous = this.invalidatedAt.get(tokenId);
      // Deleted first, so the map stays in the order of invalidation (oldest first).
      if (previous !== undefined) this.invalidatedAt.delete(tokenId);
      this.invalidatedAt.set(tokenId, previous?.revoked === true ? stillRevoked : invalidation);
    }
    this.lastInvalidationAt = at;
    for (const [tokenId, invalidation] of this.invalidatedAt) {
      if (at - invalidation.at <= this.options.cacheMaxAgeMs) break;
      this.staleBefore = invalidation.generation;
      this.invalidatedAt.delete(tokenId);
    }
  }

  /** Drops the whole cache, e.g. when a change notification may have been missed. */
  invalidateAll(): void {
    this.generation++;
    // Kept as it was if storage does not answer now; the next invalidation reads again.
    this.refreshImported().catch(() => {});
    this.cache.clear();
    this.invalidatedAt.clear();
    this.staleBefore = this.generation;
    this.shared.clear();
    this.sharedScopes.clear();
  }

  /**
   * While untrusted, the cache is neither read nor filled: every request goes to storage.
   * Used when the channel that carries other processes' changes is down.
   */
  setCacheTrusted(trusted: boolean): void {
    if (!trusted) this.invalidateAll();
    this.trusted = trusted;
  }

  /** Entries held, stale ones included until they are next asked for or swept. */
  get cacheEntries(): number {
    return this.cache.size;
  }

  /**
   * Drops entries past their maximum age (or made stale by a forgotten invalidation), at
   * most `limit` of them, and says how many it dropped. They would never be answered from
   * again, but held their memory until asked for or pushed out: after a burst of many
   * tokens, a cache of dead entries. The server calls it every CACHE_SWEEP_INTERVAL_MS.
   * Entries are kept in the order they were cached, so the sweep stops at the first one
   * still alive. If the clock was set back, an entry cached before that looks younger
   * than those cached after it and shelters them; they are still refused on access once
   * past their age, and swept once it goes.
   */
  sweepExpired(limit = SWEEP_LIMIT): number {
    const now = this.clock.now();
    let swept = 0;
    for (const [key, entry] of this.cache) {
      if (swept >= limit) break;
      if (!this.pastAge(entry, now) && entry.generation >= this.staleBefore) break;
      this.cache.delete(key);
      swept++;
    }
    return swept;
  }

  private cachedRecord(key: string, now: number): SecretRecord | undefined {
    if (!this.trusted) return undefined;
    const entry = this.cache.get(key);
    if (entry === undefined) return undefined;
    if (this.pastAge(entry, now)) {
      this.cache.delete(key);
      return undefined;
    }
    if (this.invalidatedAt.size > 0 && now - this.lastInvalidationAt > this.options.cacheMaxAgeMs) {
      // Every invalidation held is old: forgotten at once rather than looked up on each hit.
      this.staleBefore = this.generation;
      this.invalidatedAt.clear();
    }
    const invalidation =
      this.invalidatedAt.size > 0 ? this.invalidatedAt.get(entry.record.tokenId) : undefined;
    if (entry.generation < this.staleBefore) {
      this.cache.delete(key);
      return undefined;
    }
    if (invalidation !== undefined && entry.generation < invalidation.generation) {
      if (!invalidation.revoked) {
        this.cache.delete(key);
        return undefined;
      }
      // Answered from memory from now on; its age still counts from its lookup.
      const revoked: SecretRecord =
        entry.record.revokedAt === null
          ? { ...entry.record, revokedAt: invalidation.at }
          : entry.record;
      this.cache.set(key, new CacheEntry(revoked, entry.cachedAt, invalidation.generation));
      return revoked;
    }
    return entry.record;
  }

  /** Whether an entry is older than any answer may be: never used again. */
  private pastAge(entry: CacheEntry, now: number): boolean {
    return now - this.epoch - entry.cachedAt > this.options.cacheMaxAgeMs;
  }

  /** Whether a secret just read may be cached (see `missedOnce`). */
  private admits(key: string, now: number): boolean {
    const { cacheSize } = this.options;
    if (cacheSize <= 0) return false;
    if (this.cache.size < cacheSize) {
      if (
        now - this.admissionWindowStart >= ADMISSION_WINDOW_MS ||
        now < this.admissionWindowStart
      ) {
        this.admissionWindowStart = now;
        this.admissionsInWindow = 0;
      }
      const free = this.options.freeAdmissionsPerSecond ?? FREE_ADMISSIONS_PER_SECOND;
      if (this.admissionsInWindow < free) {
        this.admissionsInWindow++;
        return true;
      }
    }
    // Sized for the most it holds before it is emptied: it never grows on a request.
    this.missedOnce ??= new Uint32Set(cacheSize);
    const prefix = prefixOfBinaryHash(key);
    if (this.missedOnce.has(prefix)) return true;
    if (this.missedOnce.size >= cacheSize) this.missedOnce.clear();
    this.missedOnce.add(prefix);
    return false;
  }

  private remember(key: string, record: SecretRecord, now: number, generation: number): void {
    if (this.options.cacheSize <= 0) return;
    if (this.cache.size >= this.options.cacheSize) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(key, new CacheEntry(this.compact(record), now - this.epoch, generation));
  }

  /** The record with its shared strings and scopes replaced by one copy each (see `shared`). */
  private compact(record: SecretRecord): SecretRecord {
    if (this.shared.size > 2 * this.options.cacheSize) this.shared.clear();
    if (this.sharedScopes.size > this.options.cacheSize) this.sharedScopes.clear();
    const one = (text: string): string => {
      const known = this.shared.get(text);
      if (known !== undefined) return known;
      this.shared.set(text, text);
      return text;
    };
    record.applicationId = one(record.applicationId);
    record.applicationName = one(record.applicationName);
    record.userId = one(record.userId);
    record.userEmail = one(record.userEmail);
    if (record.externalId !== null) record.externalId = one(record.externalId);
    const scopesKey = record.scopes.join("\n");
    let scopes = this.sharedScopes.get(scopesKey);
    if (scopes === undefined) {
      // Frozen: code that tried to change a shared list would throw (ES modules are
      // strict), not change every token that shares it.
      scopes = Object.freeze(record.scopes.map(one)) as string[];
      this.sharedScopes.set(scopesKey, scopes);
    }
    record.scopes = scopes;
    return record;
  }
}

function addressAllowed(record: SecretRecord, clientAddress: string | undefined): boolean {
  if (record.allowedAddresses === null || record.allowedAddresses.length === 0) return true;
  return clientAddress !== undefined && isAddressAllowed(record.allowedAddresses, clientAddress);
}

function decide(record: SecretRecord, now: number): VerifyResult {
  if (record.revokedAt !== null) return { ok: false, reason: "revoked", tokenId: record.tokenId };
  if (record.expiresAt !== null && record.expiresAt <= now) {
    return { ok: false, reason: "expired", tokenId: record.tokenId };
  }
  // The old secret of a regenerated token, past its grace period.
  if (record.secretExpiresAt !== null && record.secretExpiresAt <= now) {
    return { ok: false, reason: "revoked", tokenId: record.tokenId };
  }
  return { ok: true, token: record };
}
