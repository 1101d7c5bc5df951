import { KeywardError } from "../core/errors.js";
import { generateId } from "../core/ids.js";
import {
  type Application,
  type ApplicationMembership,
  type Branding,
  type Member,
  NO_POLICY,
  type Role,
  type TokenPolicy,
  type User,
} from "../core/model.js";
import { MAX_POLICY_DAYS } from "../core/policy.js";
import {
  normalizeAccentColor,
  normalizeDisplayName,
  normalizeOrigin,
  normalizeScopes,
} from "../core/rules.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import { isManager, requireManager, requireMembership } from "./membership.js";

/** An application as one of its members sees it: with their role. */
export type ApplicationView = Application & { role: Role };

export async function createApplication(
  deps: ServiceDeps,
  actor: User,
  input: { name: string; scopes?: string[] },
): Promise<ApplicationView> {
  if (actor.hostApplicationId !== undefined) {
    throw new KeywardError("forbidden", "This account cannot create applications.");
  }
  const app: Application = {
    id: generateId(deps.random, "app"),
    name: normalizeDisplayName(input.name, "Application name"),
    ownerId: actor.id,
    scopes: normalizeScopes(input.scopes, []),
    createdAt: deps.clock.now(),
    returnOrigins: [],
    branding: null,
    policy: NO_POLICY,
  };
  await deps.store.applications.insertApplication(app);
  return { ...app, role: "owner" };
}

/**
 * Sets the origins portal sessions may return to and the branding host users see
 * (owners and admins). Absent fields keep their value.
 */
export async function updateApplication(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  input: {
    returnOrigins?: string[];
    branding?: Branding | null;
    policy?: { maxLifetimeDays?: number | null; revokeUnusedAfterDays?: number | null };
  },
  ctx: RequestContext = NO_CONTEXT,
): Promise<ApplicationView> {
  const { application, role } = await requireManager(
    deps,
    actor,
    applicationId,
    "Only owners and admins change an application.",
  );
  const settings: { returnOrigins?: string[]; branding?: Branding | null; policy?: TokenPolicy } =
    {};
  if (input.policy !== undefined) {
    // Absent members of `policy` keep their value, as absent fields do.
    settings.policy = {
      maxLifetimeDays: policyDays(input.policy.maxLifetimeDays, application.policy.maxLifetimeDays),
      revokeUnusedAfterDays: policyDays(
        input.policy.revokeUnusedAfterDays,
        application.policy.revokeUnusedAfterDays,
      ),
    };
  }
  if (input.returnOrigins !== undefined) {
    settings.returnOrigins = [
      ...new Set(input.returnOrigins.map((origin, position) => normalizeOrigin(origin, position))),
    ];
  }
  if (input.branding !== undefined) {
    settings.branding =
      input.branding === null
        ? null
        : {
            displayName: normalizeDisplayName(input.branding.displayName, "Display name"),
            accentColor: normalizeAccentColor(input.branding.accentColor),
          };
  }
  await deps.store.applications.updateApplicationSettings(applicationId, settings, [
    auditEvent(deps, ctx, {
      applicationId,
      userId: null,
      actorId: actor.id,
      tokenId: null,
      action: "application.updated",
      detail: {
        ...(settings.returnOrigins ? { returnOrigins: settings.returnOrigins.join(" ") } : {}),
        ...(settings.branding !== undefined
          ? { branding: settings.branding?.displayName ?? null }
          : {}),
        ...(settings.policy
          ? {
              maxLifetimeDays: settings.policy.maxLifetimeDays,
              revokeUnusedAfterDays: settings.policy.revokeUnusedAfterDays,
            }
          : {}),
      },
    }),
  ]);
  return { ...application, ...settings, role };
}

/** A policy's number of days: 1 to 3650, null for no limit, absent to keep `current`. */
function policyDays(value: number | null | undefined, current: number | null): number | null {
  if (value === undefined) return current;
  if (value === null) return null;
  if (!Number.isInteger(value) || value < 1 || value > MAX_POLICY_DAYS) {
    throw new KeywardError(
      "validation_failed",
      `policy: a number of days from 1 to ${MAX_POLICY_DAYS}, or null.`,
    );
  }
  return value;
}

export function listApplications(deps: ServiceDeps, actor: User): Promise<ApplicationMembership[]> {
  return deps.store.applications.listApplicationsForUser(actor.id);
}

export async function getApplication(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
): Promise<ApplicationView> {
  const { application, role } = await requireMembership(deps, actor, applicationId);
  return { ...application, role };
}

export async function listMembers(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
): Promise<Member[]> {
  await requireMembership(deps, actor, applicationId);
  if (actor.hostApplicationId !== undefined) {
    throw new KeywardError("forbidden", "The members of this application are not shown here.");
  }
  return deps.store.applications.listMembers(applicationId);
}

/**
 * Removes a member and revokes every token they hold in the application, in one
 * transaction, then tells every verifier. Owners and admins remove others; anyone
 * but the owner may leave.
 */
export async function removeMember(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  userId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ revokedTokenIds: string[] }> {
  const { role } = await requireMembership(deps, actor, applicationId);
  if (userId !== actor.id && !isManager(role)) {
    throw new KeywardError("forbidden", "Only owners and admins remove other members.");
  }
  const targetRole = await deps.store.applications.findRole(applicationId, userId);
  if (!targetRole) throw new KeywardError("not_found", "No such member.");
  if (targetRole === "owner") throw new KeywardError("cannot_remove_owner");
  const target = await deps.store.users.findUserById(userId);
  // A host user exists for the host's backend, which removes them with its service key;
  // leaving by themselves (or being removed here) would strand the host's record of them.
  if (target?.hostApplicationId !== undefined) {
    throw new KeywardError(
      "forbidden",
      "Host users are removed by the host's backend (DELETE /api/v1/service/users/{externalId}).",
    );
  }
  // The events name the tokens the removal revoked, so the store builds them from its
  // result, inside the removal's transaction.
  const result = await deps.store.applications.removeMember(
    {
      applicationId,
      userId,
      now: deps.clock.now(),
      revokedBy: actor.id,
    },
    (revokedTokenIds) => [
      auditEvent(deps, ctx, {
        applicationId,
        userId,
        actorId: actor.id,
        tokenId: null,
        action: "member.removed",
        reason: userId === actor.id ? "left" : "removed",
        detail: {
          email: target?.email ?? null,
          role: targetRole,
          revokedTokens: revokedTokenIds.length,
        },
      }),
      ...revokedTokenIds.map((tokenId) =>
        auditEvent(deps, ctx, {
          applicationId,
          userId,
          actorId: actor.id,
          tokenId,
          action: "token.revoked",
          reason: "member_removed",
        }),
      ),
    ],
  );
  if (!result.removed) throw new KeywardError("not_found", "No such member.");
  await deps.invalidation.tokensRevoked(result.revokedTokenIds);
  return { revokedTokenIds: result.revokedTokenIds };
}
