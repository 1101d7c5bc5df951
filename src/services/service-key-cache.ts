import type { Clock, ServiceKeySecret } from "./ports.js";

/** A valid service key as cached, with when its last use was recorded from this process. */
export interface CachedServiceKey {
  readonly key: ServiceKeySecret;
  readonly cachedAt: number;
  /** Moves as this process records uses, so a cached key does not record one per call. */
  lastUsedAt: number | null;
}

/** More keys than any host holds; past it the oldest entry makes room for the new one. */
export const SERVICE_KEY_CACHE_MAX_ENTRIES = 10_000;

/**
 * Valid service keys by the SHA-256 of their secret, so that a host's calls do not each
 * read storage. A revoked key is dropped by the same change channel that drops a revoked
 * token from the verification cache: at once on the process that revoked it, and within
 * the channel's bound on every other (the command line announces its revocations too).
 * Entries also expire after `maxAgeMs`, the verification cache's age, in case a change
 * was never heard; a clock set back makes an entry stale, never younger.
 *
 * A read that was under way when any change was heard is not cached: it may have read the
 * key before its revocation committed. Unknown and revoked keys are never cached.
 */
export class ServiceKeyCache {
  private readonly entries = new Map<string, CachedServiceKey>();
  private generation = 0;
  private trusted = true;

  constructor(
    private readonly clock: Clock,
    private readonly maxAgeMs: number,
  ) {}

  /** The key cached under this hash while it is fresh and the channel is trusted. */
  get(secretHash: string): CachedServiceKey | undefined {
    if (!this.trusted) return undefined;
    const entry = this.entries.get(secretHash);
    if (entry === undefined) return undefined;
    const age = this.clock.now() - entry.cachedAt;
    if (age >= this.maxAgeMs || age < 0) {
      this.entries.delete(secretHash);
      return undefined;
    }
    return entry;
  }

  /** Taken before a storage read and given back to `put`: a change heard in between wins. */
  ticket(): number {
    return this.generation;
  }

  /** Caches a valid key read from storage; returns the entry, or undefined if not cached. */
  put(secretHash: string, key: ServiceKeySecret, ticket: number): CachedServiceKey | undefined {
    if (!this.trusted || ticket !== this.generation || this.maxAgeMs <= 0) return undefined;
    if (key.revokedAt !== null) return undefined;
    // Deleted first, so that the map's order stays the order of `cachedAt`.
    this.entries.delete(secretHash);
    if (this.entries.size >= SERVICE_KEY_CACHE_MAX_ENTRIES) {
      // Maps iterate in insertion order: the first key was cached first, and so is the
      // nearest to its maximum age. Emptying the whole cache instead made every host's
      // next call read storage at once.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    const entry: CachedServiceKey = { key, cachedAt: this.clock.now(), lastUsedAt: key.lastUsedAt };
    this.entries.set(secretHash, entry);
    return entry;
  }

  /** Ids that changed (tokens and service keys share the channel): their keys are read again. */
  invalidate(ids: readonly string[]): void {
    this.generation++;
    if (this.entries.size === 0 || ids.length === 0) return;
    const changed = new Set(ids);
    for (const [hash, entry] of this.entries) {
      if (changed.has(entry.key.id)) this.entries.delete(hash);
    }
  }

  /** Everything is read again: a channel re-established, or told to drop everything. */
  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  /** While the change channel is down, nothing is served from the cache. */
  setTrusted(trusted: boolean): void {
    if (!trusted) this.clear();
    this.trusted = trusted;
  }

  get size(): number {
    return this.entries.size;
  }
}
