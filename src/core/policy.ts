import { KeywardError } from "./errors.js";
import type { TokenPolicy } from "./model.js";

export const MAX_POLICY_DAYS = 3650;
export const DAY_MS = 86_400_000;

/**
 * How far past `now + maxLifetimeDays` an expiry may fall: the page computes its choices
 * on the browser's clock, which may run a little ahead of the server's.
 */
export const MAX_LIFETIME_SLACK_MS = 5 * 60_000;

/** Refuses an expiry the policy does not allow: none at all, or beyond its maximum lifetime. */
export function checkMaxLifetime(
  policy: TokenPolicy,
  expiresAt: number | null,
  now: number,
  what: "new" | "regenerated",
): void {
  const days = policy.maxLifetimeDays;
  if (days === null) return;
  if (expiresAt === null || expiresAt > now + days * DAY_MS + MAX_LIFETIME_SLACK_MS) {
    throw new KeywardError(
      "policy_violation",
      what === "new"
        ? `This application's tokens must expire within ${days} days; choose an expiry no later than that.`
        : `This application's tokens must expire within ${days} days, and this one expires later (or never); create a new token instead.`,
    );
  }
}

/**
 * When the unused-token policy revokes a token last used at `lastUsedAt` (or, never used,
 * created at `createdAt`); null without that policy.
 */
export function unusedRevocationAt(
  policy: TokenPolicy,
  token: { createdAt: number; lastUsedAt: number | null },
): number | null {
  const days = policy.revokeUnusedAfterDays;
  if (days === null) return null;
  return (token.lastUsedAt ?? token.createdAt) + days * DAY_MS;
}
