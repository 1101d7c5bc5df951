import { isAddressAllowed } from "../core/addresses.js";
import type { SecretRecord } from "../core/model.js";
import { checkTokenFormat, hashToken } from "../core/token.js";
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
}

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

interface CacheEntry {
  record: SecretRecord;
  cachedAt: number;
}

/**
 * Decides whether a presented token is valid. Format and checksum are checked offline
 * first; then the answer comes from a bounded in-memory cache of lookups, or from one
 * indexed storage read. Any change to a token (revoke, regenerate, member removal)
 * evicts its entries through `invalidate`, so the next request sees it.
 */
export class TokenVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  /**
   * The cached hashes of each token: a single string in the common case (a Set per
   * token would cost far more memory per entry), a Set while a token has several cached
   * secrets, e.g. during a regeneration's grace period.
   */
  private readonly hashesByToken = new Map<string, string | Set<string>>();
  /**
   * One copy of each application id and name, user id and email, external id and scope
   * among the cached records: storage hands each lookup fresh strings, and thousands of
   * cached tokens share an application or a user. Cleared when it outgrows the cache.
   */
  private readonly shared = new Map<string, string>();
  /** Bumped by every invalidation, so a lookup that raced with one is not cached. */
  private generation = 0;
  private trusted = true;
  /** Whether any imported token exists, as last read (see refreshImported). */
  private importedExist = false;
  /** Outcomes and cache use since start, for metrics. */
  readonly counts = new VerificationCounts();

  constructor(
    private readonly store: TokenStore,
    private readonly clock: Clock,
    /** Public for metrics: unflushed counts and flushes. */
    readonly usage: UsageRecorder,
    private readonly options: VerifierOptions,
  ) {}

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
    return this.counts.count(await this.decideToken(token, clientAddress, audience));
  }

  private async decideToken(
    token: string,
    clientAddress: string | undefined,
    audience: string | undefined,
  ): Promise<VerifyResult> {
    const format = checkTokenFormat(token, this.options.tokenPrefix);
    // Not of our format: refused offline, unless tokens were imported from another system
    // (whose secrets have no prefix or checksum of ours). A token with our prefix and a
    // wrong checksum is refused offline whatever was imported: no made-up token of our own
    // format ever costs a read.
    if (!format.ok && (format.reason !== "malformed" || !this.importedExist)) {
      return { ok: false, reason: format.reason };
    }

    const hash = hashToken(token);
    const now = this.clock.now();
    let record = this.cachedRecord(hash, now);
    if (record === undefined) {
      this.counts.cacheMisses++;
      const generation = this.generation;
      record = await this.store.findSecret(hash);
      if (record === undefined) return { ok: false, reason: format.ok ? "unknown" : format.reason };
      if (generation === this.generation && this.trusted)
        this.remember(hash, record, this.clock.now());
    } else {
      this.counts.cacheHits++;
    }
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
    this.generation++;
    for (const tokenId of tokenIds) {
      const hashes = this.hashesByToken.get(tokenId);
      if (hashes === undefined) continue;
      if (typeof hashes === "string") this.cache.delete(hashes);
      else for (const hash of hashes) this.cache.delete(hash);
      this.hashesByToken.delete(tokenId);
    }
  }

  /** Drops the whole cache, e.g. when a change notification may have been missed. */
  invalidateAll(): void {
    this.generation++;
    // Kept as it was if storage does not answer now; the next invalidation reads again.
    this.refreshImported().catch(() => {});
    this.cache.clear();
    this.hashesByToken.clear();
    this.shared.clear();
  }

  /**
   * While untrusted, the cache is neither read nor filled: every request goes to storage.
   * Used when the channel that carries other processes' changes is down.
   */
  setCacheTrusted(trusted: boolean): void {
    if (!trusted) this.invalidateAll();
    this.trusted = trusted;
  }

  get cacheEntries(): number {
    return this.cache.size;
  }

  private cachedRecord(hash: string, now: number): SecretRecord | undefined {
    if (!this.trusted) return undefined;
    const entry = this.cache.get(hash);
    if (entry === undefined) return undefined;
    if (now - entry.cachedAt > this.options.cacheMaxAgeMs) {
      this.evict(hash, entry.record.tokenId);
      return undefined;
    }
    return entry.record;
  }

  private remember(hash: string, record: SecretRecord, now: number): void {
    if (this.options.cacheSize <= 0) return;
    if (this.cache.size >= this.options.cacheSize) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.cache.keys().next();
      if (!oldest.done) {
        const entry = this.cache.get(oldest.value);
        if (entry) this.evict(oldest.value, entry.record.tokenId);
      }
    }
    this.cache.set(hash, { record: this.compact(record), cachedAt: now });
    const hashes = this.hashesByToken.get(record.tokenId);
    if (hashes === undefined) this.hashesByToken.set(record.tokenId, hash);
    else if (typeof hashes !== "string") hashes.add(hash);
    else if (hashes !== hash) this.hashesByToken.set(record.tokenId, new Set([hashes, hash]));
  }

  /** The record with its shared strings replaced by one copy each (see `shared`). */
  private compact(record: SecretRecord): SecretRecord {
    if (this.shared.size > 2 * this.options.cacheSize) this.shared.clear();
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
    for (let i = 0; i < record.scopes.length; i++) {
      const scope = record.scopes[i];
      if (scope !== undefined) record.scopes[i] = one(scope);
    }
    return record;
  }

  private evict(hash: string, tokenId: string): void {
    this.cache.delete(hash);
    const hashes = this.hashesByToken.get(tokenId);
    if (hashes === undefined) return;
    if (typeof hashes === "string") {
      if (hashes === hash) this.hashesByToken.delete(tokenId);
      return;
    }
    hashes.delete(hash);
    if (hashes.size === 0) this.hashesByToken.delete(tokenId);
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
