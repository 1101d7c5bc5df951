import {
  acceptInvitationRoute,
  addMemberRoute,
  createApplicationRoute,
  declineInvitationRoute,
  getApplicationRoute,
  listApplicationsRoute,
  listInvitationsRoute,
  listMembersRoute,
  listMyInvitationsRoute,
  removeMemberRoute,
  updateApplicationRoute,
  withdrawInvitationRoute,
} from "../../contract/index.js";
import { requireRecentSignIn } from "../../services/accounts.js";
import {
  createApplication,
  getApplication,
  listApplications,
  listMembers,
  removeMember,
  updateApplication,
} from "../../services/applications.js";
import {
  acceptInvitation,
  declineInvitation,
  inviteMember,
  listInvitations,
  listMyInvitations,
  withdrawInvitation,
} from "../../services/invitations.js";
import type { InvitationRecord } from "../../services/ports.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { type ManagementContext, requireUser } from "../session.js";
import { toWireMember } from "../wire.js";

export function applicationRoutes(
  api: ContractApp,
  { deps, session: options }: ManagementContext,
): void {
  api.route({
    ...routeOptions(createApplicationRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      return reply.code(201).send(await createApplication(deps, user, request.body));
    },
  });

  api.route({
    ...routeOptions(listApplicationsRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      return { applications: await listApplications(deps, user) };
    },
  });

  api.route({
    ...routeOptions(getApplicationRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      return getApplication(deps, user, request.params.appId);
    },
  });

  api.route({
    ...routeOptions(updateApplicationRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      if (
        request.body.returnOrigins !== undefined ||
        request.body.branding !== undefined ||
        request.body.policy !== undefined
      ) {
        requireRecentSignIn(deps, request.session);
      }
      return updateApplication(deps, user, request.params.appId, request.body, {
        ip: request.ip,
      });
    },
  });

  api.route({
    ...routeOptions(listMembersRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      const members = await listMembers(deps, user, request.params.appId);
      return { members: members.map(toWireMember) };
    },
  });

  api.route({
    ...routeOptions(addMemberRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      if (request.body.role === "admin") requireRecentSignIn(deps, request.session);
      const invitation = await inviteMember(deps, user, request.params.appId, request.body, {
        ip: request.ip,
      });
      return reply.code(201).send({ invitation: toWireInvitation(invitation) });
    },
  });

  api.route({
    ...routeOptions(removeMemberRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await removeMember(deps, user, request.params.appId, request.params.userId, {
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(listInvitationsRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      const invitations = await listInvitations(deps, user, request.params.appId);
      reply.header("cache-control", "no-store");
      return { invitations: invitations.map(toWireInvitation) };
    },
  });

  api.route({
    ...routeOptions(withdrawInvitationRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await withdrawInvitation(deps, user, request.params.appId, request.params.invitationId, {
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(listMyInvitationsRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      const invitations = await listMyInvitations(deps, user);
      reply.header("cache-control", "no-store");
      return {
        invitations: invitations.map((i) => ({
          id: i.id,
          applicationId: i.applicationId,
          applicationName: i.applicationName,
          inviterEmail: i.inviterEmail,
          role: i.role,
          createdAt: new Date(i.createdAt).toISOString(),
          expiresAt: new Date(i.expiresAt).toISOString(),
        })),
      };
    },
  });

  api.route({
    ...routeOptions(acceptInvitationRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      const invitation = await acceptInvitation(deps, user, request.params.invitationId, {
        ip: request.ip,
      });
      const application = await getApplication(deps, user, invitation.applicationId);
      return reply
        .code(201)
        .send({ id: application.id, name: application.name, role: application.role });
    },
  });

  api.route({
    ...routeOptions(declineInvitationRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await declineInvitation(deps, user, request.params.invitationId, { ip: request.ip });
      return reply.code(204).send(null);
    },
  });
}

function toWireInvitation(invitation: InvitationRecord) {
  return {
    id: invitation.id,
    email: invitation.email,
    role: invitation.role,
    createdAt: new Date(invitation.createdAt).toISOString(),
    expiresAt: new Date(invitation.expiresAt).toISOString(),
  };
}
