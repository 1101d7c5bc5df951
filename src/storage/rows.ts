import type {
  Application,
  Branding,
  Creator,
  HostUser,
  Member,
  RevocationReason,
  Role,
  SecretRecord,
  ServiceKeyRecord,
  TokenRecord,
  User,
} from "../core/model.js";
import type { SessionRecord, UserWithPassword } from "../services/ports.js";

// Every conversion from a database row to a domain value happens here, once.
// PostgreSQL returns bigint columns as strings unless told otherwise; `num` accepts both.

export function num(value: number | string | bigint): number {
  return typeof value === "number" ? value : Number(value);
}

export function numOrNull(value: number | string | bigint | null): number | null {
  return value === null ? null : num(value);
}

export function parseScopes(text: string): string[] {
  const value: unknown = JSON.parse(text);
  return Array.isArray(value) ? value.filter((s): s is string => typeof s === "string") : [];
}

export function toUser(row: {
  id: string;
  email: string;
  name: string;
  created_at: number | string;
}): User {
  return { id: row.id, email: row.email, name: row.name, createdAt: num(row.created_at) };
}

export function toUserWithPassword(row: {
  id: string;
  email: string;
  name: string;
  created_at: number | string;
  password_hash: string;
  disabled_at?: number | string | null;
}): UserWithPassword {
  return {
    ...toUser(row),
    passwordHash: row.password_hash,
    disabledAt: numOrNull(row.disabled_at ?? null),
  };
}

export function toSession(row: {
  id_hash: string;
  user_id: string;
  created_at: number | string;
  expires_at: number | string;
  application_id: string | null;
  return_url: string | null;
  public_id: string;
  last_seen_at: number | string;
  user_agent: string | null;
  address: string | null;
  reauthenticated_at: number | string;
}): SessionRecord {
  return {
    idHash: row.id_hash,
    userId: row.user_id,
    createdAt: num(row.created_at),
    expiresAt: num(row.expires_at),
    applicationId: row.application_id,
    returnUrl: row.return_url,
    id: row.public_id,
    lastSeenAt: num(row.last_seen_at),
    userAgent: row.user_agent,
    address: row.address,
    reauthenticatedAt: num(row.reauthenticated_at),
  };
}

export function toApplication(row: {
  id: string;
  name: string;
  owner_id: string;
  scopes: string;
  created_at: number | string;
  return_origins: string;
  branding: string | null;
  policy_max_lifetime_days?: number | string | null;
  policy_revoke_unused_days?: number | string | null;
}): Application {
  return {
    id: row.id,
    name: row.name,
    ownerId: row.owner_id,
    scopes: parseScopes(row.scopes),
    createdAt: num(row.created_at),
    returnOrigins: parseScopes(row.return_origins),
    branding: row.branding === null ? null : (JSON.parse(row.branding) as Branding),
    policy: {
      maxLifetimeDays: numOrNull(row.policy_max_lifetime_days ?? null),
      revokeUnusedAfterDays: numOrNull(row.policy_revoke_unused_days ?? null),
    },
  };
}

export function toHostUser(row: {
  id: string;
  email: string;
  name: string;
  created_at: number | string;
  application_id: string | null;
  external_id: string | null;
  disabled_at: number | string | null;
}): HostUser {
  return {
    id: row.id,
    applicationId: row.application_id ?? "",
    externalId: row.external_id ?? "",
    // Stored as empty text: the column predates host users and is required.
    email: row.email === "" ? null : row.email,
    name: row.name === "" ? null : row.name,
    createdAt: num(row.created_at),
    disabledAt: numOrNull(row.disabled_at),
  };
}

export function toServiceKey(row: {
  id: string;
  application_id: string;
  name: string;
  hint: string;
  created_at: number | string;
  last_used_at: number | string | null;
  revoked_at: number | string | null;
}): ServiceKeyRecord {
  return {
    id: row.id,
    applicationId: row.application_id,
    name: row.name,
    hint: row.hint,
    createdAt: num(row.created_at),
    lastUsedAt: numOrNull(row.last_used_at),
    revokedAt: numOrNull(row.revoked_at),
  };
}

/** What a listing selects of its creator, joined as `users u` and `memberships m`. */
export const CREATOR_COLUMNS = [
  "u.id as creator_id",
  "u.email as creator_email",
  "m.role as creator_role",
] as const;

/** The creator columns of a listing joined with `users` and `memberships` (see `Creator`). */
export function creatorOf(row: {
  creator_id: string | null;
  creator_email: string | null;
  creator_role: string | null;
}): Creator | null {
  if (row.creator_id === null || row.creator_email === null) return null;
  const role = row.creator_role === null ? null : (row.creator_role as Role);
  return { id: row.creator_id, email: row.creator_email, member: role !== null, role };
}

export interface TokenRow {
  id: string;
  application_id: string;
  user_id: string;
  owner_email: string;
  name: string;
  hint: string;
  scopes: string;
  created_at: number | string;
  expires_at: number | string | null;
  last_used_at: number | string | null;
  revoked_at: number | string | null;
  revoked_reason: string | null;
  refused_count: number | string;
  refused_last_at: number | string | null;
  exposed_at: number | string | null;
  allowed_addresses: string | null;
}

function parseAllowedAddresses(text: string | null): string[] | null {
  return text === null ? null : parseScopes(text);
}

export function toTokenRecord(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    applicationId: row.application_id,
    userId: row.user_id,
    ownerEmail: row.owner_email,
    name: row.name,
    hint: row.hint,
    scopes: parseScopes(row.scopes),
    createdAt: num(row.created_at),
    expiresAt: numOrNull(row.expires_at),
    lastUsedAt: numOrNull(row.last_used_at),
    revokedAt: numOrNull(row.revoked_at),
    revokedReason: row.revoked_reason as RevocationReason | null,
    refusedCount: num(row.refused_count),
    refusedLastAt: numOrNull(row.refused_last_at),
    exposedAt: numOrNull(row.exposed_at),
    allowedAddresses: parseAllowedAddresses(row.allowed_addresses),
  };
}

export interface SecretRow {
  token_id: string;
  token_name: string;
  scopes: string;
  application_id: string;
  application_name: string;
  user_id: string;
  user_email: string;
  external_id: string | null;
  expires_at: number | string | null;
  revoked_at: number | string | null;
  secret_expires_at: number | string | null;
  allowed_addresses: string | null;
  imported_at: number | string | null;
}

export function toSecretRecord(row: SecretRow): SecretRecord {
  return {
    tokenId: row.token_id,
    tokenName: row.token_name,
    scopes: parseScopes(row.scopes),
    applicationId: row.application_id,
    applicationName: row.application_name,
    userId: row.user_id,
    userEmail: row.user_email,
    externalId: row.external_id,
    expiresAt: numOrNull(row.expires_at),
    revokedAt: numOrNull(row.revoked_at),
    secretExpiresAt: numOrNull(row.secret_expires_at),
    allowedAddresses: parseAllowedAddresses(row.allowed_addresses),
    imported: row.imported_at !== null,
  };
}

export function toMember(row: {
  user_id: string;
  email: string;
  name: string;
  role: string;
  created_at: number | string;
}): Member {
  return {
    userId: row.user_id,
    email: row.email,
    name: row.name,
    role: row.role as Role,
    joinedAt: num(row.created_at),
  };
}
