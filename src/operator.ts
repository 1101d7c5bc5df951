import { userInfo } from "node:os";
import { linkOrigin, openStore } from "./compose.js";
import type { Config } from "./config.js";
import { zxcvbnCommonPasswords } from "./platform/common-passwords.js";
import { argon2PasswordHasher, cryptoRandom, systemClock } from "./platform/system.js";
import { otpauthTotp } from "./platform/totp.js";
import type { ServiceDeps } from "./services/deps.js";
import type { Operator } from "./services/operator.js";
import type { Store, TokenInvalidation } from "./services/ports.js";
import type { PostgresStore } from "./storage/postgres/postgres-store.js";
import type { SqliteStore } from "./storage/sqlite/sqlite-store.js";

// The command line's composition: the store opened beside a running server, and how the
// server hears of the command line's token changes. The CLI reaches the use cases here.

export * from "./services/operator.js";
export type {
  AuditEvent,
  OperatorApplication,
  OperatorServiceKey,
  OperatorToken,
  OperatorUser,
} from "./services/ports.js";
export * from "./services/token-import.js";

export interface OperatorSession {
  deps: ServiceDeps;
  operator: Operator;
  /**
   * Tells the servers that secrets were written outside them (an import): a SQLite server
   * reloads the filter of stored secrets it answers made-up tokens from, and every server
   * reads again whether imported tokens exist.
   */
  announceSecrets(): Promise<void>;
  /** The origin emailed and printed links start with (PUBLIC_ORIGIN, or HOST:PORT). */
  linkOrigin: string;
  /** The SQLite store's file, which no command may write over; undefined on PostgreSQL. */
  storePath: string | undefined;
  close(): Promise<void>;
}

/** The OS user running the command (the one behind sudo when there is one). */
export function currentOperator(env: Record<string, string | undefined>): Operator {
  let name = env.SUDO_USER || env.USER || "";
  if (name === "") {
    try {
      name = userInfo().username;
    } catch {
      name = "operator";
    }
  }
  return { name };
}

/**
 * How the servers hear of a change the command line made, after it has committed:
 * on SQLite an entry in the change feed the server polls (every 100 ms); on PostgreSQL
 * the NOTIFY every server process listens for.
 */
async function invalidationFor(store: Store): Promise<TokenInvalidation> {
  if (store.kind === "sqlite") {
    const sqlite = store as SqliteStore;
    // The change feed names tokens only: the server reads a revoked one again (locally).
    const announce = (ids: readonly string[]) => sqlite.announceChanges(ids, systemClock.now());
    return { tokenChanged: announce, tokensRevoked: announce };
  }
  const { INVALIDATION_CHANNEL, chunkPayloads, revocationPayloads } = await import(
    "./storage/postgres/pg-invalidation.js"
  );
  const postgres = store as PostgresStore;
  return {
    tokenChanged: async (ids) => {
      if (ids.length > 0) await postgres.notify(INVALIDATION_CHANNEL, chunkPayloads(ids));
    },
    tokensRevoked: async (ids) => {
      if (ids.length > 0) await postgres.notify(INVALIDATION_CHANNEL, revocationPayloads(ids));
    },
  };
}

export async function openOperatorSession(
  config: Config,
  env: Record<string, string | undefined>,
): Promise<OperatorSession> {
  const store = await openStore(config, { role: "tool" });
  const deps: ServiceDeps = {
    store,
    clock: systemClock,
    random: cryptoRandom,
    passwordHasher: argon2PasswordHasher,
    commonPasswords: zxcvbnCommonPasswords,
    totp: otpauthTotp,
    invalidation: await invalidationFor(store),
    settings: {
      tokenPrefix: config.tokenPrefix,
      maxActiveTokensPerUser: config.maxActiveTokensPerUser,
      sessionTtlMs: config.sessionTtlMs,
      sessionIdleMs: config.sessionIdleMs,
      mailEnabled: config.mail !== undefined,
    },
  };
  // Both make every server drop its cache and read again whether anything was imported.
  const announceSecrets = async () => {
    if (store.kind === "sqlite")
      await (store as SqliteStore).announceChanges("+secrets", systemClock.now());
    else {
      const { INVALIDATION_CHANNEL, INVALIDATE_ALL_PAYLOAD } = await import(
        "./storage/postgres/pg-invalidation.js"
      );
      await (store as PostgresStore).notify(INVALIDATION_CHANNEL, [INVALIDATE_ALL_PAYLOAD]);
    }
  };
  return {
    deps,
    operator: currentOperator(env),
    announceSecrets,
    linkOrigin: linkOrigin(config),
    storePath: config.database.kind === "sqlite" ? config.database.path : undefined,
    close: () => store.close(),
  };
}
