import type { MailData, MailKind } from "../core/mail.js";
import type {
  Application,
  ApplicationMembership,
  AuditAction,
  Branding,
  DeliveryStatus,
  HostUser,
  Member,
  RevocationReason,
  Role,
  SecretRecord,
  ServiceKeyRecord,
  TokenPolicy,
  TokenRecord,
  User,
  Webhook,
  WebhookDelivery,
  WebhookEventType,
} from "../core/model.js";
import type { RandomSource } from "../core/random.js";

export type { RandomSource };

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}

/** A list of passwords too common to accept (the most common ones from breach corpora). */
export interface CommonPasswords {
  isCommon(password: string): boolean;
  /** How many passwords the list holds. */
  size(): number;
}

export interface UserWithPassword extends User {
  passwordHash: string;
  /** When an operator disabled the account (`keyward users disable`); null or absent: enabled. */
  disabledAt?: number | null;
}

/**
 * Audit events a write method records in the transaction of its change, and only when
 * the change happens: a crash cannot keep the change and lose its event, and a refused
 * or repeated change records nothing.
 */
export type AuditEvents = readonly AuditEventInput[];

export interface UserStore {
  /** Inserts a user; `email_taken` when the (normalized) email exists. */
  insertUser(
    user: UserWithPassword,
    audit?: AuditEvents,
  ): Promise<{ ok: true } | { ok: false; reason: "email_taken" }>;
  /** The account with this email; host users are never found here (they cannot sign in). */
  findUserByEmail(email: string): Promise<UserWithPassword | undefined>;
  findUserById(id: string): Promise<User | undefined>;
  /** The password hash of an account (not a host user's); undefined when there is none. */
  findPasswordHash(userId: string): Promise<string | undefined>;
  /**
   * Sets the password and ends every session of the user but `keepIdHash`, in one
   * transaction with the audit events; returns how many sessions ended.
   */
  changePassword(
    input: { userId: string; passwordHash: string; keepIdHash: string | null },
    audit?: AuditEvents,
  ): Promise<{ endedSessions: number }>;
}

/**
 * RFC 6238 time-based one-time passwords (what authenticator apps show): 6 digits,
 * SHA-1, 30-second steps, as every app understands.
 */
export interface Totp {
  /** The base32 form of a new secret made from `bytes` (20 random bytes: 160 bits). */
  encodeSecret(bytes: Uint8Array): string;
  /** The `otpauth://totp/...` URL an app scans (as a QR code) to add the account. */
  otpauthUrl(input: { secret: string; issuer: string; label: string }): string;
  /**
   * The time step (the count of 30-second periods since the epoch) within one step of
   * `now`'s at which `code` is the right code for `secret`; null when it is none of them.
   */
  matchStep(input: { secret: string; code: string; now: number }): number | null;
}

/** A user's two-factor state. `confirmedAt` null: an enrollment not yet confirmed (off). */
export interface TwoFactorRecord {
  userId: string;
  /** Base32 TOTP secret. A secret: never logged, never in an answer after enrollment. */
  secret: string;
  createdAt: number;
  confirmedAt: number | null;
  /** The last time step whose code was accepted: that step and earlier ones are refused. */
  lastUsedStep: number | null;
}

export interface TwoFactorStore {
  find(userId: string): Promise<TwoFactorRecord | undefined>;
  /**
   * Starts (or restarts) an enrollment with a new secret, replacing an unconfirmed one;
   * false, changing nothing, when two-factor is already on.
   */
  startEnrollment(input: { userId: string; secret: string; createdAt: number }): Promise<boolean>;
  /**
   * Turns two-factor on: the pending enrollment with this very secret becomes confirmed,
   * `step` is recorded as used, and the recovery codes (hashes) replace any earlier ones,
   * with the audit events, in one transaction. False when there is no such enrollment.
   */
  confirm(
    input: {
      userId: string;
      secret: string;
      step: number;
      confirmedAt: number;
      recoveryCodeHashes: readonly string[];
    },
    audit?: AuditEvents,
  ): Promise<boolean>;
  /**
   * Records `step` as used when it is later than the last used one (two-factor on): true
   * when it was, false when that step or a later one was used already (a replayed code).
   */
  spendStep(userId: string, step: number): Promise<boolean>;
  /** The hashes of the user's recovery codes not used yet. */
  unusedRecoveryCodes(userId: string): Promise<string[]>;
  /** Marks a recovery code used, once, with the audit events; false when it already was. */
  spendRecoveryCode(
    input: { userId: string; codeHash: string; usedAt: number },
    audit?: AuditEvents,
  ): Promise<boolean>;
  /** Turns two-factor off: the secret and the recovery codes go. False when it was not on. */
  disable(userId: string, audit?: AuditEvents): Promise<boolean>;
}

export interface SessionRecord {
  idHash: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
  /** A portal session reaches this one application only; absent or null for an account's. */
  applicationId?: string | null;
  /** Where a portal session's "Back to …" link goes. */
  returnUrl?: string | null;
  /** The service key whose portal link opened it: revoking the key ends the session. */
  serviceKeyId?: string | null;
  /** The public id (`ses_…`) the session list names it by. */
  id: string;
  lastSeenAt: number;
  /** The browser's User-Agent at sign-in, cut to 512 characters. */
  userAgent: string | null;
  /** The client address at sign-in. */
  address: string | null;
  /** When the password was last typed in this session (sign-in counts). */
  reauthenticatedAt: number;
}

export interface SessionStore {
  insertSession(session: SessionRecord, audit?: AuditEvents): Promise<void>;
  /** The session and its user, whether or not it has expired (the caller decides). */
  findSession(idHash: string): Promise<{ session: SessionRecord; user: User } | undefined>;
  deleteSession(idHash: string): Promise<void>;
  /** Sessions ended at `now`: past their lifetime, or unused since `idleBefore`. */
  deleteExpiredSessions(now: number, idleBefore?: number): Promise<number>;
  /** The user's sessions, newest first (expired ones included; the caller filters). */
  listSessions(userId: string): Promise<SessionRecord[]>;
  /** Ends the user's session with this public id; false when there is none. */
  deleteSessionById(userId: string, id: string, audit?: AuditEvents): Promise<boolean>;
  /** Ends every session of the user but `keepIdHash` (none kept when null); counts them. */
  deleteOtherSessions(
    userId: string,
    keepIdHash: string | null,
    audit?: AuditEvents,
  ): Promise<number>;
  /** Records use of the session at `now`. */
  touchSession(idHash: string, now: number): Promise<void>;
  /** Records that the password was typed in this session at `now`. */
  markReauthenticated(idHash: string, now: number): Promise<void>;
}

export interface ApplicationStore {
  /** Inserts the application and its owner's membership in one transaction (no policy yet). */
  insertApplication(application: Omit<Application, "policy">): Promise<void>;
  findApplication(id: string): Promise<Application | undefined>;
  /** Sets what is given; false when the application does not exist. */
  updateApplicationSettings(
    id: string,
    settings: { returnOrigins?: string[]; branding?: Branding | null; policy?: TokenPolicy },
    audit?: AuditEvents,
  ): Promise<boolean>;
  listApplicationsForUser(userId: string): Promise<ApplicationMembership[]>;
  findRole(applicationId: string, userId: string): Promise<Role | undefined>;
  listMembers(applicationId: string): Promise<Member[]>;
  insertMember(
    input: {
      applicationId: string;
      userId: string;
      role: Exclude<Role, "owner">;
      createdAt: number;
    },
    audit?: AuditEvents,
  ): Promise<{ ok: true } | { ok: false; reason: "already_member" }>;
  /**
   * Removes a membership and, in the same transaction, revokes every active token the
   * member holds in the application. Returns the ids of the tokens it revoked.
   * `audit` is given those ids (the events name them) and is called only when the
   * member was removed; its events are written in the same transaction.
   */
  removeMember(
    input: {
      applicationId: string;
      userId: string;
      now: number;
      revokedBy: string;
    },
    audit?: (revokedTokenIds: readonly string[]) => AuditEvents,
  ): Promise<{ removed: boolean; revokedTokenIds: string[] }>;
}

export interface NewServiceKey extends Omit<ServiceKeyRecord, "lastUsedAt" | "revokedAt"> {
  secretHash: string;
  createdBy: string;
}

/** A presented service key's record, with what authenticating with it needs. */
export interface ServiceKeySecret extends ServiceKeyRecord {
  applicationName: string;
}

export interface ServiceKeyStore {
  insertServiceKey(key: NewServiceKey, audit?: AuditEvents): Promise<void>;
  /** Newest first, revoked ones included. */
  listServiceKeys(applicationId: string): Promise<ServiceKeyRecord[]>;
  findServiceKey(applicationId: string, keyId: string): Promise<ServiceKeyRecord | undefined>;
  findServiceKeyBySecret(secretHash: string): Promise<ServiceKeySecret | undefined>;
  /** Sets `revokedAt` once; true when this call revoked it. */
  revokeServiceKey(
    input: { keyId: string; now: number; revokedBy: string | null },
    audit?: AuditEvents,
  ): Promise<boolean>;
  /** Which of these keys are revoked (one query). */
  revokedServiceKeys(keyIds: readonly string[]): Promise<string[]>;
  /** Moves each key's `lastUsedAt` forward (never back). */
  recordServiceKeyUse(uses: readonly { keyId: string; at: number }[]): Promise<void>;
}

export interface HostUserStore {
  /**
   * Creates the host user (and their `member` membership) or updates the fields given,
   * atomically: two racing upserts of one id make one user. `audit` is told which happened.
   */
  upsertHostUser(
    input: {
      id: string;
      applicationId: string;
      externalId: string;
      email?: string | null;
      name?: string | null;
      now: number;
    },
    audit?: (created: boolean, user: HostUser) => AuditEvents,
  ): Promise<{ created: boolean; user: HostUser }>;
  findHostUser(applicationId: string, externalId: string): Promise<HostUser | undefined>;
  /** The host user behind a user id, when it is one. */
  findHostUserById(userId: string): Promise<HostUser | undefined>;
  /**
   * Removes the host user: their membership, sessions and unused portal codes go, every
   * active token of theirs is revoked, and the host's id is freed for a new user, in one
   * transaction. `audit` is given the revoked token ids.
   */
  removeHostUser(
    input: { applicationId: string; externalId: string; now: number; revokedBy: string | null },
    audit?: (user: HostUser, revokedTokenIds: readonly string[]) => AuditEvents,
  ): Promise<{ removed: boolean; revokedTokenIds: string[] }>;
}

export interface PortalCode {
  codeHash: string;
  applicationId: string;
  userId: string;
  returnUrl: string | null;
  createdAt: number;
  expiresAt: number;
  /** The service key that asked for it: once that key is revoked, the code is not redeemed. */
  serviceKeyId: string | null;
}

export interface PortalStore {
  insertPortalCode(code: PortalCode, audit?: AuditEvents): Promise<void>;
  /**
   * Marks the code used and returns it, when it exists, is unused and has not expired;
   * one statement, so of two racing redemptions exactly one gets it.
   */
  redeemPortalCode(codeHash: string, now: number): Promise<PortalCode | undefined>;
  deleteExpiredPortalCodes(before: number): Promise<number>;
}

export interface NewToken {
  id: string;
  applicationId: string;
  userId: string;
  name: string;
  hint: string;
  scopes: string[];
  createdAt: number;
  expiresAt: number | null;
  secretHash: string;
  /** Addresses and CIDRs it is accepted from; absent, null or empty: any address. */
  allowedAddresses?: string[] | null;
}

export type InsertTokenResult =
  | { ok: true }
  | { ok: false; reason: "name_taken" | "limit_reached" };

export interface TokenStore {
  /**
   * Inserts a token and its secret unless the owner already has an active token with
   * that name in the application, or `maxActivePerUser` active ones. The check and the
   * insert are atomic, so two racing requests cannot both pass.
   */
  insertToken(
    token: NewToken,
    rules: { maxActivePerUser: number; now: number },
    audit?: AuditEvents,
  ): Promise<InsertTokenResult>;
  findToken(applicationId: string, tokenId: string): Promise<TokenRecord | undefined>;
  /** Newest first; all users' tokens when `userId` is undefined. */
  listTokens(applicationId: string, userId: string | undefined): Promise<TokenRecord[]>;
  /** Sets `revokedAt` once; later calls change nothing. True when this call revoked it. */
  revokeToken(
    input: {
      tokenId: string;
      now: number;
      reason: RevocationReason;
      revokedBy: string | null;
    },
    audit?: AuditEvents,
  ): Promise<boolean>;
  /**
   * Gives the token a new secret. Every older secret stops working at `oldSecretsExpireAt`
   * (at once when it equals `now`). False when the token is not active.
   */
  replaceSecret(
    input: {
      tokenId: string;
      secretHash: string;
      hint: string;
      now: number;
      oldSecretsExpireAt: number;
    },
    audit?: AuditEvents,
  ): Promise<boolean>;
  /** Sets a token's address allowlist (null: any address); false when there is no such token. */
  setAllowedAddresses(
    input: { tokenId: string; allowedAddresses: string[] | null },
    audit?: AuditEvents,
  ): Promise<boolean>;
  /**
   * Acts on a reported leak of one of a token's secrets, deciding from what storage holds
   * once any regeneration of the token under way has committed: the token's current secret
   * revokes the token with reason `leaked` (`revoked`, with `audit.revoked`); an old secret
   * still in its grace period ends alone, the token and its current secret untouched
   * (`secret_ended`, with `audit.secretEnded`); anything else (an ended secret, a revoked or
   * expired token) changes nothing. Deciding from an earlier read would let a report of the
   * old secret, racing its owner's regeneration, revoke the new secret too.
   */
  revokeLeakedSecret(
    input: { tokenId: string; secretHash: string; now: number },
    audit: { revoked: AuditEvents; secretEnded: AuditEvents },
  ): Promise<LeakedSecretOutcome>;
  /** Records the first time a token was sent in the clear; true when this call set it. */
  markExposed(tokenId: string, now: number, audit?: AuditEvents): Promise<boolean>;
  /** The hot-path lookup: everything needed to accept or refuse a presented secret. */
  findSecret(secretHash: string): Promise<SecretRecord | undefined>;
  /**
   * Optional, and synchronous: false only when no stored secret has this SHA-256 (given
   * as 32 binary characters), known from memory (a filter of every stored secret), so a
   * made-up token is refused without a read or a promise. True whenever unsure, including
   * when storage is closed (the read then says it is unavailable).
   */
  mayHoldSecret?(binaryHash: string): boolean;
  /** Whether any token was imported from another system (one indexed probe). */
  hasImportedTokens(): Promise<boolean>;
}

/** What `TokenStore.revokeLeakedSecret` did. */
export type LeakedSecretOutcome = "revoked" | "secret_ended" | "unchanged";

export interface UsageIncrement {
  tokenId: string;
  /** UTC day, `YYYY-MM-DD`. */
  day: string;
  requests: number;
  lastUsedAt: number;
}

export interface UsageStore {
  /**
   * Adds the counts to the daily totals and moves each token's `lastUsedAt` forward
   * (never back), all in one transaction.
   */
  applyUsage(increments: readonly UsageIncrement[]): Promise<void>;
  /** Daily counts from `fromDay` (inclusive), oldest first; days without use are absent. */
  dailyUsage(tokenId: string, fromDay: string): Promise<Array<{ day: string; requests: number }>>;
  totalUsage(tokenId: string): Promise<number>;
  /**
   * Each token's total and its daily counts from `fromDay` (oldest first, days without use
   * absent), in a fixed number of statements whatever the number of tokens. One entry per
   * id asked for, in that order; a token never used has total 0.
   */
  usageOfTokens(
    tokenIds: readonly string[],
    fromDay: string,
  ): Promise<
    Array<{ tokenId: string; total: number; daily: Array<{ day: string; requests: number }> }>
  >;
  /** Adds presentations of revoked or expired tokens; `lastAt` only moves forward. */
  applyRefusals(
    refusals: readonly { tokenId: string; count: number; lastAt: number }[],
  ): Promise<void>;
}

/** What the audit trail records. Never a secret: ids, names, reasons and addresses only. */
export type { AuditAction };

export interface AuditEventInput {
  applicationId: string | null;
  /** The user the event is about (the token's owner, the member, the account signing in). */
  userId: string | null;
  /** Who did it; null for the system (a leak report, a policy). */
  actorId: string | null;
  tokenId: string | null;
  action: AuditAction;
  reason: string | null;
  detail: Record<string, string | number | boolean | null>;
  ip: string | null;
  createdAt: number;
}

export interface AuditEvent extends AuditEventInput {
  id: string;
  actorEmail: string | null;
  /** For an actor without an email: a service key (`service key "CI"`), a host user's id. */
  actorName: string | null;
  tokenName: string | null;
}

export interface AuditQuery {
  applicationId?: string;
  /** Events of tokens owned by this user (what a member may read). */
  tokenOwnerId?: string;
  /** Events about this user with no application (sign-ins). */
  accountUserId?: string;
  tokenId?: string;
  action?: AuditAction;
  /** Text found, ignoring case, in the actor's email or the token's name. */
  search?: string;
  /** Keyset pagination: events strictly older than this one. */
  before?: { createdAt: number; id: string };
  limit: number;
}

/** What selects events, without the paging. */
export type AuditFilter = Omit<AuditQuery, "before" | "limit">;

export interface AuditStore {
  /**
   * Records events on their own, for what writes nothing else (a failed sign-in). An
   * event about a change goes to the write method that makes it, in its transaction.
   */
  record(events: AuditEvents): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEvent[]>;
  /** How many events match the query's filters, over all pages. */
  count(query: AuditFilter): Promise<number>;
  /** Whether the user signed in successfully from `ip` at or after `since`. */
  hasSignedInFrom(userId: string, ip: string, since: number): Promise<boolean>;
  /**
   * The IPv6 addresses the user signed in from successfully at or after `since`, each once,
   * the most recently used first, at most `limit`.
   */
  ipv6SigninAddresses(userId: string, since: number, limit: number): Promise<string[]>;
}

export interface InvitationRecord {
  id: string;
  applicationId: string;
  email: string;
  role: "admin" | "member";
  inviterId: string;
  createdAt: number;
  expiresAt: number;
}

/** A pending invitation as its invitee sees it. */
export interface ReceivedInvitation extends InvitationRecord {
  applicationName: string;
  inviterEmail: string;
}

/**
 * An invitation taken off the pending list. On accept, `alreadyMember` says the user was a
 * member before (nothing was written but the invitation's removal).
 */
export type TakenInvitation = InvitationRecord & { readonly alreadyMember: boolean };

export interface InvitationStore {
  /**
   * Inserts the invitation, replacing a pending one of the same application and email
   * (a new role, a new 7 days), with its audit events, in one transaction.
   */
  putInvitation(invitation: InvitationRecord, audit: AuditEvents): Promise<void>;
  /**
   * The application's invitations not expired at `now`, oldest first. This list and
   * `listForEmail` leave out invitations whose inviter is no longer an owner or admin.
   */
  listForApplication(applicationId: string, now: number): Promise<InvitationRecord[]>;
  /** The invitations to `email` not expired at `now`, oldest first. */
  listForEmail(email: string, now: number): Promise<ReceivedInvitation[]>;
  /**
   * Deletes the invitation when it matches (its application, or its email); with
   * `accept`, makes that user a member in the same transaction (nothing, audit included,
   * when they already are). Undefined when no invitation matched (unknown, expired, someone
   * else's) and, on accept, when its inviter is no longer an owner or admin of the
   * application (the invitation is then deleted: it carried authority its sender lost).
   */
  takeInvitation(
    match: { id: string; now: number; applicationId?: string; email?: string },
    audit: (invitation: InvitationRecord) => AuditEvents,
    accept?: { userId: string },
  ): Promise<TakenInvitation | undefined>;
}

/** A fixed-window counter shared by every process on the store. */
export interface CounterStore {
  /** Adds one to `key`'s count, starting a new window when the last one has ended. */
  increment(
    key: string,
    windowMs: number,
    now: number,
  ): Promise<{ count: number; windowStart: number }>;
  read(key: string, windowMs: number, now: number): Promise<{ count: number; windowStart: number }>;
  /** Deletes counters whose window started before `before`. */
  prune(before: number): Promise<number>;
}

/** What the revocation stream sends: a token revoked, or an old secret of it ended. */
export type RevocationEventType = "token.revoked" | "secret.ended";

export interface RevocationEvent {
  /** Ordered by commit, on every dialect: the stream's event id. */
  seq: number;
  applicationId: string;
  tokenId: string;
  type: RevocationEventType;
  /** When the secret stopped working. */
  at: number;
}

/**
 * The revocation stream's storage. Events are written by the changes themselves, in their
 * transactions (a `token.revoked` audit event, a regeneration without grace); old secrets
 * that end later, at the end of their grace, by `announceEndedSecrets`.
 */
export interface RevocationEventStore {
  /**
   * The lowest and highest `seq` kept (both 0 when there are none). Every event after
   * `floor` is still there: a reader whose last id is within the bounds can be replayed.
   */
  bounds(): Promise<{ floor: number; head: number }>;
  /** Events after `afterSeq`, oldest first, at most `limit`; one application's when given. */
  listAfter(afterSeq: number, limit: number, applicationId?: string): Promise<RevocationEvent[]>;
  /** When the next old secret ends whose end has not been sent; undefined when none. */
  nextSecretEnd(): Promise<number | undefined>;
  /**
   * Writes one `secret.ended` per token whose old secrets ended by `now` and were not yet
   * announced, and marks them announced, in one transaction: when every process sweeps at
   * once, exactly one writes each. Returns the ids of those tokens.
   */
  announceEndedSecrets(now: number): Promise<string[]>;
  /** Deletes events older than `before`, keeping the newest of them as the floor. */
  prune(before: number): Promise<number>;
}

export interface Store {
  readonly kind: "sqlite" | "postgres";
  readonly counters: CounterStore;
  readonly revocations: RevocationEventStore;
  readonly audit: AuditStore;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly twoFactor: TwoFactorStore;
  readonly invitations: InvitationStore;
  readonly applications: ApplicationStore;
  readonly tokens: TokenStore;
  readonly usage: UsageStore;
  readonly serviceKeys: ServiceKeyStore;
  readonly hostUsers: HostUserStore;
  readonly portal: PortalStore;
  readonly operator: OperatorStore;
  readonly webhooks: WebhookStore;
  readonly policies: PolicyStore;
  readonly mail: MailStore;
  /** Statements executed so far, by kind; for metrics and the benchmark. */
  readonly stats: StoreStats;
  /** Resolves when storage answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreStats {
  reads: number;
  writes: number;
  /**
   * Of the reads, the secret lookups of verification (one per query: a PostgreSQL batch of
   * lookups is one), apart from the reads that background work makes at any moment.
   */
  secretLookups: number;
  /** Of the reads, the service key lookups of service calls the key cache could not answer. */
  serviceKeyLookups: number;
}

/** Tells every verifier (in this process and, on PostgreSQL, in others) that a token changed. */
export interface TokenInvalidation {
  tokenChanged(tokenIds: readonly string[]): Promise<void>;
  /**
   * The tokens were revoked, for good: as `tokenChanged`, and a verifier that hears it
   * refuses their cached secrets from memory instead of reading storage again.
   */
  tokensRevoked(tokenIds: readonly string[]): Promise<void>;
}

/** A user as the operator's command line shows them. */
export interface OperatorUser extends Omit<User, "hostApplicationId"> {
  disabledAt: number | null;
  /** The application a host user belongs to; null for an account. */
  hostApplicationId: string | null;
  externalId: string | null;
  activeTokens: number;
}

export interface OperatorApplication extends Application {
  ownerEmail: string;
  members: number;
  activeTokens: number;
}

/** A token as the operator sees it, with its application. */
export interface OperatorToken extends TokenRecord {
  applicationName: string;
}

export interface OperatorServiceKey extends ServiceKeyRecord {
  applicationName: string;
}

/** A token brought from another system by the SHA-256 (hex) of its secret. */
export interface ImportedToken {
  id: string;
  applicationId: string;
  userId: string;
  name: string;
  hint: string;
  scopes: string[];
  secretHash: string;
  createdAt: number;
  expiresAt: number | null;
  importedAt: number;
}

/** What selects tokens across applications; every field narrows. */
export interface OperatorTokenFilter {
  applicationId?: string;
  userId?: string;
  tokenId?: string;
  /** Only tokens neither revoked nor expired at this time. */
  activeAt?: number;
}

/**
 * What the operator's command line reads and changes across every application, outside
 * any one member's view. Changes take their audit events as the other write methods do.
 */
export interface OperatorStore {
  /** Accounts and host users, oldest first; `search` matches email or name, ignoring case. */
  listUsers(query: { search?: string; limit: number; now: number }): Promise<OperatorUser[]>;
  /** By id, or by an account's email. `now` decides which tokens count as active. */
  findUser(idOrEmail: string, now: number): Promise<OperatorUser | undefined>;
  /**
   * Disables (`disabledAt` a time) or enables (null) the user; disabling also ends every
   * session of theirs, in the same transaction. `changed` is false when the user was
   * already in that state (then nothing is written, no event either).
   */
  setUserDisabled(
    input: { userId: string; disabledAt: number | null },
    audit?: AuditEvents,
  ): Promise<{ changed: boolean; endedSessions: number }>;
  /** Replaces the password hash and ends every session of the user. */
  setPassword(
    input: { userId: string; passwordHash: string },
    audit?: AuditEvents,
  ): Promise<{ endedSessions: number }>;
  /** Oldest first. */
  listApplications(now: number): Promise<OperatorApplication[]>;
  findApplication(id: string, now: number): Promise<OperatorApplication | undefined>;
  /** Newest first. */
  listTokens(filter: OperatorTokenFilter): Promise<OperatorToken[]>;
  /** Newest first; every application's when `applicationId` is undefined. */
  listServiceKeys(applicationId: string | undefined): Promise<OperatorServiceKey[]>;
  findServiceKey(keyId: string): Promise<OperatorServiceKey | undefined>;
  /**
   * Events from `since` (inclusive), oldest first, strictly after `after` when given:
   * keyset pages for an export of any length.
   */
  /** Which of these secret hashes are stored already (as any token's secret). */
  existingSecretHashes(hashes: readonly string[]): Promise<string[]>;
  /**
   * Inserts the tokens and their secrets and the events in one transaction; a token whose
   * hash is stored already (an earlier run of the same import) is skipped, not an error.
   */
  importTokens(
    tokens: readonly ImportedToken[],
    audit: AuditEvents,
  ): Promise<{ imported: number; skipped: number }>;
  auditPage(query: {
    since: number;
    applicationId?: string;
    after?: { createdAt: number; id: string };
    limit: number;
  }): Promise<AuditEvent[]>;
}

/** A webhook as stored: with its signing secret, which only the sender reads. */
export interface WebhookRecord extends Webhook {
  secret: string;
  createdBy: string | null;
}

/** One event to send to every webhook of its application that subscribes to its type. */
export interface WebhookEventInput {
  applicationId: string;
  type: WebhookEventType;
  /** Ids, names and times; never a secret or a hash. */
  data: Record<string, string | number | boolean | null | string[]>;
  at: number;
}

/** A delivery a process has claimed: it alone attempts it until `lockedUntil`. */
export interface ClaimedDelivery {
  id: string;
  webhookId: string;
  url: string;
  secret: string;
  /** The JSON body, exactly as signed and sent on every attempt. */
  payload: string;
  /** Attempts so far, this one included. */
  attempts: number;
}

export interface WebhookStore {
  insertWebhook(webhook: WebhookRecord, audit?: AuditEvents): Promise<void>;
  /** Newest first, deleted ones left out. */
  listWebhooks(applicationId: string): Promise<Webhook[]>;
  findWebhook(applicationId: string, webhookId: string): Promise<Webhook | undefined>;
  /** Deletes it and drops its undelivered events; true when this call deleted it. */
  deleteWebhook(
    input: { applicationId: string; webhookId: string; now: number },
    audit?: AuditEvents,
  ): Promise<boolean>;
  /** Newest first. */
  listDeliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]>;
  /**
   * Queues a delivery again, now, with the same id, releasing any claim on it (an attempt in
   * flight then records nothing); false when there is no such delivery.
   */
  redeliver(input: { webhookId: string; deliveryId: string; now: number }): Promise<boolean>;
  /** Queues events for the webhooks that subscribe to them, in one transaction. */
  enqueue(events: readonly WebhookEventInput[]): Promise<void>;
  /**
   * Claims up to `limit` deliveries due at `now` that no process holds: each is held until
   * `lockUntil` and its attempt counted. Two processes never claim the same one.
   */
  claimDue(now: number, limit: number, lockUntil: number): Promise<ClaimedDelivery[]>;
  /**
   * Records an attempt's outcome and releases the delivery, unless its claim is no longer
   * the delivery's own (`lockedUntil` as claimed): a redelivery asked for meanwhile, or a
   * claim that ran out and was taken again, is not overwritten by an older attempt.
   */
  recordAttempt(input: {
    deliveryId: string;
    lockedUntil: number;
    now: number;
    status: DeliveryStatus;
    nextAttemptAt: number;
    lastStatus: number | null;
    lastError: string | null;
  }): Promise<void>;
  /** When the next pending delivery falls due (held ones at their lock's end); undefined when none. */
  nextDue(): Promise<number | undefined>;
  /**
   * Queues `token.expiring` for active tokens expiring by `horizon` that have not had it,
   * and marks them, in one transaction: when processes race, exactly one queues each.
   * Returns how many tokens it marked.
   */
  queueExpiring(now: number, horizon: number, limit: number): Promise<number>;
}

/** A token the unused-token policy has passed the line for. */
export interface UnusedToken {
  id: string;
  applicationId: string;
  userId: string;
  lastUsedAt: number | null;
  createdAt: number;
  revokeUnusedAfterDays: number;
}

export interface PolicyStore {
  /** Active tokens whose application revokes unused ones and that crossed the line by `now`. */
  listUnusedTokens(now: number, limit: number): Promise<UnusedToken[]>;
  /**
   * Takes (or renews) the lease on a job for `holder` until `until`, unless another holder's
   * lease runs past `now`. True when `holder` holds it.
   */
  acquireLease(input: {
    name: string;
    holder: string;
    now: number;
    until: number;
  }): Promise<boolean>;
  releaseLease(input: { name: string; holder: string }): Promise<void>;
}

/** An email to queue: rendered when sent, from `data`. */
export interface OutgoingMail {
  kind: MailKind;
  recipient: string;
  data: MailData;
}

/** A queued email a process has claimed: it alone attempts it until its lock ends. */
export interface ClaimedMail extends OutgoingMail {
  id: string;
  createdAt: number;
  /** Attempts so far, this one included. */
  attempts: number;
}

export type AccountCodePurpose = "email_confirmation" | "password_reset";

/** A one-time code behind an emailed link; only its hash is stored. */
export interface AccountCode {
  hash: string;
  userId: string;
  purpose: AccountCodePurpose;
  createdAt: number;
  expiresAt: number;
}

export interface MailStore {
  /** Inserts the code and queues its email (when given), with its events, in one transaction. */
  insertAccountCode(
    code: AccountCode,
    mail: OutgoingMail | null,
    now: number,
    audit?: AuditEvents,
  ): Promise<void>;
  /** The code when it exists for `purpose`, is unused and has not expired at `now`. */
  findAccountCode(
    hash: string,
    purpose: AccountCodePurpose,
    now: number,
  ): Promise<AccountCode | undefined>;
  /**
   * Uses an email confirmation code and marks its account's email confirmed, in one
   * transaction; of two racing uses exactly one succeeds. Undefined when the code is
   * unknown, used or expired.
   */
  confirmEmail(
    hash: string,
    now: number,
    audit: (userId: string) => AuditEvents,
  ): Promise<{ userId: string } | undefined>;
  /**
   * Uses a password reset code, sets the password, ends every session of the account and
   * marks its other reset codes used, in one transaction. Undefined when the code is
   * unknown, used or expired (then nothing changes).
   */
  resetPassword(
    input: { hash: string; now: number; passwordHash: string },
    audit: (userId: string) => AuditEvents,
  ): Promise<{ userId: string; endedSessions: number } | undefined>;
  /** When the account's email was confirmed; null when it was not (or no such account). */
  emailConfirmedAt(userId: string): Promise<number | null>;
  /** Queues an email on its own. */
  enqueue(mail: OutgoingMail, now: number): Promise<void>;
  /**
   * Claims up to `limit` emails due at `now` that no process holds, each until `lockUntil`,
   * counting the attempt. Two processes never claim the same one.
   */
  claimDue(now: number, limit: number, lockUntil: number): Promise<ClaimedMail[]>;
  /**
   * Records an attempt: `sent` and `failed` are final (the data is emptied); `pending`
   * tries again at `nextAttemptAt`. Only while its claim (`lockedUntil` as claimed) is still
   * the email's own: a late answer from a lapsed claim is not recorded over a newer one.
   */
  recordAttempt(input: {
    id: string;
    lockedUntil: number;
    now: number;
    status: "sent" | "pending" | "failed";
    nextAttemptAt: number;
    error: string | null;
  }): Promise<void>;
  /**
   * Marks active tokens expiring by `horizon` whose owner has not been reminded and queues
   * a reminder to each owner with an email, in one transaction: when processes race,
   * exactly one queues each. Returns how many it queued.
   */
  queueExpiryReminders(now: number, horizon: number, limit: number): Promise<number>;
  /** Deletes sent and abandoned emails queued before `before`, and codes expired by then. */
  prune(before: number): Promise<number>;
}
