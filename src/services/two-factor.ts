import { KeywardError } from "../core/errors.js";
import type { User } from "../core/model.js";
import {
  generateRecoveryCode,
  hashRecoveryCode,
  matchRecoveryCode,
  parseSecondFactorCode,
  RECOVERY_CODE_COUNT,
} from "../core/two-factor.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";

/** The name authenticator apps show above the code. */
export const TOTP_ISSUER = "Keyward";

/** 160 bits, the size RFC 4226 recommends for the shared secret. */
const SECRET_BYTES = 20;

/**
 * Two-factor authentication guards a password sign-in. A host user has no password (they
 * arrive through their host's portal link), so there is nothing for it to guard.
 */
function requirePasswordAccount(user: User): void {
  if (user.hostApplicationId !== undefined) {
    throw new KeywardError(
      "forbidden",
      "Two-factor authentication is for accounts that sign in with a password.",
    );
  }
}

/**
 * Starts an enrollment: a new secret, not in force until a code from it is confirmed. A
 * pending enrollment is replaced (the first QR code may never have been scanned).
 */
export async function startTwoFactorEnrollment(
  deps: ServiceDeps,
  user: User,
): Promise<{ secret: string; otpauthUrl: string }> {
  requirePasswordAccount(user);
  const secret = deps.totp.encodeSecret(deps.random.bytes(SECRET_BYTES));
  const started = await deps.store.twoFactor.startEnrollment({
    userId: user.id,
    secret,
    createdAt: deps.clock.now(),
  });
  if (!started) {
    throw new KeywardError(
      "two_factor_already_enabled",
      "Two-factor authentication is already on. Turn it off first to set up another app.",
    );
  }
  return {
    secret,
    otpauthUrl: deps.totp.otpauthUrl({ secret, issuer: TOTP_ISSUER, label: user.email }),
  };
}

/**
 * Confirms an enrollment with a current code from the app: two-factor is on from now, and
 * the recovery codes are returned, the only time they exist in the clear (only their
 * SHA-256 is kept).
 */
export async function confirmTwoFactor(
  deps: ServiceDeps,
  user: User,
  code: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<string[]> {
  requirePasswordAccount(user);
  const record = await deps.store.twoFactor.find(user.id);
  if (record?.confirmedAt != null) {
    throw new KeywardError(
      "two_factor_already_enabled",
      "Two-factor authentication is already on.",
    );
  }
  if (record === undefined) {
    throw new KeywardError("not_found", "No two-factor setup to confirm: start one first.");
  }
  const parsed = parseSecondFactorCode(code);
  const now = deps.clock.now();
  const step =
    parsed.kind === "totp"
      ? deps.totp.matchStep({ secret: record.secret, code: parsed.code, now })
      : null;
  if (step === null) throw wrongCode("That code is not right. Enter the code your app shows now.");
  const recoveryCodes = Array.from({ length: RECOVERY_CODE_COUNT }, () =>
    generateRecoveryCode(deps.random),
  );
  const confirmed = await deps.store.twoFactor.confirm(
    {
      userId: user.id,
      secret: record.secret,
      step,
      confirmedAt: now,
      recoveryCodeHashes: recoveryCodes.map(hashRecoveryCode),
    },
    [
      auditEvent(deps, ctx, {
        applicationId: null,
        userId: user.id,
        actorId: user.id,
        tokenId: null,
        action: "two_factor.enabled",
      }),
    ],
  );
  // Another request replaced or confirmed the enrollment in between.
  if (!confirmed) {
    throw new KeywardError("not_found", "That setup was replaced by a newer one: start again.");
  }
  return recoveryCodes;
}

/**
 * Turns two-factor off with a current code or an unused recovery code. The caller checks
 * the recent sign-in first (requireRecentSignIn): a stolen session alone cannot do this.
 */
export async function disableTwoFactor(
  deps: ServiceDeps,
  user: User,
  code: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  requirePasswordAccount(user);
  const record = await deps.store.twoFactor.find(user.id);
  if (record?.confirmedAt == null) {
    throw new KeywardError("not_found", "Two-factor authentication is not on.");
  }
  if (!(await spendSecondFactor(deps, user.id, record.secret, code, ctx))) {
    throw wrongCode("That code is not right, or was already used.");
  }
  const disabled = await deps.store.twoFactor.disable(user.id, [
    auditEvent(deps, ctx, {
      applicationId: null,
      userId: user.id,
      actorId: user.id,
      tokenId: null,
      action: "two_factor.disabled",
    }),
  ]);
  if (!disabled) throw new KeywardError("not_found", "Two-factor authentication is not on.");
}

/** Whether two-factor authentication is on, and how many recovery codes are left. */
export async function getTwoFactorStatus(
  deps: ServiceDeps,
  user: User,
): Promise<{ enabled: boolean; recoveryCodesLeft: number }> {
  requirePasswordAccount(user);
  const record = await deps.store.twoFactor.find(user.id);
  if (record?.confirmedAt == null) return { enabled: false, recoveryCodesLeft: 0 };
  const left = await deps.store.twoFactor.unusedRecoveryCodes(user.id);
  return { enabled: true, recoveryCodesLeft: left.length };
}

/**
 * The second step of a sign-in whose password was right: nothing to do when two-factor is
 * off; else `code` must be a current TOTP code not used before, or an unused recovery code.
 * Throws `two_factor_required` without a code and `invalid_two_factor_code` for a wrong one.
 */
export async function checkSignInSecondFactor(
  deps: ServiceDeps,
  userId: string,
  code: string | undefined,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  const record = await deps.store.twoFactor.find(userId);
  if (record?.confirmedAt == null) return;
  if (code === undefined || code.trim() === "") {
    throw new KeywardError(
      "two_factor_required",
      "Enter the 6-digit code from your authenticator app, or one of your recovery codes.",
    );
  }
  if (await spendSecondFactor(deps, userId, record.secret, code, ctx)) return;
  await deps.store.audit.record([
    auditEvent(deps, ctx, {
      applicationId: null,
      userId,
      actorId: null,
      tokenId: null,
      action: "signin.failed",
      reason: "wrong_two_factor_code",
    }),
  ]);
  throw wrongCode(
    "That code is not right, or was already used. Enter the code your app shows now.",
  );
}

function wrongCode(detail: string): KeywardError {
  return new KeywardError("invalid_two_factor_code", detail);
}

/**
 * Spends a second factor: a TOTP code of a time step later than the last one used (so a
 * code seen over a shoulder or in a log cannot be replayed, RFC 6238 section 5.2), or an
 * unused recovery code, which is then used up. False when it is neither.
 */
async function spendSecondFactor(
  deps: ServiceDeps,
  userId: string,
  secret: string,
  code: string,
  ctx: RequestContext,
): Promise<boolean> {
  const parsed = parseSecondFactorCode(code);
  if (parsed.kind === "totp") {
    const step = deps.totp.matchStep({ secret, code: parsed.code, now: deps.clock.now() });
    // The store compares with the last used step in one conditional update, so two
    // requests racing with the same code cannot both pass.
    return step !== null && (await deps.store.twoFactor.spendStep(userId, step));
  }
  if (parsed.kind === "recovery") {
    const matched = matchRecoveryCode(await deps.store.twoFactor.unusedRecoveryCodes(userId), code);
    if (matched === undefined) return false;
    return deps.store.twoFactor.spendRecoveryCode(
      { userId, codeHash: matched, usedAt: deps.clock.now() },
      [
        auditEvent(deps, ctx, {
          applicationId: null,
          userId,
          actorId: userId,
          tokenId: null,
          action: "two_factor.recovery_code_used",
        }),
      ],
    );
  }
  return false;
}
