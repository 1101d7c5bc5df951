import { KeywardError } from "../core/errors.js";
import { generateId, generateSessionSecret } from "../core/ids.js";
import type { User } from "../core/model.js";
import {
  checkPassword,
  hasUnstorableCharacter,
  normalizeDisplayName,
  normalizeEmail,
} from "../core/rules.js";
import { hashToken } from "../core/token.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import type { AuditEvents, SessionRecord } from "./ports.js";

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
  checkPassword(input.password);
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
  return { user, session: await startSession(deps, user.id) };
}

let dummyHash: Promise<string> | undefined;

export async function signIn(
  deps: ServiceDeps,
  input: { email: string; password: string },
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
  const { passwordHash: _omit, ...user } = found;
  const succeeded = auditEvent(deps, ctx, {
    applicationId: null,
    userId: user.id,
    actorId: user.id,
    tokenId: null,
    action: "signin.succeeded",
  });
  // A fresh session id at every sign-in defeats session fixation.
  return { user, session: await startSession(deps, user.id, [succeeded]) };
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
  portal?: { applicationId: string; returnUrl: string | null },
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
    },
    audit,
  );
  return { secret, expiresAt };
}

/** The signed-in user for a session cookie, or null when it is unknown or expired. */
export async function validateSession(
  deps: ServiceDeps,
  secret: string,
): Promise<{ user: User; sessionIdHash: string; session: SessionRecord } | null> {
  if (secret.length === 0 || secret.length > 128) return null;
  const idHash = hashToken(secret);
  const found = await deps.store.sessions.findSession(idHash);
  if (!found) return null;
  if (found.session.expiresAt <= deps.clock.now()) {
    await deps.store.sessions.deleteSession(idHash);
    return null;
  }
  return { user: found.user, sessionIdHash: idHash, session: found.session };
}

export async function signOut(deps: ServiceDeps, sessionIdHash: string): Promise<void> {
  await deps.store.sessions.deleteSession(sessionIdHash);
}
