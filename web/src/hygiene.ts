import type { ApiToken } from "./api";
import { DAY_MS } from "./format";

// Token hygiene at a glance, from the usual advice: rotate regularly, revoke what nobody uses,
// and don't be surprised by an expiry.

export type HygieneFlag =
  | "exposed"
  | "never-used"
  | "unused-90-days"
  | "older-than-90-days"
  | "expires-soon";

/** A brand-new token is not "never used" yet; after this long it is worth a look. */
export const NEVER_USED_AFTER_DAYS = 7;
export const UNUSED_DAYS = 90;
export const ROTATE_AFTER_DAYS = 90;
export const EXPIRES_SOON_DAYS = 7;
/** Revoking a token used this recently gets an extra warning. */
export const RECENT_USE_DAYS = 7;

export function hygieneFlags(token: ApiToken, now: number): HygieneFlag[] {
  if (token.status !== "active") return [];
  const flags: HygieneFlag[] = [];
  // Sent over plain HTTP from another machine: anyone on the path may have read it.
  if (token.exposedAt !== null) flags.push("exposed");
  const created = Date.parse(token.createdAt);
  if (token.lastUsedAt === null) {
    if (now - created >= NEVER_USED_AFTER_DAYS * DAY_MS) flags.push("never-used");
  } else if (now - Date.parse(token.lastUsedAt) >= UNUSED_DAYS * DAY_MS) {
    flags.push("unused-90-days");
  }
  if (now - created >= ROTATE_AFTER_DAYS * DAY_MS) flags.push("older-than-90-days");
  if (token.expiresAt !== null && Date.parse(token.expiresAt) - now <= EXPIRES_SOON_DAYS * DAY_MS) {
    flags.push("expires-soon");
  }
  return flags;
}

export const flagLabels: Record<HygieneFlag, string> = {
  exposed: "Sent over plain HTTP",
  "never-used": "Never used",
  "unused-90-days": `Unused for ${UNUSED_DAYS}+ days`,
  "older-than-90-days": `Older than ${ROTATE_AFTER_DAYS} days`,
  "expires-soon": "Expires soon",
};

/**
 * The one action that fixes a token's flags: regenerate what may have been read in transit;
 * revoke what nobody uses; replace what is about to expire (a regenerated token keeps its
 * expiry); regenerate (rotate) what is old.
 */
export function suggestedAction(flags: HygieneFlag[]): "revoke" | "replace" | "regenerate" {
  if (flags.includes("exposed")) return "regenerate";
  if (flags.includes("never-used") || flags.includes("unused-90-days")) return "revoke";
  if (flags.includes("expires-soon")) return "replace";
  return "regenerate";
}

export function usedRecently(token: ApiToken, now: number): boolean {
  return token.lastUsedAt !== null && now - Date.parse(token.lastUsedAt) < RECENT_USE_DAYS * DAY_MS;
}

export const revokedReasonLabels: Record<string, string> = {
  user: "by its owner",
  admin: "by an admin",
  member_removed: "owner removed from the application",
  leaked: "reported leaked",
  policy: "by policy",
};

/** "Refused 3× since revoked": something still presents a secret that no longer works. */
export function refusalSummary(token: ApiToken): string | undefined {
  if (token.refusedCount <= 0) return undefined;
  const times = `${token.refusedCount}×`;
  if (token.status === "revoked") return `Refused ${times} since revoked`;
  if (token.status === "expired") return `Refused ${times} since expired`;
  return `Old secret refused ${times}`;
}
