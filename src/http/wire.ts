// The JSON shapes of the HTTP contract (docs/api.md). The web UI imports these
// types, so a change here breaks the UI's build rather than its users.
import type { Member, Role, TokenRecord, TokenStatus, User } from "../core/model.js";
import { tokenStatus } from "../core/model.js";
import type { AuditEvent } from "../services/ports.js";

export type { Role, TokenStatus };

export interface WireUser {
  id: string;
  email: string;
  name: string;
}

export interface WireApplication {
  id: string;
  name: string;
  role: Role;
  scopes: string[];
}

export interface ApiToken {
  id: string;
  name: string;
  hint: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: TokenStatus;
  /** Why it was revoked: `user`, `admin`, `member_removed`, `leaked` or `policy`. */
  revokedReason: string | null;
  /** Times it was presented after it was revoked or expired, and the last time. */
  refusedCount: number;
  lastRefusedAt: string | null;
  /** When it was first sent over plain HTTP from a remote client; regenerate it. */
  exposedAt: string | null;
  /** Present in `?all=1` listings only. */
  owner?: { id: string; email: string };
}

export interface IssuedTokenResponse {
  token: string;
  apiToken: ApiToken;
}

export interface TokenListResponse {
  tokens: ApiToken[];
}

export interface TokenUsageResponse {
  total: number;
  lastUsedAt: string | null;
  daily: Array<{ date: string; requests: number }>;
}

export interface MeResponse {
  user: WireUser;
  applications: Array<{ id: string; name: string; role: Role }>;
}

export interface WireMember {
  userId: string;
  email: string;
  name: string;
  role: Role;
  joinedAt: string;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

export interface WireAuditEvent {
  id: string;
  action: string;
  createdAt: string;
  actor: { id: string; email: string | null } | null;
  userId: string | null;
  tokenId: string | null;
  tokenName: string | null;
  reason: string | null;
  detail: Record<string, string | number | boolean | null>;
  ip: string | null;
}

export interface AuditPageResponse {
  events: WireAuditEvent[];
  nextBefore: string | null;
}

export function toWireAuditEvent(event: AuditEvent): WireAuditEvent {
  return {
    id: event.id,
    action: event.action,
    createdAt: new Date(event.createdAt).toISOString(),
    actor: event.actorId === null ? null : { id: event.actorId, email: event.actorEmail },
    userId: event.userId,
    tokenId: event.tokenId,
    tokenName: event.tokenName,
    reason: event.reason,
    detail: event.detail,
    ip: event.ip,
  };
}

export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
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
