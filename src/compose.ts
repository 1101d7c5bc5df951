import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { FastifyInstance } from "fastify";
import type { Config } from "./config.js";
import { buildApp } from "./http/app.js";
import { zxcvbnCommonPasswords } from "./platform/common-passwords.js";
import { argon2PasswordHasher, cryptoRandom, systemClock } from "./platform/system.js";
import { AddressRefusalRecorder } from "./services/address-refusals.js";
import type { ServiceDeps } from "./services/deps.js";
import type {
  Clock,
  PasswordHasher,
  RandomSource,
  Store,
  TokenInvalidation,
} from "./services/ports.js";
import {
  RevocationStream,
  SecretEndSweeper,
  type StreamLog,
} from "./services/revocation-stream.js";
import { UsageRecorder } from "./services/usage-recorder.js";
import { TokenVerifier } from "./services/verifier.js";
import type { PostgresStore } from "./storage/postgres/postgres-store.js";
import type { SqliteStore } from "./storage/sqlite/sqlite-store.js";

// The same relative path from src/ (tsx) and from dist/ (built and installed).
const { version } = createRequire(import.meta.url)("../package.json") as { version: string };

export interface Keyward {
  app: FastifyInstance;
  store: Store;
  verifier: TokenVerifier;
  usage: UsageRecorder;
  /** The revocation stream's streams on this process. */
  revocationStream: RevocationStream;
  /** Stops accepting requests, writes the last usage counts and closes storage. */
  close(): Promise<void>;
}

export interface Overrides {
  clock?: Clock;
  random?: RandomSource;
  passwordHasher?: PasswordHasher;
  logStream?: NodeJS.WritableStream;
}

/**
 * Loads only the chosen dialect's module: a SQLite server never loads pg, a PostgreSQL
 * one never loads better-sqlite3 (a native addon).
 */
export async function openStore(
  config: Config,
  options: { role?: "server" | "tool" } = {},
): Promise<Store> {
  if (config.database.kind === "sqlite") {
    const { createSqliteStore } = await import("./storage/sqlite/sqlite-store.js");
    return createSqliteStore({ path: config.database.path, role: options.role ?? "server" });
  }
  const { createPostgresStore } = await import("./storage/postgres/postgres-store.js");
  return createPostgresStore({
    url: config.database.url,
    poolSize: config.postgres.poolSize,
    queryTimeoutMs: config.postgres.queryTimeoutMs,
  });
}

/** The one place that picks the store and wires every dependency. */
export async function createKeyward(config: Config, overrides: Overrides = {}): Promise<Keyward> {
  const store = await openStore(config);
  const clock = overrides.clock ?? systemClock;
  const usage = new UsageRecorder(store.usage);
  const verifier = new TokenVerifier(store.tokens, clock, usage, {
    tokenPrefix: config.tokenPrefix,
    cacheSize: config.verifyCacheSize,
    cacheMaxAgeMs: config.verifyCacheMaxAgeMs,
  });
  // The revocation stream rides on the same notifications as the cache: a token change
  // (here or, on PostgreSQL, on another process) may have written events, so the hub reads
  // what is new, and the sweeper looks again for the next end of a grace period.
  // It logs through the app's logger, which exists before it serves a stream.
  let streamLog: StreamLog = { warn: () => {} };
  const revocationStream = new RevocationStream(store.revocations, clock, undefined, {
    warn: (fields, message) => streamLog.warn(fields, message),
  });
  const services: ServiceDeps = {
    store,
    clock,
    random: overrides.random ?? cryptoRandom,
    passwordHasher: overrides.passwordHasher ?? argon2PasswordHasher,
    commonPasswords: zxcvbnCommonPasswords,
    // Bound below, once the app (and its logger) exists and before it serves a request.
    invalidation: { tokenChanged: (tokenIds) => invalidation.tokenChanged(tokenIds) },
    settings: {
      tokenPrefix: config.tokenPrefix,
      maxActiveTokensPerUser: config.maxActiveTokensPerUser,
      sessionTtlMs: config.sessionTtlMs,
      sessionIdleMs: config.sessionIdleMs,
    },
  };
  const app = await buildApp(
    { services, verifier, revocationStream },
    {
      version,
      logLevel: config.logLevel,
      logStream: overrides.logStream,
      publicOrigin: config.publicOrigin,
      listenHost: config.host,
      trustProxy: config.trustProxy,
      bodyLimitBytes: config.bodyLimitBytes,
      verifyRateLimitPerMinute: config.verifyRateLimitPerMinute,
      leakRateLimitPerMinute: config.leakRateLimitPerMinute,
      abuse: config.abuse,
      // One SQLite process needs no shared counters; several PostgreSQL processes do.
      ...(store.kind === "postgres" ? { sharedCounters: store.counters } : {}),
      requireHttps: config.requireHttps,
      metricsToken: config.metricsToken,
      ...(config.tls
        ? {
            tls: { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) },
          }
        : {}),
    },
  );

  streamLog = app.log;
  const sweeper = new SecretEndSweeper(
    store.revocations,
    clock,
    (tokenIds) => services.invalidation.tokenChanged(tokenIds),
    app.log,
  );
  const tokensChanged = () => {
    revocationStream.changed();
    sweeper.reschedule();
  };
  const cache = {
    invalidate: (tokenIds: readonly string[]) => {
      verifier.invalidate(tokenIds);
      tokensChanged();
    },
    // A (re)established channel: whatever was sent meanwhile was missed.
    invalidateAll: () => {
      verifier.invalidateAll();
      tokensChanged();
    },
    setCacheTrusted: (trusted: boolean) => verifier.setCacheTrusted(trusted),
  };

  // On SQLite this process is the only server (it holds the server lock): evicting locally
  // is the job, plus hearing what the command line announces. On PostgreSQL, changes also
  // go to and come from every other process. Either way the revocation stream and the
  // grace-end sweeper hear every change through `cache`.
  let invalidation: TokenInvalidation & { close(): Promise<void> } = {
    tokenChanged: async (tokenIds) => cache.invalidate(tokenIds),
    close: async () => {},
  };
  if (store.kind === "sqlite") {
    const { startSqliteInvalidation } = await import("./storage/sqlite/sqlite-invalidation.js");
    invalidation = startSqliteInvalidation({
      store: store as SqliteStore,
      cache,
      log: app.log,
    });
  } else if (config.database.kind === "postgres") {
    const { startPgInvalidation } = await import("./storage/postgres/pg-invalidation.js");
    invalidation = await startPgInvalidation({
      url: config.database.url,
      cache,
      notify: (store as PostgresStore).notify,
      log: app.log,
    });
  }
  revocationStream.setRevokedKeyCheck(
    async (keyIds) => new Set(await store.serviceKeys.revokedServiceKeys(keyIds)),
  );
  revocationStream.start();
  sweeper.reschedule();

  const flushTimer = setInterval(() => {
    usage.flush().catch((error: unknown) => {
      // Counts stay in memory and go out with the next flush; auth decisions are unaffected.
      app.log.warn({ err: error }, "usage flush failed; will retry");
    });
  }, config.usageFlushIntervalMs);
  flushTimer.unref();

  // Rate-limit windows are at most an hour; counters a day old are dead weight. Portal
  // codes live five minutes; a used or expired one only takes room.
  const pruneTimer = setInterval(() => {
    store.counters.prune(clock.now() - 86_400_000).catch((error: unknown) => {
      app.log.warn({ err: error }, "pruning rate-limit counters failed");
    });
    store.portal.deleteExpiredPortalCodes(clock.now()).catch((error: unknown) => {
      app.log.warn({ err: error }, "pruning portal codes failed");
    });
  }, 600_000);
  pruneTimer.unref();

  const addressRefusals = new AddressRefusalRecorder(services, (error) =>
    app.log.warn({ err: error }, "recording an address refusal failed"),
  );
  verifier.onAddressRefused = (token, address) => addressRefusals.record(token, address);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(flushTimer);
      clearInterval(pruneTimer);
      // Open streams never end on their own; the server would wait for them.
      await revocationStream.close();
      await sweeper.close();
      await app.close();
      try {
        await usage.flush();
      } catch (error) {
        app.log.error({ err: error }, "final usage flush failed");
      }
      await invalidation.close();
      await store.close();
    })();
    return closing;
  };

  return { app, store, verifier, usage, revocationStream, close };
}
