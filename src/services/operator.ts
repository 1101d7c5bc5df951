import { KeywardError } from "../core/errors.js";
import { generateSessionSecret } from "../core/ids.js";
import type { AuditAction } from "../core/model.js";
import type { ServiceDeps } from "./deps.js";
import { issuePasswordResetLink } from "./email.js";
import type {
  AuditEvent,
  AuditEventInput,
  OperatorApplication,
  OperatorServiceKey,
  OperatorToken,
  OperatorUser,
} from "./ports.js";

// What the operator's command line does: across every application, as the person who
// runs Keyward rather than as a member. Every change is recorded in the audit trail with
// no user as its actor and the operator (the OS user running the command) in its detail.

/** Who runs the command: the OS user name, recorded with every change. */
export interface Operator {
  name: string;
}

function operatorEvent(
  deps: ServiceDeps,
  operator: Operator,
  event: {
    action: AuditAction;
    applicationId?: string | null;
    userId?: string | null;
    tokenId?: string | null;
    reason?: string | null;
    detail?: AuditEventInput["detail"];
  },
): AuditEventInput {
  return {
    applicationId: event.applicationId ?? null,
    userId: event.userId ?? null,
    actorId: null,
    tokenId: event.tokenId ?? null,
    action: event.action,
    reason: event.reason ?? null,
    detail: { operator: operator.name, via: "cli", ...event.detail },
    ip: null,
    createdAt: deps.clock.now(),
  };
}

export const USER_LIST_MAX = 10_000;

export function listUsers(
  deps: ServiceDeps,
  query: { search?: string; limit?: number },
): Promise<OperatorUser[]> {
  return deps.store.operator.listUsers({
    search: query.search,
    limit: Math.min(query.limit ?? USER_LIST_MAX, USER_LIST_MAX),
    now: deps.clock.now(),
  });
}

/** The user by id or email; `user_not_found` otherwise. */
export async function requireUser(deps: ServiceDeps, idOrEmail: string): Promise<OperatorUser> {
  const user = await deps.store.operator.findUser(idOrEmail, deps.clock.now());
  if (!user) {
    throw new KeywardError(
      "user_not_found",
      `No user with id or email "${idOrEmail}". List them with \`keyward users list\`.`,
    );
  }
  return user;
}

export interface UserDetail {
  user: OperatorUser;
  applications: Array<{ id: string; name: string; role: string }>;
}

export async function showUser(deps: ServiceDeps, idOrEmail: string): Promise<UserDetail> {
  const user = await requireUser(deps, idOrEmail);
  const applications = await deps.store.applications.listApplicationsForUser(user.id);
  return { user, applications };
}

/**
 * Disables the user: sign-in refused, sessions ended (same transaction), tokens refused by
 * the hot lookup; every server hears of it through the invalidation of their tokens.
 */
export async function disableUser(
  deps: ServiceDeps,
  operator: Operator,
  idOrEmail: string,
): Promise<{ user: OperatorUser; changed: boolean; endedSessions: number }> {
  const user = await requireUser(deps, idOrEmail);
  const now = deps.clock.now();
  const result = await deps.store.operator.setUserDisabled({ userId: user.id, disabledAt: now }, [
    operatorEvent(deps, operator, { action: "user.disabled", userId: user.id }),
  ]);
  // Every token of theirs, revoked ones included: cached answers name the token only.
  const tokens = await deps.store.operator.listTokens({ userId: user.id });
  await deps.invalidation.tokenChanged(tokens.map((t) => t.id));
  return {
    user: { ...user, disabledAt: result.changed ? now : user.disabledAt },
    ...result,
  };
}

export async function enableUser(
  deps: ServiceDeps,
  operator: Operator,
  idOrEmail: string,
): Promise<{ user: OperatorUser; changed: boolean }> {
  const user = await requireUser(deps, idOrEmail);
  const { changed } = await deps.store.operator.setUserDisabled(
    { userId: user.id, disabledAt: null },
    [operatorEvent(deps, operator, { action: "user.enabled", userId: user.id })],
  );
  return { user: { ...user, disabledAt: null }, changed };
}

/** Characters of a generated password: base62, about 143 bits. */
const GENERATED_PASSWORD_LENGTH = 24;

/**
 * Sets a new random password and ends every session of the user. The password exists
 * only in the returned value, for the operator to hand over once.
 */
export async function resetPassword(
  deps: ServiceDeps,
  operator: Operator,
  idOrEmail: string,
): Promise<{ user: OperatorUser; password: string; endedSessions: number }> {
  const user = await requireUser(deps, idOrEmail);
  if (user.hostApplicationId !== null) {
    throw new KeywardError(
      "validation_failed",
      "This is a host user: they sign in through their host product, and have no password here.",
    );
  }
  const password = generateSessionSecret(deps.random).slice(0, GENERATED_PASSWORD_LENGTH);
  const passwordHash = await deps.passwordHasher.hash(password);
  const { endedSessions } = await deps.store.operator.setPassword(
    { userId: user.id, passwordHash },
    [operatorEvent(deps, operator, { action: "user.password_reset", userId: user.id })],
  );
  return { user, password, endedSessions };
}

/**
 * Turns off a user's two-factor authentication, for someone who lost both their phone and
 * their recovery codes (the operator checks who is asking first). Their password stays;
 * they can set two-factor up again after signing in.
 */
export async function disableTwoFactor(
  deps: ServiceDeps,
  operator: Operator,
  idOrEmail: string,
): Promise<{ user: OperatorUser; changed: boolean }> {
  const user = await requireUser(deps, idOrEmail);
  const changed = await deps.store.twoFactor.disable(user.id, [
    operatorEvent(deps, operator, { action: "two_factor.disabled", userId: user.id }),
  ]);
  return { user, changed };
}

/**
 * A one-time password reset link's code for the account, for the operator to hand over
 * (works with or without email): the password stays until the link is used, within 30
 * minutes; using it ends every session of the account.
 */
export async function issueResetLink(
  deps: ServiceDeps,
  operator: Operator,
  idOrEmail: string,
): Promise<{ user: OperatorUser; code: string; expiresAt: number }> {
  const user = await requireUser(deps, idOrEmail);
  if (user.hostApplicationId !== null) {
    throw new KeywardError(
      "validation_failed",
      "This is a host user: they sign in through their host product, and have no password here.",
    );
  }
  const issued = await issuePasswordResetLink(deps, user.id, [
    operatorEvent(deps, operator, { action: "password.reset_link_issued", userId: user.id }),
  ]);
  return { user, ...issued };
}

export function listApplications(deps: ServiceDeps): Promise<OperatorApplication[]> {
  return deps.store.operator.listApplications(deps.clock.now());
}

export async function requireApplication(
  deps: ServiceDeps,
  applicationId: string,
): Promise<OperatorApplication> {
  const application = await deps.store.operator.findApplication(applicationId, deps.clock.now());
  if (!application) {
    throw new KeywardError(
      "not_found",
      `No application with id "${applicationId}". List them with \`keyward apps list\`.`,
    );
  }
  return application;
}

export async function showApplication(deps: ServiceDeps, applicationId: string) {
  const application = await requireApplication(deps, applicationId);
  const [members, serviceKeys] = await Promise.all([
    deps.store.applications.listMembers(applicationId),
    deps.store.operator.listServiceKeys(applicationId),
  ]);
  return { application, members, serviceKeys };
}

export interface TokenSelection {
  tokenId?: string;
  userIdOrEmail?: string;
  applicationId?: string;
  /** Only tokens that still work. */
  active?: boolean;
}

async function selectTokens(
  deps: ServiceDeps,
  selection: TokenSelection,
): Promise<OperatorToken[]> {
  const user =
    selection.userIdOrEmail === undefined
      ? undefined
      : await requireUser(deps, selection.userIdOrEmail);
  if (selection.applicationId !== undefined)
    await requireApplication(deps, selection.applicationId);
  return deps.store.operator.listTokens({
    tokenId: selection.tokenId,
    userId: user?.id,
    applicationId: selection.applicationId,
    activeAt: selection.active ? deps.clock.now() : undefined,
  });
}

export function listTokens(deps: ServiceDeps, selection: TokenSelection): Promise<OperatorToken[]> {
  return selectTokens(deps, selection);
}

/**
 * Revokes the selected tokens (reason `admin`), each with its event in its transaction,
 * then tells every server. A token already revoked or expired is left as it is and
 * reported in `unchanged`. Selecting nothing at all is refused: `--all` is not a thing.
 */
export async function revokeTokens(
  deps: ServiceDeps,
  operator: Operator,
  selection: TokenSelection,
): Promise<{ revoked: OperatorToken[]; unchanged: OperatorToken[] }> {
  if (
    selection.tokenId === undefined &&
    selection.userIdOrEmail === undefined &&
    selection.applicationId === undefined
  ) {
    throw new KeywardError(
      "validation_failed",
      "Say which tokens to revoke: a token id, --user or --application.",
    );
  }
  const tokens = await selectTokens(deps, { ...selection, active: false });
  if (selection.tokenId !== undefined && tokens.length === 0) {
    throw new KeywardError(
      "not_found",
      `No token with id "${selection.tokenId}"${selection.applicationId ? " in that application" : ""}. List them with \`keyward tokens list\`.`,
    );
  }
  const revoked: OperatorToken[] = [];
  const unchanged: OperatorToken[] = [];
  try {
    for (const token of tokens) {
      const now = deps.clock.now();
      const done =
        token.revokedAt === null &&
        (await deps.store.tokens.revokeToken(
          { tokenId: token.id, now, reason: "admin", revokedBy: null },
          [
            operatorEvent(deps, operator, {
              action: "token.revoked",
              applicationId: token.applicationId,
              userId: token.userId,
              tokenId: token.id,
              reason: "admin",
            }),
          ],
        ));
      if (done) revoked.push({ ...token, revokedAt: now, revokedReason: "admin" });
      else unchanged.push(token);
    }
  } finally {
    // Even when a later revocation fails, the servers hear of the ones already made.
    if (revoked.length > 0) await deps.invalidation.tokensRevoked(revoked.map((t) => t.id));
  }
  return { revoked, unchanged };
}

export async function listServiceKeys(
  deps: ServiceDeps,
  applicationId: string | undefined,
): Promise<OperatorServiceKey[]> {
  if (applicationId !== undefined) await requireApplication(deps, applicationId);
  return deps.store.operator.listServiceKeys(applicationId);
}

/**
 * Revokes a service key, and announces it as the servers' own revocations are announced:
 * servers cache valid keys, and drop this one when they hear of it (within the change
 * channel's bound).
 */
export async function revokeServiceKey(
  deps: ServiceDeps,
  operator: Operator,
  keyId: string,
): Promise<{ key: OperatorServiceKey; changed: boolean }> {
  const key = await deps.store.operator.findServiceKey(keyId);
  if (!key) {
    throw new KeywardError(
      "not_found",
      `No service key with id "${keyId}". List them with \`keyward service-keys list\`.`,
    );
  }
  const now = deps.clock.now();
  const changed = await deps.store.serviceKeys.revokeServiceKey({ keyId, now, revokedBy: null }, [
    operatorEvent(deps, operator, {
      action: "service_key.revoked",
      applicationId: key.applicationId,
      detail: { keyId: key.id, name: key.name },
    }),
  ]);
  // Also when it was revoked already: announcing again is harmless, and covers a revocation
  // whose announcement was lost.
  await deps.invalidation.tokenChanged([key.id]);
  return { key: changed ? { ...key, revokedAt: now } : key, changed };
}

export const AUDIT_EXPORT_PAGE = 1000;

/**
 * Every event from `since`, oldest first, one keyset page at a time: memory stays one
 * page however many events there are.
 */
export async function* exportAudit(
  deps: ServiceDeps,
  query: { since: number; applicationId?: string; pageSize?: number },
): AsyncGenerator<AuditEvent> {
  if (query.applicationId !== undefined) await requireApplication(deps, query.applicationId);
  let after: { createdAt: number; id: string } | undefined;
  const limit = query.pageSize ?? AUDIT_EXPORT_PAGE;
  for (;;) {
    const page = await deps.store.operator.auditPage({
      since: query.since,
      applicationId: query.applicationId,
      after,
      limit,
    });
    yield* page;
    const last = page.at(-1);
    if (page.length < limit || last === undefined) return;
    after = { createdAt: last.createdAt, id: last.id };
  }
}
