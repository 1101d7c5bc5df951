import type { Generated } from "kysely";

/** Table shapes as Kysely sees them. Times are epoch milliseconds; scopes are JSON text. */
export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  applications: ApplicationsTable;
  memberships: MembershipsTable;
  tokens: TokensTable;
  token_secrets: TokenSecretsTable;
  token_usage_daily: TokenUsageDailyTable;
  audit_events: AuditEventsTable;
  rate_counters: RateCountersTable;
  service_keys: ServiceKeysTable;
  portal_codes: PortalCodesTable;
  store_changes: StoreChangesTable;
  revocation_events: RevocationEventsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  job_leases: JobLeasesTable;
  invitations: InvitationsTable;
  two_factor: TwoFactorTable;
  recovery_codes: RecoveryCodesTable;
  account_codes: AccountCodesTable;
  mail_outbox: MailOutboxTable;
}

/** Migration 0014: a user's TOTP secret; `confirmed_at` null while enrolling. */
export interface TwoFactorTable {
  user_id: string;
  secret: string;
  created_at: number;
  confirmed_at: number | null;
  last_used_step: number | null;
}

/** Migration 0014: SHA-256 (hex) of each recovery code; `used_at` once used. */
export interface RecoveryCodesTable {
  user_id: string;
  code_hash: string;
  used_at: number | null;
}

/** Migration 0015. */
export interface AccountCodesTable {
  hash: string;
  user_id: string;
  purpose: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface MailOutboxTable {
  id: string;
  kind: string;
  recipient: string;
  data: string;
  created_at: number;
  status: string;
  attempts: Generated<number>;
  next_attempt_at: number;
  locked_until: number | null;
  sent_at: number | null;
  last_error: string | null;
}

/** Migration 0011. */
export interface WebhooksTable {
  id: string;
  application_id: string;
  url: string;
  events: string;
  secret: string;
  created_at: number;
  created_by: string | null;
  deleted_at: number | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  application_id: string;
  event_type: string;
  payload: string;
  created_at: number;
  status: string;
  attempts: Generated<number>;
  next_attempt_at: number;
  locked_until: number | null;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
}

export interface JobLeasesTable {
  name: string;
  holder: string;
  until: number;
}

export interface InvitationsTable {
  id: string;
  application_id: string;
  email: string;
  role: "admin" | "member";
  inviter_id: string;
  created_at: number;
  expires_at: number;
}

/** Token changes made outside the server, for it to hear (migration 0009). */
export interface StoreChangesTable {
  seq: Generated<number>;
  token_ids: string;
  created_at: number;
}

export interface ServiceKeysTable {
  id: string;
  application_id: string;
  name: string;
  hint: string;
  secret_hash: string;
  created_at: number;
  created_by: string | null;
  last_used_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

export interface PortalCodesTable {
  code_hash: string;
  application_id: string;
  user_id: string;
  return_url: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  service_key_id: string | null;
}

/** The revocation stream (migration 0007); `seq` is generated. */
export interface RevocationEventsTable {
  seq: Generated<number>;
  application_id: string;
  token_id: string;
  type: string;
  at: number;
}

export interface RateCountersTable {
  key: string;
  window_start: number;
  count: number;
}

export interface AuditEventsTable {
  id: string;
  application_id: string | null;
  user_id: string | null;
  actor_id: string | null;
  token_id: string | null;
  action: string;
  reason: string | null;
  detail: string;
  ip: string | null;
  created_at: number;
}

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  /** Empty for host users, who have no password. */
  password_hash: string;
  created_at: number;
  /** Set for a host user: the application that created them (migration 0006). */
  application_id: string | null;
  /** The host's own id for a host user; null for accounts and removed host users. */
  external_id: string | null;
  /** Set while an operator has the user disabled (migration 0008). */
  disabled_at: number | null;
  /** When the account's email was confirmed by its link (0015). */
  email_confirmed_at: number | null;
}

export interface SessionsTable {
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  application_id: string | null;
  return_url: string | null;
  /** The id the session list shows (0012). */
  public_id: string;
  last_seen_at: number;
  user_agent: string | null;
  address: string | null;
  /** When the user last typed their password in this session (0012). */
  reauthenticated_at: number;
  /** The service key whose portal link opened it; its revocation ends the session (0017). */
  service_key_id: string | null;
}

export interface ApplicationsTable {
  id: string;
  name: string;
  owner_id: string;
  scopes: string;
  created_at: number;
  /** JSON array of origins. */
  return_origins: string;
  /** JSON `{displayName, accentColor}` or null. */
  branding: string | null;
  /** Token policy (migration 0011); null: no limit. */
  policy_max_lifetime_days: number | null;
  policy_revoke_unused_days: number | null;
}

export interface MembershipsTable {
  application_id: string;
  user_id: string;
  role: string;
  created_at: number;
}

export interface TokensTable {
  id: string;
  application_id: string;
  user_id: string;
  name: string;
  hint: string;
  scopes: string;
  created_at: number;
  expires_at: number | null;
  /** Frozen at migration 0005: a fallback for tokens whose usage rows predate it. */
  last_used_at: number | null;
  revoked_at: number | null;
  revoked_reason: string | null;
  revoked_by: string | null;
  refused_count: number;
  refused_last_at: number | null;
  exposed_at: number | null;
  /** JSON array of addresses and CIDRs the token is accepted from; null: any (0010). */
  allowed_addresses: string | null;
  /** When `token.expiring` was queued (migration 0011). */
  expiring_sent_at: number | null;
  /** When `token.refused` was last queued (migration 0011). */
  refused_event_at: number | null;
  /** When `keyward import-tokens` brought it from another system; null otherwise (0013). */
  imported_at: number | null;
  /** When the expiry reminder email was queued (migration 0015). */
  expiry_reminder_sent_at: number | null;
}

export interface TokenSecretsTable {
  hash: string;
  token_id: string;
  created_at: number;
  expires_at: number | null;
  /** 1 once its end has been sent on the revocation stream (migration 0007). */
  ended_announced: Generated<number>;
}

export interface TokenUsageDailyTable {
  token_id: string;
  day: string;
  requests: number;
  /** The day's last use; the newest day's is the token's last use (migration 0005). */
  last_used_at: number | null;
}
