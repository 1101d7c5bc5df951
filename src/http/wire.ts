// Domain values as the contract's JSON shapes (src/contract declares them). Mapping only:
// no shape is declared here.
import type {
  ApiToken,
  Session,
  AuditEvent as WireAuditEvent,
  HostUser as WireHostUser,
  Member as WireMember,
  ServiceKey as WireServiceKey,
  User as WireUser,
} from "../contract/index.js";
import { KeywardError } from "../core/errors.js";
import type { HostUser, Member, ServiceKeyRecord, TokenRecord, User } from "../core/model.js";
import { tokenStatus } from "../core/model.js";
import type { AuditEvent, SessionRecord } from "../services/ports.js";

export function toWireAuditEvent(event: AuditEvent): WireAuditEvent {
  return {
    id: event.id,
    action: event.action,
    createdAt: new Date(event.createdAt).toISOString(),
    actor:
      event.actorId === null
        ? null
        : { id: event.actorId, email: event.actorEmail, name: event.actorName },
    userId: event.userId,
    tokenId: event.tokenId,
    tokenName: event.tokenName,
    reason: event.reason,
    detail: event.detail,
    ip: event.ip,
  };
}

/**
 * A date-time from a request body, as epoch milliseconds. The schema has checked its
 * form; this refuses what the form allows and a clock cannot hold (a leap second,
 * `23:59:60`), with the same answer as any other invalid field.
 */
export function parseTimestamp(text: string, field: string): number {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) {
    throw new KeywardError("validation_failed", `${field} is not a date-time this server can use.`);
  }
  return ms;
}

export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function toWireSession(session: SessionRecord, current: boolean): Session {
  return {
    id: session.id,
    createdAt: new Date(session.createdAt).toISOString(),
    lastSeenAt: new Date(session.lastSeenAt).toISOString(),
    userAgent: session.userAgent,
    address: session.address,
    current,
  };
}

export function toWireUser(user: User): WireUser {
  return { id: user.id, email: user.email, name: user.name };
}

export function toApiToken(token: TokenRecord, now: number, withOwner = false): ApiToken {
  const view: ApiToken = {
    id: token.id,
    name: token.name,
    hint: token.hint,
    scopes: token.scopes,
    createdAt: new Date(token.createdAt).toISOString(),
    expiresAt: isoOrNull(token.expiresAt),
    lastUsedAt: isoOrNull(token.lastUsedAt),
    revokedAt: isoOrNull(token.revokedAt),
    status: tokenStatus(token, now),
    revokedReason: token.revokedReason,
    refusedCount: token.refusedCount,
    lastRefusedAt: isoOrNull(token.refusedLastAt),
    exposedAt: isoOrNull(token.exposedAt),
    allowedAddresses: token.allowedAddresses ?? [],
  };
  if (withOwner) view.owner = { id: token.userId, email: token.ownerEmail };
  return view;
}

export function toWireMember(member: Member): WireMember {
  return {
    userId: member.userId,
    email: member.email,
    name: member.name,
    role: member.role,
    joinedAt: new Date(member.joinedAt).toISOString(),
  };
}

export function toWireServiceKey(key: ServiceKeyRecord): WireServiceKey {
  return {
    id: key.id,
    name: key.name,
    hint: key.hint,
    createdAt: new Date(key.createdAt).toISOString(),
    lastUsedAt: isoOrNull(key.lastUsedAt),
    revokedAt: isoOrNull(key.revokedAt),
    status: key.revokedAt === null ? "active" : "revoked",
    createdBy: key.creator ?? null,
  };
}

export function toWireHostUser(user: HostUser): WireHostUser {
  return { id: user.id, externalId: user.externalId, email: user.email, name: user.name };
}
