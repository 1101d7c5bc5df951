import { type Kysely, sql } from "kysely";
import type { ServiceKeyStore, Store, StoreStats } from "../services/ports.js";
import { createKyselySessionStore, createKyselyUserStore } from "./kysely-accounts.js";
import { createKyselyApplicationStore } from "./kysely-applications.js";
import { createKyselyAuditStore } from "./kysely-audit.js";
import { createKyselyCounterStore } from "./kysely-counters.js";
import { createKyselyHostUserStore } from "./kysely-host-users.js";
import { createKyselyInvitationStore } from "./kysely-invitations.js";
import { createKyselyMailStore } from "./kysely-mail.js";
import { MailNoticesPlugin } from "./kysely-mail-queue.js";
import { createKyselyOperatorStore } from "./kysely-operator.js";
import { createKyselyPortalStore } from "./kysely-portal.js";
import { createKyselyRevocationStore } from "./kysely-revocations.js";
import { createKyselyServiceKeyStore } from "./kysely-service-keys.js";
import type { RunTransaction, StorageFaults } from "./kysely-store.js";
import { createKyselyTokenStore, type TokenStoreDialect } from "./kysely-tokens.js";
import { createKyselyTwoFactorStore } from "./kysely-two-factor.js";
import { createKyselyUsageStore } from "./kysely-usage.js";
import { createKyselyPolicyStore, createKyselyWebhookStore } from "./kysely-webhooks.js";
import type { Database } from "./schema.js";

/** What a dialect's store brings; the rest of its Store is the shared Kysely code. */
export interface StoreDialect<Kind extends Store["kind"]> extends TokenStoreDialect {
  kind: Kind;
  /** Counted by the dialect's `db` log and its own hot lookup. */
  stats: StoreStats;
  /** Runs a usage flush's transaction (createKyselyUsageStore). */
  flushTransaction: RunTransaction;
  /** The service-key lookup every service call runs: `findServiceKeyQuery`, prepared once. */
  findServiceKeyBySecret: ServiceKeyStore["findServiceKeyBySecret"];
}

export interface StoreOptions {
  /**
   * Queue an email to a token's owner when the token is created, regenerated or reported
   * leaked (SMTP is configured), in the transaction of the change.
   */
  mailNotices?: boolean;
}

/**
 * The Store a dialect hands out: every port from the shared Kysely code over `db`, faults
 * mapped by `faults`, with the dialect's own lock, hot lookup and flush transaction.
 * Closing marks the faults closed first, so requests still in flight get "unavailable".
 */
export function composeKyselyStore<Kind extends Store["kind"]>(
  root: Kysely<Database>,
  faults: StorageFaults,
  dialect: StoreDialect<Kind>,
  options: StoreOptions = {},
): Store & { readonly kind: Kind } {
  const { guard } = faults;
  // The same connections; its writes (and their transactions) also queue token notices.
  const db = options.mailNotices ? root.withPlugin(new MailNoticesPlugin()) : root;
  return {
    kind: dialect.kind,
    stats: dialect.stats,
    audit: createKyselyAuditStore(db, guard),
    counters: createKyselyCounterStore(db, guard),
    revocations: createKyselyRevocationStore(db, guard),
    users: createKyselyUserStore(db, guard),
    sessions: createKyselySessionStore(db, guard),
    twoFactor: createKyselyTwoFactorStore(db, guard),
    invitations: createKyselyInvitationStore(db, guard),
    applications: createKyselyApplicationStore(db, guard, dialect.lockOwnerTokens),
    tokens: createKyselyTokenStore(db, guard, dialect),
    usage: createKyselyUsageStore(db, guard, dialect.flushTransaction),
    serviceKeys: createKyselyServiceKeyStore(db, guard, dialect.findServiceKeyBySecret),
    hostUsers: createKyselyHostUserStore(db, guard, dialect.lockOwnerTokens),
    portal: createKyselyPortalStore(db, guard),
    webhooks: createKyselyWebhookStore(db, guard),
    policies: createKyselyPolicyStore(db, guard),
    mail: createKyselyMailStore(db, guard),
    operator: createKyselyOperatorStore(db, guard, dialect.beforeSecretWrite),
    ping: () =>
      guard(async () => {
        await sql`select 1`.execute(db);
      }),
    close: async () => {
      faults.markClosed();
      await root.destroy();
    },
  };
}
