import { KeywardError } from "../core/errors.js";
import { generateId, generateSessionSecret } from "../core/ids.js";
import type { Application, HostUser, TokenRecord } from "../core/model.js";
import {
  checkExternalId,
  normalizeDisplayName,
  normalizeEmail,
  returnUrlOnOrigins,
} from "../core/rules.js";
import { hashToken } from "../core/token.js";
import { type NewSession, startSession } from "./accounts.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import { type IssuedToken, issueToken, type NewTokenInput, revokeTokenRecord } from "./tokens.js";
import type { TokenVerifier, VerifyResult } from "./verifier.js";

// What a host's backend does with its service key: mirror its users, manage their tokens,
// verify tokens of its application and send its users to the account page.

/** Who is calling with a service key: the key, and the one application it speaks for. */
export interface ServiceCaller {
  keyId: string;
  keyName: string;
  applicationId: string;
}

/** A portal link works once, within this long of its creation. */
export const PORTAL_CODE_TTL_MS = 5 * 60_000;

async function callerApplication(deps: ServiceDeps, caller: ServiceCaller): Promise<Application> {
  const application = await deps.store.applications.findApplication(caller.applicationId);
  // The key's application cascades its keys away; this is a race with its deletion.
  if (!application) throw new KeywardError("invalid_token", "The service key is not valid.");
  return application;
}

async function requireHostUser(
  deps: ServiceDeps,
  caller: ServiceCaller,
  externalId: string,
): Promise<HostUser> {
  const user = await deps.store.hostUsers.findHostUser(
    caller.applicationId,
    checkExternalId(externalId),
  );
  if (!user) throw new KeywardError("user_not_found", "No user has that externalId here.");
  return user;
}

/**
 * The host user a portal link or a new token is for: refused while an operator has them
 * disabled, as an account's sign-in is; the link's session or the token would be refused
 * at once anyway.
 */
async function requireEnabledHostUser(
  deps: ServiceDeps,
  caller: ServiceCaller,
  externalId: string,
): Promise<HostUser> {
  const user = await requireHostUser(deps, caller, externalId);
  if (user.disabledAt !== null) {
    throw new KeywardError(
      "user_disabled",
      "An operator has disabled this user; `keyward users enable` undoes it.",
    );
  }
  return user;
}

function optionalEmail(email: string | null | undefined): string | null | undefined {
  if (email === undefined || email === null) return email;
  return normalizeEmail(email);
}

function optionalName(name: string | null | undefined): string | null | undefined {
  if (name === undefined || name === null) return name;
  return normalizeDisplayName(name, "Name");
}

/** Creates the host user or updates what is given; `created` tells which. */
export async function upsertHostUser(
  deps: ServiceDeps,
  caller: ServiceCaller,
  externalId: string,
  input: { email?: string | null; name?: string | null },
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ created: boolean; user: HostUser }> {
  return deps.store.hostUsers.upsertHostUser(
    {
      id: generateId(deps.random, "usr"),
      applicationId: caller.applicationId,
      externalId: checkExternalId(externalId),
      email: optionalEmail(input.email),
      name: optionalName(input.name),
      now: deps.clock.now(),
    },
    (created, user) => [
      auditEvent(deps, ctx, {
        applicationId: caller.applicationId,
        userId: user.id,
        actorId: caller.keyId,
        tokenId: null,
        action: created ? "host_user.created" : "host_user.updated",
        detail: { externalId: user.externalId },
      }),
    ],
  );
}

export function getHostUser(
  deps: ServiceDeps,
  caller: ServiceCaller,
  externalId: string,
): Promise<HostUser> {
  return requireHostUser(deps, caller, externalId);
}

/** Removes the host user and revokes all their tokens in one transaction; again is fine. */
export async function removeHostUser(
  deps: ServiceDeps,
  caller: ServiceCaller,
  externalId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  const result = await deps.store.hostUsers.removeHostUser(
    {
      applicationId: caller.applicationId,
      externalId: checkExternalId(externalId),
      now: deps.clock.now(),
      revokedBy: caller.keyId,
    },
    (user, revokedTokenIds) => [
      auditEvent(deps, ctx, {
        applicationId: caller.applicationId,
        userId: user.id,
        actorId: caller.keyId,
        tokenId: null,
        action: "host_user.removed",
        detail: { externalId: user.externalId, revokedTokens: revokedTokenIds.length },
      }),
      ...revokedTokenIds.map((tokenId) =>
        auditEvent(deps, ctx, {
          applicationId: caller.applicationId,
          userId: user.id,
          actorId: caller.keyId,
          tokenId,
          action: "token.revoked",
          reason: "member_removed",
        }),
      ),
    ],
  );
  await deps.invalidation.tokensRevoked(result.revokedTokenIds);
}

export async function listHostUserTokens(
  deps: ServiceDeps,
  caller: ServiceCaller,
  externalId: string,
): Promise<TokenRecord[]> {
  const user = await requireHostUser(deps, caller, externalId);
  return deps.store.tokens.listTokens(caller.applicationId, user.id);
}

export async function createHostUserToken(
  deps: ServiceDeps,
  caller: ServiceCaller,
  externalId: string,
  input: NewTokenInput,
  ctx: RequestContext = NO_CONTEXT,
): Promise<IssuedToken> {
  const [user, application] = await Promise.all([
    requireEnabledHostUser(deps, caller, externalId),
    callerApplication(deps, caller),
  ]);
  return issueToken(
    deps,
    { application, owner: { id: user.id, email: user.email ?? "" }, actorId: caller.keyId },
    input,
    ctx,
  );
}

/** Revokes any token of the key's application; a token of another one is `not_found`. */
export async function revokeTokenAsService(
  deps: ServiceDeps,
  caller: ServiceCaller,
  tokenId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  const token = await deps.store.tokens.findToken(caller.applicationId, tokenId);
  if (!token) throw new KeywardError("not_found", "No such token.");
  await revokeTokenRecord(deps, token, { reason: "admin", actorId: caller.keyId }, ctx);
}

/** A verification for the key's application only: another application's token is invalid. */
export function verifyAsService(
  verifier: TokenVerifier,
  caller: ServiceCaller,
  token: string,
  clientAddress: string,
): VerifyResult | Promise<VerifyResult> {
  return verifier.verifyNow(token, clientAddress, caller.applicationId);
}

/**
 * A one-time link for the host user: a code of 256 bits (43 base62 characters), kept
 * only as its hash, good once within 5 minutes.
 */
export async function createPortalSession(
  deps: ServiceDeps,
  caller: ServiceCaller,
  input: { externalId: string; returnUrl?: string },
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ code: string; expiresAt: number }> {
  const [user, application] = await Promise.all([
    requireEnabledHostUser(deps, caller, input.externalId),
    callerApplication(deps, caller),
  ]);
  const returnUrl =
    input.returnUrl === undefined
      ? null
      : returnUrlOnOrigins(input.returnUrl, application.returnOrigins);
  if (returnUrl === undefined) {
    throw new KeywardError(
      "validation_failed",
      application.returnOrigins.length === 0
        ? "returnUrl needs a return origin: set returnOrigins on the application first."
        : `returnUrl must be a URL without control characters or surrounding spaces, on one of the application's return origins (${application.returnOrigins.join(", ")}).`,
    );
  }
  const code = generateSessionSecret(deps.random);
  const now = deps.clock.now();
  const expiresAt = now + PORTAL_CODE_TTL_MS;
  await deps.store.portal.insertPortalCode(
    {
      codeHash: hashToken(code),
      applicationId: caller.applicationId,
      userId: user.id,
      returnUrl,
      createdAt: now,
      expiresAt,
      serviceKeyId: caller.keyId,
    },
    [
      auditEvent(deps, ctx, {
        applicationId: caller.applicationId,
        userId: user.id,
        actorId: caller.keyId,
        tokenId: null,
        action: "portal.opened",
        detail: { externalId: user.externalId, step: "link_created" },
      }),
    ],
  );
  return { code, expiresAt };
}

/**
 * Redeems a portal code: a session for its host user, scoped to its application, or
 * undefined when the code is unknown, used or expired (all alike to the browser).
 */
export async function redeemPortalCode(
  deps: ServiceDeps,
  code: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ session: NewSession; applicationId: string } | undefined> {
  if (code.length === 0 || code.length > 128) return undefined;
  const now = deps.clock.now();
  const redeemed = await deps.store.portal.redeemPortalCode(hashToken(code), now);
  if (!redeemed) return undefined;
  const session = await startSession(
    deps,
    redeemed.userId,
    [
      auditEvent(deps, ctx, {
        applicationId: redeemed.applicationId,
        userId: redeemed.userId,
        actorId: redeemed.userId,
        tokenId: null,
        action: "portal.opened",
        detail: { step: "signed_in" },
      }),
    ],
    {
      applicationId: redeemed.applicationId,
      returnUrl: redeemed.returnUrl,
      serviceKeyId: redeemed.serviceKeyId,
    },
    ctx,
  );
  return { session, applicationId: redeemed.applicationId };
}
