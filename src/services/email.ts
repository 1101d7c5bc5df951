import { KeywardError } from "../core/errors.js";
import { generateSessionSecret } from "../core/ids.js";
import { EMAIL_CONFIRMATION_TTL_MS, PASSWORD_RESET_TTL_MS } from "../core/mail.js";
import type { User } from "../core/model.js";
import { hasUnstorableCharacter } from "../core/rules.js";
import { hashToken } from "../core/token.js";
import { checkNewPassword } from "./accounts.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import type { AccountCodePurpose, AuditEvents, OutgoingMail } from "./ports.js";

// Address confirmation and password reset by emailed one-time links. A link carries a
// random code (about 256 bits); only its SHA-256 is stored, it works once, and not after
// its expiry. Sending is the mail worker's: these only queue, in the code's transaction.

/** A new one-time code for `user`; its email (when given) queued with it. */
async function issueCode(
  deps: ServiceDeps,
  userId: string,
  purpose: AccountCodePurpose,
  ttlMs: number,
  mail: (code: string) => OutgoingMail | null,
  audit?: AuditEvents,
): Promise<{ code: string; expiresAt: number }> {
  const code = generateSessionSecret(deps.random);
  const now = deps.clock.now();
  const expiresAt = now + ttlMs;
  await deps.store.mail.insertAccountCode(
    { hash: hashToken(code), userId, purpose, createdAt: now, expiresAt },
    mail(code),
    now,
    audit,
  );
  return { code, expiresAt };
}

/** Whether the user must still confirm their email (email is on, and they have not). */
export async function emailConfirmationPending(deps: ServiceDeps, user: User): Promise<boolean> {
  if (!deps.settings.mailEnabled || user.hostApplicationId !== undefined) return false;
  return (await deps.store.mail.emailConfirmedAt(user.id)) === null;
}

/**
 * Queues a confirmation link to the user's email, when email is on and the address is not
 * confirmed yet; otherwise does nothing (without SMTP, nothing waits for a confirmation).
 */
export async function requestEmailConfirmation(deps: ServiceDeps, user: User): Promise<void> {
  if (!(await emailConfirmationPending(deps, user))) return;
  await issueCode(deps, user.id, "email_confirmation", EMAIL_CONFIRMATION_TTL_MS, (code) => ({
    kind: "email_confirmation",
    recipient: user.email,
    data: { email: user.email, code },
  }));
}

/** Refuses (403 `email_not_confirmed`) while email is on and the address is unconfirmed. */
export async function requireConfirmedEmail(deps: ServiceDeps, user: User): Promise<void> {
  if (await emailConfirmationPending(deps, user)) {
    throw new KeywardError(
      "email_not_confirmed",
      `Confirm ${user.email} first: open the link we emailed you (or ask for a new one).`,
    );
  }
}

/** A code from a link: bounded, printable; anything else cannot be one of ours. */
function plausibleCode(code: string): boolean {
  return code.length > 0 && code.length <= 128 && !hasUnstorableCharacter(code);
}

function linkExpired(): KeywardError {
  return new KeywardError(
    "link_expired",
    "This link has expired or was already used. Ask for a new one.",
  );
}

/** Confirms the address behind a confirmation link; `link_expired` when it does not work. */
export async function confirmEmail(
  deps: ServiceDeps,
  code: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  if (!plausibleCode(code)) throw linkExpired();
  const confirmed = await deps.store.mail.confirmEmail(
    hashToken(code),
    deps.clock.now(),
    (userId) => [
      auditEvent(deps, ctx, {
        applicationId: null,
        userId,
        actorId: userId,
        tokenId: null,
        action: "email.confirmed",
      }),
    ],
  );
  if (!confirmed) throw linkExpired();
}

/**
 * Queues a reset link to the account with this email, when there is one (enabled, not a
 * host user) and email is on. The caller answers the same whatever happened: whether an
 * account has this email is nobody's business. Both paths look the email up once; only
 * an existing account's adds one small insert, and the sending is off the request path.
 */
export async function requestPasswordReset(deps: ServiceDeps, email: string): Promise<void> {
  if (!deps.settings.mailEnabled) return;
  const normalized = email.trim().toLowerCase();
  if (normalized.length === 0 || hasUnstorableCharacter(normalized)) return;
  const user = await deps.store.users.findUserByEmail(normalized);
  if (!user || user.disabledAt != null) return;
  await issueCode(deps, user.id, "password_reset", PASSWORD_RESET_TTL_MS, (code) => ({
    kind: "password_reset",
    recipient: user.email,
    data: { code },
  }));
}

/**
 * A reset link for the operator to hand over (`keyward users reset-password`): nothing is
 * emailed, and the password stays until the link is used.
 */
export async function issuePasswordResetLink(
  deps: ServiceDeps,
  userId: string,
  audit: AuditEvents,
): Promise<{ code: string; expiresAt: number }> {
  return issueCode(deps, userId, "password_reset", PASSWORD_RESET_TTL_MS, () => null, audit);
}

/**
 * Sets a new password with a reset link's code: the code is used up (with every other
 * reset link of the account) and every session of the account ends, in one transaction.
 */
export async function resetPasswordWithCode(
  deps: ServiceDeps,
  input: { code: string; newPassword: string },
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ userId: string; endedSessions: number }> {
  if (!plausibleCode(input.code)) throw linkExpired();
  const hash = hashToken(input.code);
  // Said before the password's rules, so nobody chooses a password for a dead link.
  if (!(await deps.store.mail.findAccountCode(hash, "password_reset", deps.clock.now())))
    throw linkExpired();
  checkNewPassword(deps, input.newPassword);
  const passwordHash = await deps.passwordHasher.hash(input.newPassword);
  // Checked again, atomically, at the change: of two racing uses exactly one sets it.
  const reset = await deps.store.mail.resetPassword(
    { hash, now: deps.clock.now(), passwordHash },
    (userId) => [
      auditEvent(deps, ctx, {
        applicationId: null,
        userId,
        actorId: userId,
        tokenId: null,
        action: "password.reset",
      }),
    ],
  );
  if (!reset) throw linkExpired();
  return reset;
}
