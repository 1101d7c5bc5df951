import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import type { Config } from "./config.js";
import { buildApp } from "./http/app.js";
import { limitAddress } from "./http/client-address.js";
import { type GitHubKeys, parseGitHubKeys } from "./http/github-secret-scanning.js";
import { flushLog, flushLogSync } from "./http/logging.js";
import { zxcvbnCommonPasswords } from "./platform/common-passwords.js";
import { argon2PasswordHasher, cryptoRandom, systemClock } from "./platform/system.js";
import { otpauthTotp } from "./platform/totp.js";
import { createWebhookSender } from "./platform/webhook-sender.js";
import { AddressRefusalRecorder } from "./services/address-refusals.js";
import type { ServiceDeps } from "./services/deps.js";
import { MailDispatcher } from "./services/mail-dispatcher.js";
import { PolicySweeper } from "./services/policy-sweeper.js";
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
import { ServiceKeyCache } from "./services/service-key-cache.js";
import { UsageRecorder } from "./services/usage-recorder.js";
import { CACHE_SWEEP_INTERVAL_MS, TokenVerifier } from "./services/verifier.js";
import { WebhookDispatcher } from "./services/webhook-dispatcher.js";
import type { SecretFilterLog } from "./storage/postgres/pg-secret-filter.js";
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
  /** Sends queued webhook deliveries (tests drain it after moving the clock). */
  webhooks: WebhookDispatcher;
  /** Token policies: revokes unused tokens and queues expiry reminders. */
  policySweeper: PolicySweeper;
  /** Sends queued email; undefined without SMTP_URL. */
  mail: MailDispatcher | undefined;
  /** Stops accepting requests, writes the last usage counts and closes storage. */
  close(): Promise<void>;
  /** Writes the buffered log lines now: synchronously (before an exit), or in the background. */
  flushLogSync(): void;
  flushLog(): void;
}

export interface Overrides {
  clock?: Clock;
  random?: RandomSource;
  passwordHasher?: PasswordHasher;
  logStream?: NodeJS.WritableStream;
}

/** GitHub's secret-scanning keys, read once at start; a wrong document stops the start. */
function githubKeysOf(config: Config): GitHubKeys | undefined {
  const source = config.githubSecretScanningKeys;
  if (source === undefined) return undefined;
  const text = "json" in source ? source.json : readFileSync(source.file, "utf8");
  return parseGitHubKeys(text);
}

/**
 * LOG_FORMAT=auto: pretty, coloured lines for a person watching a terminal; JSON lines for
 * anything else (a file, a pipe, a log collector). Colour only on a terminal, and never
 * with NO_COLOR (no-color.org), so a forced `pretty` into a file stays plain text.
 */
function logFormatFor(
  format: Config["logFormat"],
  stream: NodeJS.WritableStream | undefined,
): { logFormat: "json" | "pretty"; logColor: boolean } {
  const terminal = stream === undefined && process.stdout.isTTY === true;
  return {
    logFormat: format === "auto" ? (terminal ? "pretty" : "json") : format,
    logColor: terminal && !process.env.NO_COLOR,
  };
}

/**
 * The origin every emailed link starts with: PUBLIC_ORIGIN, or else this server's own
 * address (HOST and the port it listens on; `localhost` for a wildcard HOST). Never the
 * request's Host header, which whoever asks for a reset link could choose.
 */
export function linkOrigin(config: Config, app?: FastifyInstance): string {
  if (config.publicOrigin !== undefined) return config.publicOrigin;
  const address = app?.server.address();
  const port = address !== null && typeof address === "object" ? address.port : config.port;
  const wildcard = config.host === "0.0.0.0" || config.host === "::" || config.host === "";
  const host = wildcard
    ? "localhost"
    : config.host.includes(":")
      ? `[${config.host}]`
      : config.host;
  return `${config.tls ? "https" : "http"}://${host}:${port}`;
}

/**
 * Loads only the chosen dialect's module: a SQLite server never loads pg, a PostgreSQL
 * one never loads better-sqlite3 (a native addon).
 */
export async function openStore(
  config: Config,
  options: {
    role?: "server" | "tool";
    /** PostgreSQL: keep the filter of stored secrets (a serving process; see PgSecretFilter). */
    secretFilter?: { log: SecretFilterLog };
  } = {},
): Promise<Store> {
  if (config.database.kind === "sqlite") {
    const { createSqliteStore } = await import("./storage/sqlite/sqlite-store.js");
    return createSqliteStore({
      path: config.database.path,
      role: options.role ?? "server",
      mailNotices: config.mail !== undefined,
    });
  }
  const { createPostgresStore } = await import("./storage/postgres/postgres-store.js");
  return createPostgresStore({
    url: config.database.url,
    mailNotices: config.mail !== undefined,
    poolSize: config.postgres.poolSize,
    queryTimeoutMs: config.postgres.queryTimeoutMs,
    preparedStatements: config.postgres.preparedStatements,
    ...(config.postgres.listenUrl === undefined ? {} : { directUrl: config.postgres.listenUrl }),
    secretFilter: options.secretFilter !== undefined,
    ...(options.secretFilter === undefined ? {} : { log: options.secretFilter.log }),
  });
}

/** The one place that picks the store and wires every dependency. */
export async function createKeyward(config: Config, overrides: Overrides = {}): Promise<Keyward> {
  // The store's messages go to the app's logger, which is made after the store: those
  // of its start wait for it.
  const earlyStoreLines: Array<["info" | "warn", object, string]> = [];
  let storeLog: SecretFilterLog | undefined;
  const store = await openStore(config, {
    secretFilter: {
      log: {
        info: (fields, message) =>
          storeLog
            ? storeLog.info(fields, message)
            : earlyStoreLines.push(["info", fields, message]),
        warn: (fields, message) =>
          storeLog
            ? storeLog.warn(fields, message)
            : earlyStoreLines.push(["warn", fields, message]),
      },
    },
  });
  const clock = overrides.clock ?? systemClock;
  const usage = new UsageRecorder(store.usage);
  const verifier = new TokenVerifier(store.tokens, clock, usage, {
    tokenPrefix: config.tokenPrefix,
    cacheSize: config.verifyCacheSize,
    cacheMaxAgeMs: config.verifyCacheMaxAgeMs,
  });
  await verifier.refreshImported();
  // The revocation stream rides on the same notifications as the cache: a token change
  // (here or, on PostgreSQL, on another process) may have written events, so the hub reads
  // what is new, and the sweeper looks again for the next end of a grace period.
  // It logs through the app's logger, which exists before it serves a stream.
  let streamLog: StreamLog = { warn: () => {} };
  const revocationStream = new RevocationStream(store.revocations, clock, undefined, {
    warn: (fields, message) => streamLog.warn(fields, message),
  });
  // Switched off with the verification cache (VERIFY_CACHE_SIZE=0): storage on every call.
  const serviceKeyCache =
    config.verifyCacheSize > 0 ? new ServiceKeyCache(clock, config.verifyCacheMaxAgeMs) : undefined;
  const services: ServiceDeps = {
    store,
    clock,
    serviceKeyCache,
    random: overrides.random ?? cryptoRandom,
    passwordHasher: overrides.passwordHasher ?? argon2PasswordHasher,
    commonPasswords: zxcvbnCommonPasswords,
    totp: otpauthTotp,
    // Bound below, once the app (and its logger) exists and before it serves a request.
    invalidation: {
      tokenChanged: (tokenIds) => invalidation.tokenChanged(tokenIds),
      tokensRevoked: (tokenIds) => invalidation.tokensRevoked(tokenIds),
    },
    settings: {
      tokenPrefix: config.tokenPrefix,
      maxActiveTokensPerUser: config.maxActiveTokensPerUser,
      sessionTtlMs: config.sessionTtlMs,
      sessionIdleMs: config.sessionIdleMs,
      mailEnabled: config.mail !== undefined,
    },
  };
  const app = await buildApp(
    {
      services,
      verifier,
      revocationStream,
      webhooksQueued: () => {
        webhooks.wake();
        mail?.wake();
      },
    },
    {
      version,
      logLevel: config.logLevel,
      logStream: overrides.logStream,
      ...logFormatFor(config.logFormat, overrides.logStream),
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
      githubKeys: githubKeysOf(config),
      ...(config.tls
        ? {
            tls: { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) },
          }
        : {}),
    },
  );

  streamLog = app.log;
  storeLog = app.log;
  for (const [level, fields, message] of earlyStoreLines.splice(0)) app.log[level](fields, message);
  // Deliveries are written by the changes themselves (in their transactions); this sends
  // them, off the request path, and is woken by every token change it hears of.
  const webhooks = new WebhookDispatcher(
    store.webhooks,
    clock,
    createWebhookSender({ allowPrivate: config.webhookAllowPrivate }),
    app.log,
  );
  // Email is written by the changes themselves too (a token's notice, a reset link) and
  // sent from here, never on the request path.
  // nodemailer is loaded only by a server that sends email.
  const mail =
    config.mail === undefined
      ? undefined
      : new MailDispatcher(
          store.mail,
          clock,
          (await import("./platform/mail-sender.js")).createMailSender(config.mail),
          () => linkOrigin(config, app),
          app.log,
        );
  if (config.mail !== undefined && config.publicOrigin === undefined) {
    app.log.warn(
      "SMTP_URL is set without PUBLIC_ORIGIN: links in emails use this server's own address (http(s)://HOST:PORT); set PUBLIC_ORIGIN to the address people reach Keyward at",
    );
  }
  const policySweeper = new PolicySweeper(
    services,
    `${hostname()}:${process.pid}:${randomUUID()}`,
    app.log,
    config.policySweepIntervalMs,
    () => {
      webhooks.wake();
      mail?.wake();
    },
  );
  const sweeper = new SecretEndSweeper(
    store.revocations,
    clock,
    (tokenIds) => services.invalidation.tokenChanged(tokenIds),
    app.log,
  );
  const tokensChanged = () => {
    revocationStream.changed();
    sweeper.reschedule();
    webhooks.wake();
  };
  const cache = {
    // Service keys' ids come through the same channel as tokens' (revokeServiceKey).
    invalidate: (tokenIds: readonly string[]) => {
      verifier.invalidate(tokenIds);
      serviceKeyCache?.invalidate(tokenIds);
      tokensChanged();
    },
    revoke: (tokenIds: readonly string[]) => {
      verifier.revoke(tokenIds);
      serviceKeyCache?.invalidate(tokenIds);
      tokensChanged();
    },
    // A (re)established channel: whatever was sent meanwhile was missed.
    invalidateAll: () => {
      verifier.invalidateAll();
      serviceKeyCache?.clear();
      tokensChanged();
    },
    setCacheTrusted: (trusted: boolean) => {
      verifier.setCacheTrusted(trusted);
      serviceKeyCache?.setTrusted(trusted);
    },
  };

  // On SQLite this process is the only server (it holds the server lock): evicting locally
  // is the job, plus hearing what the command line announces. On PostgreSQL, changes also
  // go to and come from every other process. Either way the revocation stream and the
  // grace-end sweeper hear every change through `cache`.
  let invalidation: TokenInvalidation & { close(): Promise<void> } = {
    tokenChanged: async (tokenIds) => cache.invalidate(tokenIds),
    tokensRevoked: async (tokenIds) => cache.revoke(tokenIds),
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
    const pgStore = store as PostgresStore;
    if (pgStore.statementTimeout.enforcedBy === "client-only") {
      app.log.warn(
        { queryTimeoutMs: config.postgres.queryTimeoutMs },
        "PostgreSQL applies no statement timeout to Keyward's connections (a pooler did not pass the statement_timeout startup parameter on): a slow statement is abandoned by the client but keeps running on the server. Set it on the role: ALTER ROLE <role> SET statement_timeout = '5s'",
      );
    }
    // LISTEN needs a session: through a transaction-mode pooler it would land on whichever
    // server connection ran it, so the channel uses the direct URL when one is given.
    invalidation = await startPgInvalidation({
      url: config.postgres.listenUrl ?? config.database.url,
      cache,
      notify: pgStore.notify,
      log: app.log,
    });
  }
  revocationStream.setRevokedKeyCheck(
    async (keyIds) => new Set(await store.serviceKeys.revokedServiceKeys(keyIds)),
  );
  revocationStream.start();
  sweeper.reschedule();
  webhooks.start();
  mail?.start();
  policySweeper.start();

  const flushTimer = setInterval(() => {
    usage.flush().catch((error: unknown) => {
      // Counts stay in memory and go out with the next flush; auth decisions are unaffected.
      app.log.warn({ err: error }, "usage flush failed; will retry");
    });
  }, config.usageFlushIntervalMs);
  flushTimer.unref();

  // Cached answers past their maximum age are never used again; this gives their memory
  // back, after a burst of many tokens as during one (TokenVerifier.sweepExpired).
  const cacheSweepTimer = setInterval(() => verifier.sweepExpired(), CACHE_SWEEP_INTERVAL_MS);
  cacheSweepTimer.unref();

  // Rate-limit windows are at most an hour; counters a day old are dead weight. Portal
  // codes live five minutes; a used or expired one only takes room.
  const pruneTimer = setInterval(() => {
    store.counters.prune(clock.now() - 86_400_000).catch((error: unknown) => {
      app.log.warn({ err: error }, "pruning rate-limit counters failed");
    });
    store.portal.deleteExpiredPortalCodes(clock.now()).catch((error: unknown) => {
      app.log.warn({ err: error }, "pruning portal codes failed");
    });
    // Sent emails are kept 30 days (their kind, recipient and times), then go; so do
    // expired reset and confirmation codes.
    store.mail.prune(clock.now() - 30 * 86_400_000).catch((error: unknown) => {
      app.log.warn({ err: error }, "pruning the email queue failed");
    });
  }, 600_000);
  pruneTimer.unref();

  const addressRefusals = new AddressRefusalRecorder(
    services,
    (error) => app.log.warn({ err: error }, "recording an address refusal failed"),
    limitAddress,
  );
  verifier.onAddressRefused = (token, address) => addressRefusals.record(token, address);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      try {
        await closeAll();
      } finally {
        // The access log is buffered (up to a second of lines): nothing may stay behind,
        // even when closing failed.
        flushLogSync(app.log);
      }
    })();
    return closing;
  };
  const closeAll = async () => {
    clearInterval(flushTimer);
    clearInterval(cacheSweepTimer);
    clearInterval(pruneTimer);
    // Open streams never end on their own; the server would wait for them.
    await revocationStream.close();
    await sweeper.close();
    await policySweeper.close();
    await webhooks.close();
    await mail?.close();
    await app.close();
    try {
      await usage.flush();
    } catch (error) {
      app.log.error({ err: error }, "final usage flush failed");
    }
    await invalidation.close();
    await store.close();
  };

  return {
    app,
    store,
    verifier,
    usage,
    revocationStream,
    webhooks,
    policySweeper,
    mail,
    close,
    flushLogSync: () => flushLogSync(app.log),
    flushLog: () => flushLog(app.log),
  };
}
