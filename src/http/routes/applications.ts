import {
  addMemberRoute,
  createApplicationRoute,
  getApplicationRoute,
  listApplicationsRoute,
  listMembersRoute,
  removeMemberRoute,
  updateApplicationRoute,
} from "../../contract/index.js";
import { requireRecentSignIn } from "../../services/accounts.js";
import {
  addMember,
  createApplication,
  getApplication,
  listApplications,
  listMembers,
  removeMember,
  updateApplication,
} from "../../services/applications.js";
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
      if (request.body.returnOrigins !== undefined || request.body.branding !== undefined) {
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
      const member = await addMember(deps, user, request.params.appId, request.body, {
        ip: request.ip,
      });
      return reply.code(201).send(toWireMember(member));
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
}
