/** Domain types shared by every layer. Times are epoch milliseconds (UTC). */

export const ROLES = ["owner", "admin", "member"] as const;
export type Role = (typeof ROLES)[number];

export const TOKEN_STATUSES = ["active", "expired", "revoked"] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

/** Why a token was revoked; kept for the owner and the audit trail, never for the caller. */
export const REVOCATION_REASONS = ["user", "admin", "member_removed", "leaked", "policy"] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** What the audit trail records. */
export const AUDIT_ACTIONS = [
  "signup",
  "signin.succeeded",
  "signin.failed",
  "token.created",
  "token.regenerated",
  "token.revoked",
  "token.updated",
  "token.refused",
  "token.secret_ended",
  "token.exposed",
  "member.added",
  "member.removed",
  "service_key.created",
  "service_key.revoked",
  "host_user.created",
  "host_user.updated",
  "host_user.removed",
  "portal.opened",
  "application.updated",
  "webhook.created",
  "webhook.deleted",
  "user.disabled",
  "user.enabled",
  "user.password_reset",
  "token.imported",
  "session.ended",
  "session.ended_others",
  "password.changed",
  "member.invited",
  "invitation.declined",
  "invitation.withdrawn",
  "two_factor.enabled",
  "two_factor.disabled",
  "two_factor.recovery_code_used",
  "email.confirmed",
  "password.reset",
  "password.reset_link_issued",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface User {
  id: string;
  email: string;
  name: string;
  createdAt: number;
  /**
   * Set for a host user (created by a host through its service key): the one application
   * they belong to. Such a user reaches nothing outside it.
   */
  hostApplicationId?: string;
}

export interface Branding {
  displayName: string;
  /** `#rrggbb`, lowercase. */
  accentColor: string;
}

export interface Application {
  id: string;
  name: string;
  ownerId: string;
  scopes: string[];
  createdAt: number;
  /** Origins (`https://app.example.com`) a portal session may send its user back to. */
  returnOrigins: string[];
  branding: Branding | null;
  policy: TokenPolicy;
}

/** What an application's owner or admin imposes on its tokens; null: no limit. */
export interface TokenPolicy {
  /** Every new or regenerated token must expire within this many days of its creation. */
  maxLifetimeDays: number | null;
  /** An active token unused for this many days is revoked with reason `policy`. */
  revokeUnusedAfterDays: number | null;
}

export const NO_POLICY: TokenPolicy = { maxLifetimeDays: null, revokeUnusedAfterDays: null };

/** What a webhook can subscribe to. */
export const WEBHOOK_EVENTS = [
  "token.created",
  "token.revoked",
  "token.regenerated",
  "token.expiring",
  "token.leaked",
  "token.refused",
  "member.added",
  "member.removed",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export interface Webhook {
  id: string;
  applicationId: string;
  url: string;
  events: WebhookEventType[];
  createdAt: number;
  /** Set by the application's listing and at creation. */
  creator?: Creator | null;
}

export const DELIVERY_STATUSES = ["pending", "succeeded", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One event for one webhook; `id` is its `webhook-id`, the same on every attempt. */
export interface WebhookDelivery {
  id: string;
  webhookId: string;
  eventType: WebhookEventType;
  createdAt: number;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

/** A user the host created through the service API, known by the host's own id. */
export interface HostUser {
  id: string;
  applicationId: string;
  externalId: string;
  email: string | null;
  name: string | null;
  createdAt: number;
  /** When an operator disabled the user (`keyward users disable`); null: enabled. */
  disabledAt: number | null;
}

/**
 * Who made a service key or a webhook, and whether they are still a member of its
 * application: one who is not may still hold a key they saw, or receive a webhook's events.
 */
export interface Creator {
  id: string;
  email: string;
  member: boolean;
  /** Their role in the application now; null once they are no longer a member. */
  role: Role | null;
}

/** A service key as its application's owners see it. Never holds the plaintext or hash. */
export interface ServiceKeyRecord {
  id: string;
  applicationId: string;
  name: string;
  hint: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** Set by the application's listing and at creation; null when not recorded. */
  creator?: Creator | null;
}

export interface ApplicationMembership {
  id: string;
  name: string;
  role: Role;
}

export interface Member {
  userId: string;
  email: string;
  name: string;
  role: Role;
  joinedAt: number;
}

/** A token as the owner sees it. Never holds the plaintext or the hash. */
export interface TokenRecord {
  id: string;
  applicationId: string;
  userId: string;
  ownerEmail: string;
  name: string;
  hint: string;
  scopes: string[];
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  revokedReason: RevocationReason | null;
  /** Times the token was presented after it was revoked or expired, and the last time. */
  refusedCount: number;
  refusedLastAt: number | null;
  /** When the token was first sent over plain HTTP from a remote client. */
  exposedAt: number | null;
  /** Addresses and CIDRs the token is accepted from; null: any address. */
  allowedAddresses: string[] | null;
  /**
   * Imported from another system by its hash (`keyward import-tokens`): the one kind of
   * token whose secret may be outside Keyward's format. Absent means false.
   */
  imported?: boolean;
}

/** What the hot path needs to decide on a presented secret, read in one lookup. */
export interface SecretRecord {
  tokenId: string;
  tokenName: string;
  scopes: string[];
  applicationId: string;
  applicationName: string;
  userId: string;
  userEmail: string;
  /** The host's id for the token's user, when it is a host user (null for accounts). */
  externalId: string | null;
  expiresAt: number | null;
  revokedAt: number | null;
  /** When this particular secret stops working: set for the old secret of a regenerated token. */
  secretExpiresAt: number | null;
  /** Addresses and CIDRs the token is accepted from; null: any address. */
  allowedAddresses: string[] | null;
  /**
   * Imported from another system by its hash (`keyward import-tokens`): the one kind of
   * token whose secret may be outside Keyward's format. Absent means false.
   */
  imported?: boolean;
}

export function tokenStatus(
  token: { expiresAt: number | null; revokedAt: number | null },
  now: number,
): TokenStatus {
  if (token.revokedAt !== null) return "revoked";
  if (token.expiresAt !== null && token.expiresAt <= now) return "expired";
  return "active";
}

/** Day bucket for usage counts: the UTC date `YYYY-MM-DD`. */
export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}
