import type { TokenInvalidation } from "../../services/ports.js";
import type { InvalidationLog, VerificationCache } from "../postgres/pg-invalidation.js";
import type { SqliteStore } from "./sqlite-store.js";

export interface SqliteInvalidationOptions {
  store: Pick<SqliteStore, "readChanges">;
  cache: VerificationCache;
  log?: InvalidationLog;
  /** How often the change feed is read: the bound on a command-line revocation's delay. */
  pollIntervalMs?: number;
}

export interface SqliteInvalidation extends TokenInvalidation {
  close(): Promise<void>;
}

/**
 * The server's side of the SQLite change feed: every `pollIntervalMs` (100 ms), one
 * primary-key range read of what the command line announced since the last read, and the
 * named tokens (or every token) evicted from the verification cache. The server's own
 * changes evict at once, as they always have.
 *
 * If the read fails, the cache is not trusted (every request reads storage) until a read
 * succeeds again, so a missed announcement cannot keep a revoked token working.
 */
export function startSqliteInvalidation(options: SqliteInvalidationOptions): SqliteInvalidation {
  const { store, cache, log } = options;
  let failing = false;
  const poll = () => {
    try {
      const heard = store.readChanges();
      if (failing) {
        failing = false;
        cache.setCacheTrusted(true);
        log?.info({}, "reading the change feed works again; verification cache trusted");
      }
      if (heard.all) cache.invalidateAll();
      else if (heard.tokenIds.length > 0) cache.invalidate(heard.tokenIds);
    } catch (error) {
      if (!failing) {
        failing = true;
        cache.setCacheTrusted(false);
        log?.warn({ err: error }, "cannot read the change feed; verification cache not trusted");
      }
    }
  };
  const timer = setInterval(poll, options.pollIntervalMs ?? 100);
  timer.unref();
  return {
    tokenChanged: async (tokenIds) => cache.invalidate(tokenIds),
    tokensRevoked: async (tokenIds) => cache.revoke(tokenIds),
    close: async () => clearInterval(timer),
  };
}
