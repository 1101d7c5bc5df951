import { KeywardError } from "../core/errors.js";
import { generateId } from "../core/ids.js";
import type { User } from "../core/model.js";
import { normalizeEmail } from "../core/rules.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import { emailConfirmationPending, requireConfirmedEmail } from "./email.js";
import { requireManager } from "./membership.js";
import type { InvitationRecord, ReceivedInvitation } from "./ports.js";

/** An invitation is good for 7 days. */
export const INVITATION_TTL_MS = 7 * 24 * 3_600_000;

/**
 * Invites an email to the application. The answer is the same whether or not an account
 * has that email (nothing tells the inviter), and nobody becomes a member until the
 * invitee accepts; inviting the same email again replaces the pending invitation.
 */
export async function inviteMember(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  input: { email: string; role: "admin" | "member" },
  ctx: RequestContext = NO_CONTEXT,
): Promise<InvitationRecord> {
  await requireManager(deps, actor, applicationId, "Only owners and admins invite members.");
  const email = normalizeEmail(input.email);
  // Someone already a member is in the member list the inviter sees: saying so reveals nothing.
  const members = await deps.store.applications.listMembers(applicationId);
  if (members.some((m) => m.email === email)) throw new KeywardError("already_member");
  const now = deps.clock.now();
  const invitation: InvitationRecord = {
    id: generateId(deps.random, "inv"),
    applicationId,
    email,
    role: input.role,
    inviterId: actor.id,
    createdAt: now,
    expiresAt: now + INVITATION_TTL_MS,
  };
  await deps.store.invitations.putInvitation(invitation, [
    auditEvent(deps, ctx, {
      applicationId,
      userId: null,
      actorId: actor.id,
      tokenId: null,
      action: "member.invited",
      detail: { email, role: input.role },
    }),
  ]);
  return invitation;
}

export async function listInvitations(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
): Promise<InvitationRecord[]> {
  await requireManager(deps, actor, applicationId, "Only owners and admins see invitations.");
  return deps.store.invitations.listForApplication(applicationId, deps.clock.now());
}

export async function withdrawInvitation(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  invitationId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  await requireManager(deps, actor, applicationId, "Only owners and admins withdraw invitations.");
  const taken = await deps.store.invitations.takeInvitation(
    { id: invitationId, applicationId, now: deps.clock.now() },
    (invitation) => [
      auditEvent(deps, ctx, {
        applicationId,
        userId: null,
        actorId: actor.id,
        tokenId: null,
        action: "invitation.withdrawn",
        detail: { email: invitation.email, role: invitation.role },
      }),
    ],
  );
  if (!taken) throw new KeywardError("not_found", "No such invitation.");
}

/** The invitations to the signed-in user's email. A host user has none. */
export async function listMyInvitations(
  deps: ServiceDeps,
  user: User,
): Promise<ReceivedInvitation[]> {
  if (user.hostApplicationId !== undefined) return [];
  // With email on, an address nobody has confirmed may not be this account's holder's:
  // what was sent to it (the application, the inviter, the role) stays unseen until then.
  if (await emailConfirmationPending(deps, user)) return [];
  const invitations = await deps.store.invitations.listForEmail(user.email, deps.clock.now());
  // Until addresses are confirmed by email, whoever signs up with an address could claim
  // what was sent to it: an invitation goes only to an account that already existed when
  // it was sent (invite a person after they sign up).
  return invitations.filter((invitation) => invitation.createdAt >= user.createdAt);
}

/** not_found unless the invitation is among those `listMyInvitations` shows the user. */
async function requireVisible(deps: ServiceDeps, user: User, invitationId: string): Promise<void> {
  const visible = await listMyInvitations(deps, user);
  if (!visible.some((invitation) => invitation.id === invitationId))
    throw new KeywardError("not_found", "No such invitation.");
}

/** Accepts an invitation to the user's own email: they are a member from now on. */
export async function acceptInvitation(
  deps: ServiceDeps,
  user: User,
  invitationId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<InvitationRecord> {
  if (user.hostApplicationId !== undefined)
    throw new KeywardError("not_found", "No such invitation.");
  // With email on, an invitation goes to whoever controls the address: the account must
  // have opened the link sent there. (It can be invited before, and accept after.)
  await requireConfirmedEmail(deps, user);
  await requireVisible(deps, user, invitationId);
  const taken = await deps.store.invitations.takeInvitation(
    { id: invitationId, email: user.email, now: deps.clock.now() },
    (invitation) => [
      auditEvent(deps, ctx, {
        applicationId: invitation.applicationId,
        userId: user.id,
        actorId: invitation.inviterId,
        tokenId: null,
        action: "member.added",
        detail: { email: user.email, role: invitation.role, invitation: invitation.id },
      }),
    ],
    { userId: user.id },
  );
  if (!taken) throw new KeywardError("not_found", "No such invitation.");
  if (taken.alreadyMember) throw new KeywardError("already_member");
  return taken;
}

export async function declineInvitation(
  deps: ServiceDeps,
  user: User,
  invitationId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  if (user.hostApplicationId !== undefined)
    throw new KeywardError("not_found", "No such invitation.");
  // Declining deletes it: only whoever may accept it may do that.
  await requireConfirmedEmail(deps, user);
  await requireVisible(deps, user, invitationId);
  const taken = await deps.store.invitations.takeInvitation(
    { id: invitationId, email: user.email, now: deps.clock.now() },
    (invitation) => [
      auditEvent(deps, ctx, {
        applicationId: invitation.applicationId,
        userId: user.id,
        actorId: user.id,
        tokenId: null,
        action: "invitation.declined",
        detail: { email: user.email, role: invitation.role },
      }),
    ],
  );
  if (!taken) throw new KeywardError("not_found", "No such invitation.");
}
