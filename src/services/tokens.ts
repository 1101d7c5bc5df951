import { normalizeAllowedAddresses } from "../core/addresses.js";
import { KeywardError } from "../core/errors.js";
import { generateId } from "../core/ids.js";
import {
  type Application,
  type RevocationReason,
  type TokenRecord,
  type User,
  utcDay,
} from "../core/model.js";
import { checkMaxLifetime } from "../core/policy.js";
import {
  MAX_GRACE_SECONDS,
  MAX_USAGE_DAYS,
  MAX_USAGE_TOKEN_IDS,
  normalizeScopes,
  normalizeTokenName,
} from "../core/rules.js";
import { generateToken, hashToken, tokenHint } from "../core/token.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import { isManager, requireMembership } from "./membership.js";

/** A token and its plaintext, which exists only in this value and the one response that carries it. */
export interface IssuedToken {
  token: string;
  record: TokenRecord;
}

export interface NewTokenInput {
  name: string;
  scopes?: string[];
  expiresAt?: number | null;
  /** Addresses and CIDRs it is accepted from; absent or empty: any address. */
  allowedAddresses?: string[];
}

export async function createToken(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  input: NewTokenInput,
  ctx: RequestContext = NO_CONTEXT,
): Promise<IssuedToken> {
  const { application } = await requireMembership(deps, actor, applicationId);
  return issueToken(deps, { application, owner: actor, actorId: actor.id }, input, ctx);
}

/**
 * Creates a token for `owner` in `application`, on behalf of `actorId` (the owner, or a
 * service key acting for a host user). The caller has checked that the owner is a member.
 */
export async function issueToken(
  deps: ServiceDeps,
  who: { application: Application; owner: { id: string; email: string }; actorId: string },
  input: NewTokenInput,
  ctx: RequestContext,
): Promise<IssuedToken> {
  const { application, owner: actor } = who;
  const applicationId = application.id;
  const name = normalizeTokenName(input.name);
  const scopes = normalizeScopes(input.scopes, application.scopes);
  const now = deps.clock.now();
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt !== null && expiresAt <= now) {
    throw new KeywardError("validation_failed", "expiresAt must be in the future.");
  }
  checkMaxLifetime(application.policy, expiresAt, now, "new");

  const allowedAddresses = normalizeAllowedAddresses(input.allowedAddresses ?? []);
  const plaintext = generateToken(deps.random, deps.settings.tokenPrefix);
  const record: TokenRecord = {
    id: generateId(deps.random, "tok"),
    applicationId,
    userId: actor.id,
    ownerEmail: actor.email,
    name,
    hint: tokenHint(plaintext, deps.settings.tokenPrefix),
    scopes,
    createdAt: now,
    expiresAt,
    lastUsedAt: null,
    revokedAt: null,
    revokedReason: null,
    refusedCount: 0,
    refusedLastAt: null,
    exposedAt: null,
    allowedAddresses: allowedAddresses.length === 0 ? null : allowedAddresses,
  };
  const inserted = await deps.store.tokens.insertToken(
    { ...record, secretHash: hashToken(plaintext) },
    { maxActivePerUser: deps.settings.maxActiveTokensPerUser, now },
    [
      auditEvent(deps, ctx, {
        applicationId,
        userId: actor.id,
        actorId: who.actorId,
        tokenId: record.id,
        action: "token.created",
        detail: {
          name,
          scopes: scopes.join(" "),
          expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
        },
      }),
    ],
  );
  if (!inserted.ok) {
    if (inserted.reason === "name_taken") {
      throw new KeywardError(
        "token_name_taken",
        `You already have an active token named "${name}" here.`,
      );
    }
    throw new KeywardError(
      "token_limit_reached",
      `You have ${deps.settings.maxActiveTokensPerUser} active tokens in this application, the most allowed. Revoke one you no longer use, then try again.`,
    );
  }
  return { token: plaintext, record };
}

export async function listTokens(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  options: { all: boolean },
): Promise<TokenRecord[]> {
  const { role } = await requireMembership(deps, actor, applicationId);
  if (options.all && !isManager(role)) {
    throw new KeywardError("forbidden", "Only owners and admins list everyone's tokens.");
  }
  return deps.store.tokens.listTokens(applicationId, options.all ? undefined : actor.id);
}

/**
 * A token the actor may see: their own, or anyone's in the application when they are
 * an owner or admin. Someone else's token is `not_found` to a member, as if it did not exist.
 */
async function findVisibleToken(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  tokenId: string,
): Promise<{ token: TokenRecord; manager: boolean; application: Application }> {
  const { role, application } = await requireMembership(deps, actor, applicationId);
  const token = await deps.store.tokens.findToken(applicationId, tokenId);
  if (!token || (token.userId !== actor.id && !isManager(role))) {
    throw new KeywardError("not_found", "No such token.");
  }
  return { token, manager: isManager(role), application };
}

export async function getToken(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  tokenId: string,
): Promise<TokenRecord> {
  return (await findVisibleToken(deps, actor, applicationId, tokenId)).token;
}

/**
 * Sets the addresses a token is accepted from (an empty list: any address). Only its
 * owner may: an admin narrowing a member's token could cut off their integration unseen.
 */
export async function setTokenAllowedAddresses(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  tokenId: string,
  allowedAddresses: readonly string[],
  ctx: RequestContext = NO_CONTEXT,
): Promise<TokenRecord> {
  const { token } = await findVisibleToken(deps, actor, applicationId, tokenId);
  if (token.userId !== actor.id) {
    throw new KeywardError("forbidden", "Only the token's owner can change where it is used from.");
  }
  const list = normalizeAllowedAddresses(allowedAddresses);
  const stored = list.length === 0 ? null : list;
  await deps.store.tokens.setAllowedAddresses({ tokenId, allowedAddresses: stored }, [
    auditEvent(deps, ctx, {
      applicationId,
      userId: token.userId,
      actorId: actor.id,
      tokenId,
      action: "token.updated",
      detail: { allowedAddresses: list.join(" ") },
    }),
  ]);
  await deps.invalidation.tokenChanged([tokenId]);
  return { ...token, allowedAddresses: stored };
}

/** Revokes a token; revoking a revoked token changes nothing and succeeds. */
export async function revokeToken(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  tokenId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  const { token } = await findVisibleToken(deps, actor, applicationId, tokenId);
  const reason = token.userId === actor.id ? "user" : "admin";
  await revokeTokenRecord(deps, token, { reason, actorId: actor.id }, ctx);
}

/** Revokes a token the caller may revoke, and tells every verifier. */
export async function revokeTokenRecord(
  deps: ServiceDeps,
  token: TokenRecord,
  by: { reason: RevocationReason; actorId: string },
  ctx: RequestContext,
): Promise<void> {
  // The event is written only by the call that revokes it (not by one that finds it revoked).
  await deps.store.tokens.revokeToken(
    {
      tokenId: token.id,
      now: deps.clock.now(),
      reason: by.reason,
      revokedBy: by.actorId,
    },
    [
      auditEvent(deps, ctx, {
        applicationId: token.applicationId,
        userId: token.userId,
        actorId: by.actorId,
        tokenId: token.id,
        action: "token.revoked",
        reason: by.reason,
      }),
    ],
  );
  // Tell the verifiers even when another request revoked it first: an extra eviction is harmless.
  await deps.invalidation.tokensRevoked([token.id]);
}

/**
 * Issues a new secret for the same token (same id, name and scopes). The old secret
 * keeps working for `graceSeconds` (0: stops at once), so a client can switch over
 * without an outage. Only the owner of the token may regenerate it: the new secret is
 * shown to whoever regenerates, and an admin must not be able to take over a token.
 */
export async function regenerateToken(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  tokenId: string,
  input: { graceSeconds?: number },
  ctx: RequestContext = NO_CONTEXT,
): Promise<IssuedToken> {
  const { token, application } = await findVisibleToken(deps, actor, applicationId, tokenId);
  if (token.userId !== actor.id) {
    throw new KeywardError(
      "forbidden",
      "Only the token's owner can regenerate it; you may revoke it.",
    );
  }
  checkMaxLifetime(application.policy, token.expiresAt, deps.clock.now(), "regenerated");
  const graceSeconds = input.graceSeconds ?? 0;
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS) {
    throw new KeywardError(
      "validation_failed",
      `graceSeconds must be an integer from 0 to ${MAX_GRACE_SECONDS}.`,
    );
  }
  const now = deps.clock.now();
  const plaintext = generateToken(deps.random, deps.settings.tokenPrefix);
  const hint = tokenHint(plaintext, deps.settings.tokenPrefix);
  const replaced = await deps.store.tokens.replaceSecret(
    {
      tokenId: token.id,
      secretHash: hashToken(plaintext),
      hint,
      now,
      oldSecretsExpireAt: now + graceSeconds * 1000,
    },
    [
      auditEvent(deps, ctx, {
        applicationId,
        userId: token.userId,
        actorId: actor.id,
        tokenId: token.id,
        action: "token.regenerated",
        detail: { graceSeconds },
      }),
    ],
  );
  if (!replaced) {
    throw new KeywardError(
      "token_not_active",
      "A revoked or expired token cannot be regenerated; create a new one.",
    );
  }
  await deps.invalidation.tokenChanged([token.id]);
  return { token: plaintext, record: { ...token, hint } };
}

export interface TokenUsage {
  total: number;
  lastUsedAt: number | null;
  /** One entry per day of the window, oldest first, zero-filled. */
  daily: Array<{ date: string; requests: number }>;
}

export async function getTokenUsage(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  tokenId: string,
  days: number,
): Promise<TokenUsage> {
  const { token } = await findVisibleToken(deps, actor, applicationId, tokenId);
  const { fromDay, dates } = usageWindow(deps.clock.now(), days);
  const [rows, total] = await Promise.all([
    deps.store.usage.dailyUsage(token.id, fromDay),
    deps.store.usage.totalUsage(token.id),
  ]);
  return { total, lastUsedAt: token.lastUsedAt, daily: zeroFilled(dates, rows) };
}

/** The first of `days` UTC days ending today, and the days themselves, oldest first. */
function usageWindow(now: number, days: number): { fromDay: string; dates: string[] } {
  if (!Number.isInteger(days) || days < 1 || days > MAX_USAGE_DAYS) {
    throw new KeywardError(
      "validation_failed",
      `days must be an integer from 1 to ${MAX_USAGE_DAYS}.`,
    );
  }
  const dayMs = 86_400_000;
  const dates: string[] = [];
  for (let i = days - 1; i >= 0; i--) dates.push(utcDay(now - i * dayMs));
  return { fromDay: dates[0] as string, dates };
}

function zeroFilled(
  dates: readonly string[],
  rows: ReadonlyArray<{ day: string; requests: number }>,
): TokenUsage["daily"] {
  const byDay = new Map(rows.map((r) => [r.day, r.requests]));
  return dates.map((date) => ({ date, requests: byDay.get(date) ?? 0 }));
}

/**
 * The usage of many tokens in one call (a page of the token list), so a page of a hundred
 * tokens costs one request, not one per row. With `tokenIds`, the ones the actor may see
 * (their own, or anyone's for owners and admins); others are left out as if they did not
 * exist. Without, the actor's tokens, or everyone's with `all` (owners and admins only).
 */
export async function getUsageOfTokens(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  options: { all: boolean; tokenIds?: readonly string[]; days: number },
): Promise<Array<{ tokenId: string; total: number; daily: TokenUsage["daily"] }>> {
  const { role } = await requireMembership(deps, actor, applicationId);
  const manager = isManager(role);
  if (options.all && !manager) {
    throw new KeywardError("forbidden", "Only owners and admins read everyone's usage.");
  }
  if (options.tokenIds && options.tokenIds.length > MAX_USAGE_TOKEN_IDS) {
    throw new KeywardError(
      "validation_failed",
      `tokenIds names at most ${MAX_USAGE_TOKEN_IDS} tokens.`,
    );
  }
  const { fromDay, dates } = usageWindow(deps.clock.now(), options.days);
  const visible = await deps.store.tokens.listTokens(
    applicationId,
    options.all || (options.tokenIds && manager) ? undefined : actor.id,
  );
  let ids = visible.map((t) => t.id);
  if (options.tokenIds) {
    const seen = new Set(ids);
    ids = [...new Set(options.tokenIds)].filter((id) => seen.has(id));
  }
  const usage = await deps.store.usage.usageOfTokens(ids, fromDay);
  return usage.map((u) => ({
    tokenId: u.tokenId,
    total: u.total,
    daily: zeroFilled(dates, u.daily),
  }));
}

/**
 * A valid token arrived over plain HTTP from a remote client: anyone on the path may
 * have read it. The request is refused; the token is marked exposed (once) so its owner
 * sees it in the list and the audit trail and regenerates it.
 */
export async function markTokenExposed(
  deps: ServiceDeps,
  token: { tokenId: string; applicationId: string; userId: string },
  ctx: RequestContext,
): Promise<void> {
  // Written only by the call that marks it first.
  await deps.store.tokens.markExposed(token.tokenId, deps.clock.now(), [
    auditEvent(deps, ctx, {
      applicationId: token.applicationId,
      userId: token.userId,
      actorId: null,
      tokenId: token.tokenId,
      action: "token.exposed",
      reason: "plain_http",
    }),
  ]);
}
