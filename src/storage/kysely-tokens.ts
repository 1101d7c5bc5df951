import type { Kysely, Transaction, Updateable } from "kysely";
import { KeywardError } from "../core/errors.js";
import type { AuditEvents, TokenStore } from "../services/ports.js";
import {
  type Guard,
  insertAuditEvents,
  insertRevocationEvents,
  type LockOwnerTokens,
  writeAudited,
} from "./kysely-store.js";
import { num, toTokenRecord } from "./rows.js";
import type { Database, TokensTable } from "./schema.js";

/** What a dialect gives the token store: what it does its own way. */
export interface TokenStoreDialect {
  /** Also taken by member removal (createKyselyApplicationStore). */
  lockOwnerTokens: LockOwnerTokens;
  /**
   * Waits for, then blocks, any other transaction's change to one token's row: a
   * regeneration updates that row first, so the reads after this lock see it whole.
   */
  lockToken: (trx: Transaction<Database>, tokenId: string) => Promise<void>;
  /**
   * The hot lookup, the dialect's own: each runs `findSecretQuery`'s SQL as a statement
   * prepared once, where the query builder would prepare it on every call, and maps its
   * faults as `guard` does.
   */
  findSecret: TokenStore["findSecret"];
  /** The dialect's own answer from memory, if it keeps one (SQLite's secret filter). */
  mayHoldSecret?: TokenStore["mayHoldSecret"];
  /** Told of every secret hash before the transaction that writes it, e.g. for a filter. */
  beforeSecretWrite?: (hash: string) => void;
  /**
   * Awaited after a transaction that gave a token a new secret has committed, before the
   * caller (and so the token's owner) learns of it: PostgreSQL's wait that lets every
   * process's secret filter hear of it first (PgSecretFilter).
   */
  afterSecretCommit?: () => Promise<void>;
}

/** The secret lookup as one query, whose compiled SQL each dialect prepares once. */
export function findSecretQuery(db: Kysely<Database>, hash: string) {
  return secretLookup(db).where("s.hash", "=", hash);
}

/**
 * What a verification needs of a secret, its token, application and user, without the
 * condition on the hash: `findSecretQuery` adds one hash, PostgreSQL's batched lookup a
 * list of them.
 */
export function secretLookup(db: Kysely<Database>) {
  return (
    db
      .selectFrom("token_secrets as s")
      .innerJoin("tokens as t", "t.id", "s.token_id")
      .innerJoin("applications as a", "a.id", "t.application_id")
      .innerJoin("users as u", "u.id", "t.user_id")
      .select([
        "t.id as token_id",
        "t.name as token_name",
        "t.scopes as scopes",
        "t.application_id as application_id",
        "a.name as application_name",
        "t.user_id as user_id",
        "u.email as user_email",
        "u.external_id as external_id",
        "t.expires_at as expires_at",
        "t.revoked_at as revoked_at",
        "s.expires_at as secret_expires_at",
        "t.allowed_addresses as allowed_addresses",
        "t.imported_at as imported_at",
      ])
      // A disabled user's tokens are unknown, in the same one lookup (no second query).
      .where("u.disabled_at", "is", null)
  );
}

export function tokenColumns(db: Kysely<Database>) {
  return db
    .selectFrom("tokens as t")
    .innerJoin("users as u", "u.id", "t.user_id")
    .select([
      "t.id",
      "t.application_id",
      "t.user_id",
      "u.email as owner_email",
      "t.name",
      "t.hint",
      "t.scopes",
      "t.created_at",
      "t.expires_at",
      // The newest usage row holds the last use; `tokens.last_used_at` only has it for
      // tokens whose usage predates migration 0005.
      (eb) =>
        eb.fn
          .coalesce(
            eb
              .selectFrom("token_usage_daily as d")
              .select("d.last_used_at")
              .whereRef("d.token_id", "=", "t.id")
              .orderBy("d.day", "desc")
              .limit(1),
            "t.last_used_at",
          )
          .as("last_used_at"),
      "t.revoked_at",
      "t.revoked_reason",
      "t.refused_count",
      "t.refused_last_at",
      "t.exposed_at",
      "t.allowed_addresses",
    ]);
}

/** An allowlist as stored: JSON, or null when it allows every address. */
function allowedAddressesText(list: readonly string[] | null | undefined): string | null {
  return list === null || list === undefined || list.length === 0 ? null : JSON.stringify(list);
}

/** Active = not revoked and not past its expiry at `now`. */
export function whereActive(now: number) {
  // biome-ignore lint/suspicious/noExplicitAny: shared predicate over the tokens alias
  return (eb: any) =>
    eb.and([
      eb("revoked_at", "is", null),
      eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]),
    ]);
}

/**
 * Sets `values` on the token unless `column` is already set, with its audit events when it
 * did: true then. The first revocation (or exposure) wins and is the one recorded.
 */
function setTokenOnce(
  db: Kysely<Database>,
  guard: Guard,
  audit: AuditEvents | undefined,
  tokenId: string,
  column: "revoked_at" | "exposed_at",
  values: Updateable<TokensTable>,
): Promise<boolean> {
  return writeAudited(
    db,
    guard,
    audit,
    async (executor) => {
      const result = await executor
        .updateTable("tokens")
        .set(values)
        .where("id", "=", tokenId)
        .where(column, "is", null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    (changed) => changed,
  );
}

export function createKyselyTokenStore(
  db: Kysely<Database>,
  guard: Guard,
  dialect: TokenStoreDialect,
): TokenStore {
  const { lockOwnerTokens, lockToken, beforeSecretWrite, afterSecretCommit } = dialect;
  /** Runs `write`; once it has committed a new secret (`wrote` says), awaits the dialect. */
  const settled = async <T>(write: Promise<T>, wrote: (result: T) => boolean): Promise<T> => {
    const result = await write;
    if (afterSecretCommit !== undefined && wrote(result)) await afterSecretCommit();
    return result;
  };
  /** A token's new current secret (no expiry), told to the dialect before it is written. */
  const insertSecret = async (
    trx: Transaction<Database>,
    hash: string,
    tokenId: string,
    createdAt: number,
  ) => {
    beforeSecretWrite?.(hash);
    await trx
      .insertInto("token_secrets")
      .values({ hash, token_id: tokenId, created_at: createdAt, expires_at: null })
      .execute();
  };
  return {
    insertToken: (token, rules, audit) =>
      settled(
        guard(() =>
          db.transaction().execute(async (trx) => {
            await lockOwnerTokens(trx, token.applicationId, token.userId);
            // Checked under the lock removeMember also takes: the caller checked membership
            // before, but the member may have been removed since.
            const member = await trx
              .selectFrom("memberships")
              .select("role")
              .where("application_id", "=", token.applicationId)
              .where("user_id", "=", token.userId)
              .executeTakeFirst();
            if (!member) throw new KeywardError("not_found", "No such application.");
            const active = await trx
              .selectFrom("tokens")
              .select(["name"])
              .where("application_id", "=", token.applicationId)
              .where("user_id", "=", token.userId)
              .where(whereActive(rules.now))
              .execute();
            if (active.some((t) => t.name === token.name))
              return { ok: false, reason: "name_taken" } as const;
            if (active.length >= rules.maxActivePerUser) {
              return { ok: false, reason: "limit_reached" } as const;
            }
            await trx
              .insertInto("tokens")
              .values({
                id: token.id,
                application_id: token.applicationId,
                user_id: token.userId,
                name: token.name,
                hint: token.hint,
                scopes: JSON.stringify(token.scopes),
                created_at: token.createdAt,
                expires_at: token.expiresAt,
                last_used_at: null,
                revoked_at: null,
                revoked_reason: null,
                revoked_by: null,
                refused_count: 0,
                refused_last_at: null,
                exposed_at: null,
                allowed_addresses: allowedAddressesText(token.allowedAddresses),
              })
              .execute();
            await insertSecret(trx, token.secretHash, token.id, token.createdAt);
            await insertAuditEvents(trx, audit ?? []);
            return { ok: true } as const;
          }),
        ),
        (result) => result.ok,
      ),
    findToken: (applicationId, tokenId) =>
      guard(async () => {
        const row = await tokenColumns(db)
          .where("t.application_id", "=", applicationId)
          .where("t.id", "=", tokenId)
          .executeTakeFirst();
        return row ? toTokenRecord(row) : undefined;
      }),
    listTokens: (applicationId, userId) =>
      guard(async () => {
        let query = tokenColumns(db).where("t.application_id", "=", applicationId);
        if (userId !== undefined) query = query.where("t.user_id", "=", userId);
        const rows = await query.orderBy("t.created_at", "desc").orderBy("t.id", "desc").execute();
        return rows.map(toTokenRecord);
      }),
    revokeToken: (input, audit) =>
      setTokenOnce(db, guard, audit, input.tokenId, "revoked_at", {
        revoked_at: input.now,
        revoked_reason: input.reason,
        revoked_by: input.revokedBy,
      }),
    replaceSecret: (input, audit) =>
      settled(
        guard(() =>
          db.transaction().execute(async (trx) => {
            const updated = await trx
              .updateTable("tokens")
              .set({ hint: input.hint })
              .where("id", "=", input.tokenId)
              .where(whereActive(input.now))
              .returning("application_id")
              .executeTakeFirst();
            if (updated === undefined) return false;
            if (input.oldSecretsExpireAt <= input.now) {
              await trx.deleteFrom("token_secrets").where("token_id", "=", input.tokenId).execute();
            } else {
              // An old secret never gains time: one already due to expire keeps its earlier end.
              await trx
                .updateTable("token_secrets")
                .set({ expires_at: input.oldSecretsExpireAt })
                .where("token_id", "=", input.tokenId)
                .where((eb) =>
                  eb.or([
                    eb("expires_at", "is", null),
                    eb("expires_at", ">", input.oldSecretsExpireAt),
                  ]),
                )
                .execute();
              const gone = await trx
                .deleteFrom("token_secrets")
                .where("token_id", "=", input.tokenId)
                .where("expires_at", "<=", input.now)
                .returning(["expires_at", "ended_announced"])
                .execute();
              // An old secret that ended moments ago, before any process announced it, would
              // otherwise leave the revocation stream without its secret.ended.
              const unannounced = gone.filter((g) => num(g.ended_announced) === 0);
              if (unannounced.length > 0) {
                await insertRevocationEvents(trx, [
                  {
                    application_id: updated.application_id,
                    token_id: input.tokenId,
                    type: "secret.ended",
                    at: Math.max(...unannounced.map((g) => num(g.expires_at ?? input.now))),
                  },
                ]);
              }
            }
            await insertSecret(trx, input.secretHash, input.tokenId, input.now);
            await insertAuditEvents(trx, audit ?? []);
            return true;
          }),
        ),
        (replaced) => replaced,
      ),
    setAllowedAddresses: (input, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          const result = await executor
            .updateTable("tokens")
            .set({ allowed_addresses: allowedAddressesText(input.allowedAddresses) })
            .where("id", "=", input.tokenId)
            .executeTakeFirst();
          return Number(result.numUpdatedRows) > 0;
        },
        (updated) => updated,
      ),
    revokeLeakedSecret: (input, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          await lockToken(trx, input.tokenId);
          const found = await trx
            .selectFrom("token_secrets as s")
            .innerJoin("tokens as t", "t.id", "s.token_id")
            .select("s.expires_at")
            .where("s.hash", "=", input.secretHash)
            .where("s.token_id", "=", input.tokenId)
            .where("t.revoked_at", "is", null)
            .where((eb) =>
              eb.or([eb("t.expires_at", "is", null), eb("t.expires_at", ">", input.now)]),
            )
            .executeTakeFirst();
          if (found === undefined) return "unchanged";
          if (found.expires_at === null) {
            await trx
              .updateTable("tokens")
              .set({ revoked_at: input.now, revoked_reason: "leaked", revoked_by: null })
              .where("id", "=", input.tokenId)
              .execute();
            await insertAuditEvents(trx, audit.revoked);
            return "revoked";
          }
          // An old secret past its end already refuses; only one in its grace period ends.
          if (num(found.expires_at) <= input.now) return "unchanged";
          await trx.deleteFrom("token_secrets").where("hash", "=", input.secretHash).execute();
          await insertAuditEvents(trx, audit.secretEnded);
          return "secret_ended";
        }),
      ),
    markExposed: (tokenId, now, audit) =>
      setTokenOnce(db, guard, audit, tokenId, "exposed_at", { exposed_at: now }),
    findSecret: dialect.findSecret,
    ...(dialect.mayHoldSecret ? { mayHoldSecret: dialect.mayHoldSecret } : {}),
    hasImportedTokens: () =>
      guard(async () => {
        const row = await db
          .selectFrom("tokens")
          .select("id")
          .where("imported_at", "is not", null)
          .limit(1)
          .executeTakeFirst();
        return row !== undefined;
      }),
  };
}
