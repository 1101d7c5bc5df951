import { KeywardError } from "../core/errors.js";
import { generateId, generateSessionSecret } from "../core/ids.js";
import type { User } from "../core/model.js";
import {
  checkPassword,
  hasUnstorableCharacter,
  normalizeDisplayName,
  normalizeEmail,
  withoutControlCharacters,
} from "../core/rules.js";
import { hashToken } from "../core/token.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import type { AuditEvents, SessionRecord } from "./ports.js";
import { checkSignInSecondFactor } from "./two-factor.js";

export interface NewSession {
  /** The cookie value. Only its hash is stored. */
  secret: string;
  expiresAt: number;
}

export async function signUp(
  deps: ServiceDeps,
  input: { email: string; password: string; name: string },
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ user: User; session: NewSession }> {
  const email = normalizeEmail(input.email);
  const name = normalizeDisplayName(input.name, "Name");
  checkNewPassword(deps, input.password);
  const user: User = {
    id: generateId(deps.random, "usr"),
    email,
    name,
    createdAt: deps.clock.now(),
  };
  const passwordHash = await deps.passwordHasher.hash(input.password);
  const inserted = await deps.store.users.insertUser({ ...user, passwordHash }, [
    auditEvent(deps, ctx, {
      applicationId: null,
      userId: user.id,
      actorId: user.id,
      tokenId: null,
      action: "signup",
    }),
  ]);
  if (!inserted.ok) throw new KeywardError("email_taken");
  return { user, session: await startSession(deps, user.id, undefined, undefined, ctx) };
}

/**
 * A new password's rules (sign-up, change, reset): 8 to 256 characters, not blank, not
 * among the common passwords. No composition rules (NIST 800-63B).
 */
export function checkNewPassword(deps: ServiceDeps, password: string): void {
  // Spaces and invisible characters (zero-width spaces, joiners) alone are a blank password.
  if (password.replace(/[\s\p{Default_Ignorable_Code_Point}]/gu, "").length === 0) {
    throw new KeywardError("weak_password", "A password cannot be blank or only spaces.");
  }
  // A control character or a lone surrogate cannot be typed, and a lone surrogate would be
  // hashed as U+FFFD: any two such passwords would be the same one.
  if (hasUnstorableCharacter(password)) {
    throw new KeywardError(
      "validation_failed",
      "Password cannot contain control characters or unpaired surrogates.",
    );
  }
  checkPassword(password);
  if (deps.commonPasswords.isCommon(password) || deps.commonPasswords.isCommon(password.trim())) {
    throw new KeywardError(
      "weak_password",
      "That password is among the most common passwords, the first ones an attacker tries. Choose another.",
    );
  }
}

let dummyHash: Promise<string> | undefined;

export async function signIn(
  deps: ServiceDeps,
  input: { email: string; password: string; code?: string },
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ user: User; session: NewSession }> {
  const email = input.email.trim().toLowerCase();
  // An email no account can have (control characters, lone surrogates) is not looked
  // up: PostgreSQL would refuse it with an error, and the answer must stay the same.
  const found = hasUnstorableCharacter(email)
    ? undefined
    : await deps.store.users.findUserByEmail(email);
  if (!found) {
    // Spend the same hashing work as for a real account, so the answer's timing does
    // not reveal whether the email has an account.
    dummyHash ??= deps.passwordHasher.hash("keyward-timing-equalizer");
    await deps.passwordHasher.verify(await dummyHash, input.password);
    // The attempted email is not kept: people type passwords into the wrong field.
    await deps.store.audit.record([
      auditEvent(deps, ctx, {
        applicationId: null,
        userId: null,
        actorId: null,
        tokenId: null,
        action: "signin.failed",
        reason: "unknown_email",
      }),
    ]);
    throw new KeywardError("invalid_credentials");
  }
  if (!(await deps.passwordHasher.verify(found.passwordHash, input.password))) {
    await deps.store.audit.record([
      auditEvent(deps, ctx, {
        applicationId: null,
        userId: found.id,
        actorId: null,
        tokenId: null,
        action: "signin.failed",
        reason: "wrong_password",
      }),
    ]);
    throw new KeywardError("invalid_credentials");
  }
  if (found.disabledAt != null) {
    // Said only after the right password: whoever reads it already holds the account.
    await deps.store.audit.record([
      auditEvent(deps, ctx, {
        applicationId: null,
        userId: found.id,
        actorId: null,
        tokenId: null,
        action: "signin.failed",
        reason: "disabled",
      }),
    ]);
    throw new KeywardError(
      "invalid_credentials",
      "This account is disabled. Ask the operator of this Keyward to enable it.",
    );
  }
  // Asked only after the right password: whoever is asked for a code knows the password.
  await checkSignInSecondFactor(deps, found.id, input.code, ctx);
  const { passwordHash: _omit, disabledAt: _enabled, ...user } = found;
  const succeeded = auditEvent(deps, ctx, {
    applicationId: null,
    userId: user.id,
    actorId: user.id,
    tokenId: null,
    action: "signin.succeeded",
  });
  // A fresh session id at every sign-in defeats session fixation.
  return { user, session: await startSession(deps, user.id, [succeeded], undefined, ctx) };
}

/** A portal session (a host user's) lasts at most this long. */
export const PORTAL_SESSION_MAX_MS = 3_600_000;

/**
 * Starts a session. A portal session is scoped to one application, remembers where its
 * "Back to …" link goes, and lasts at most an hour.
 */
export async function startSession(
  deps: ServiceDeps,
  userId: string,
  audit?: AuditEvents,
  portal?: { applicationId: string; returnUrl: string | null; serviceKeyId: string | null },
  ctx: RequestContext = NO_CONTEXT,
): Promise<NewSession> {
  const secret = generateSessionSecret(deps.random);
  const now = deps.clock.now();
  const ttl = portal
    ? Math.min(deps.settings.sessionTtlMs, PORTAL_SESSION_MAX_MS)
    : deps.settings.sessionTtlMs;
  const expiresAt = now + ttl;
  await deps.store.sessions.insertSession(
    {
      idHash: hashToken(secret),
      userId,
      createdAt: now,
      expiresAt,
      applicationId: portal?.applicationId ?? null,
      returnUrl: portal?.returnUrl ?? null,
      serviceKeyId: portal?.serviceKeyId ?? null,
      id: generateId(deps.random, "ses"),
      lastSeenAt: now,
      userAgent: ctx.userAgent
        ? withoutControlCharacters(ctx.userAgent.slice(0, USER_AGENT_MAX_LENGTH))
        : null,
      address: ctx.ip,
      reauthenticatedAt: now,
    },
    audit,
  );
  return { secret, expiresAt };
}

/** What a session keeps of the User-Agent header: enough to name a browser. */
const USER_AGENT_MAX_LENGTH = 512;

/**
 * How stale `lastSeenAt` may get: a session's use is written at most once a minute, so
 * browsing costs no write per request, and idle expiry is late by a minute at most.
 */
export const SESSION_TOUCH_INTERVAL_MS = 60_000;

/** The signed-in user for a session cookie, or null when it is unknown, expired or idle. */
export async function validateSession(
  deps: ServiceDeps,
  secret: string,
): Promise<{ user: User; sessionIdHash: string; session: SessionRecord } | null> {
  if (secret.length === 0 || secret.length > 128) return null;
  const idHash = hashToken(secret);
  const found = await deps.store.sessions.findSession(idHash);
  if (!found) return null;
  const now = deps.clock.now();
  if (
    found.session.expiresAt <= now ||
    found.session.lastSeenAt + deps.settings.sessionIdleMs <= now
  ) {
    // Tidying only: the session is refused either way, so a failed delete must not turn
    // the answer into a 503 (the next use, or the operator's cleanup, deletes it).
    await deps.store.sessions.deleteSession(idHash).catch(() => {});
    return null;
  }
  if (now - found.session.lastSeenAt >= SESSION_TOUCH_INTERVAL_MS) {
    // "Last seen" is bookkeeping: a read that cannot write it still answers (the next
    // request tries again); only the session lookup above decides.
    const touched = await deps.store.sessions.touchSession(idHash, now).then(
      () => true,
      () => false,
    );
    if (touched) found.session.lastSeenAt = now;
  }
  return { user: found.user, sessionIdHash: idHash, session: found.session };
}

export async function signOut(deps: ServiceDeps, sessionIdHash: string): Promise<void> {
  await deps.store.sessions.deleteSession(sessionIdHash);
}

/** The user's live sessions (expired and idle ones left out), most recently used first. */
export async function listSessions(deps: ServiceDeps, user: User): Promise<SessionRecord[]> {
  const now = deps.clock.now();
  const sessions = await deps.store.sessions.listSessions(user.id);
  return sessions.filter(
    (s) => s.expiresAt > now && s.lastSeenAt + deps.settings.sessionIdleMs > now,
  );
}

/** Ends one of the user's sessions (this one included); not_found for any other id. */
export async function endSession(
  deps: ServiceDeps,
  user: User,
  sessionId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  const ended = await deps.store.sessions.deleteSessionById(user.id, sessionId, [
    auditEvent(deps, ctx, {
      applicationId: null,
      userId: user.id,
      actorId: user.id,
      tokenId: null,
      action: "session.ended",
      detail: { sessionId },
    }),
  ]);
  if (!ended) throw new KeywardError("not_found", "No such session.");
}

/** Ends every session of the user but the current one; returns how many ended. */
export async function endOtherSessions(
  deps: ServiceDeps,
  user: User,
  currentIdHash: string | null,
  ctx: RequestContext = NO_CONTEXT,
): Promise<number> {
  return deps.store.sessions.deleteOtherSessions(user.id, currentIdHash, [
    auditEvent(deps, ctx, {
      applicationId: null,
      userId: user.id,
      actorId: user.id,
      tokenId: null,
      action: "session.ended_others",
    }),
  ]);
}

/** A sign-in from an address counts as the owner's for this long (see isKnownSigninAddress). */
export const KNOWN_ADDRESS_MS = 30 * 24 * 3_600_000;

/** The most IPv6 addresses of an account's recent sign-ins compared with a new one's network. */
export const KNOWN_IPV6_ADDRESSES_COMPARED = 100;

/**
 * Whether the account with this email signed in successfully from `ip` in the last 30 days
 * (an IPv6 address: from its network, as `networkOf` tells it, since a device's address
 * changes within its /64 every day or so): such an address keeps signing in while failures
 * spread over many others have locked the account. False for an email without an account
 * (the answer stays the same).
 */
export async function isKnownSigninAddress(
  deps: ServiceDeps,
  email: string,
  ip: string,
  networkOf: (ip: string) => string,
): Promise<boolean> {
  const normalized = email.trim().toLowerCase();
  if (hasUnstorableCharacter(normalized)) return false;
  const user = await deps.store.users.findUserByEmail(normalized);
  if (!user) return false;
  const since = deps.clock.now() - KNOWN_ADDRESS_MS;
  if (await deps.store.audit.hasSignedInFrom(user.id, ip, since)) return true;
  if (!ip.includes(":")) return false;
  const network = networkOf(ip);
  const addresses = await deps.store.audit.ipv6SigninAddresses(
    user.id,
    since,
    KNOWN_IPV6_ADDRESSES_COMPARED,
  );
  return addresses.some((address) => networkOf(address) === network);
}

/** How long a typed password lets the session do sensitive actions. */
export const REAUTHENTICATION_WINDOW_MS = 15 * 60_000;

/**
 * Sensitive actions (creating a service key, inviting an admin, changing an application's
 * return origins or branding) need the password typed in this session within the last 15
 * minutes, so a session stolen from an unattended browser cannot take over an application.
 * A portal session (a host user's) has no password and never reaches these actions.
 */
export function requireRecentSignIn(deps: ServiceDeps, session: SessionRecord | null): void {
  if (session === null) return;
  if (deps.clock.now() - session.reauthenticatedAt < REAUTHENTICATION_WINDOW_MS) return;
  throw new KeywardError(
    "reauthentication_required",
    "This needs your password again: it was last entered in this session more than 15 minutes ago.",
  );
}

/** Checks the password of the signed-in user; `invalid_credentials` when it is wrong. */
async function checkCurrentPassword(
  deps: ServiceDeps,
  user: User,
  password: string,
  ctx: RequestContext,
): Promise<void> {
  const hash = await deps.store.users.findPasswordHash(user.id);
  if (hash === undefined || !(await deps.passwordHasher.verify(hash, password))) {
    await deps.store.audit.record([
      auditEvent(deps, ctx, {
        applicationId: null,
        userId: user.id,
        actorId: user.id,
        tokenId: null,
        action: "signin.failed",
        reason: "wrong_password",
      }),
    ]);
    throw new KeywardError("invalid_credentials", "The password is incorrect.");
  }
}

/** Confirms the password: sensitive actions are allowed in this session for 15 minutes. */
export async function reauthenticate(
  deps: ServiceDeps,
  user: User,
  sessionIdHash: string,
  password: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  await checkCurrentPassword(deps, user, password, ctx);
  await deps.store.sessions.markReauthenticated(sessionIdHash, deps.clock.now());
}

/** Changes the password; every other session of the user ends, this one stays. */
export async function changePassword(
  deps: ServiceDeps,
  user: User,
  sessionIdHash: string | null,
  input: { currentPassword: string; newPassword: string },
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ endedSessions: number }> {
  await checkCurrentPassword(deps, user, input.currentPassword, ctx);
  checkNewPassword(deps, input.newPassword);
  const passwordHash = await deps.passwordHasher.hash(input.newPassword);
  const result = await deps.store.users.changePassword(
    { userId: user.id, passwordHash, keepIdHash: sessionIdHash },
    [
      auditEvent(deps, ctx, {
        applicationId: null,
        userId: user.id,
        actorId: user.id,
        tokenId: null,
        action: "password.changed",
      }),
    ],
  );
  if (sessionIdHash !== null) {
    await deps.store.sessions.markReauthenticated(sessionIdHash, deps.clock.now());
  }
  return result;
}
