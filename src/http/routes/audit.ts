import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { accountAuditRoute, applicationAuditRoute } from "../../contract/index.js";
import { listAccountAudit, listApplicationAudit } from "../../services/audit.js";
import type { ServiceDeps } from "../../services/deps.js";
import { routeOptions } from "../contract-route.js";
import { requireUser, type SessionOptions } from "../session.js";
import { toWireAuditEvent } from "../wire.js";

export function auditRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  options: SessionOptions,
): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.route({
    ...routeOptions(applicationAuditRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      const { limit, ...filter } = request.query;
      const page = await listApplicationAudit(deps, user, request.params.appId, {
        ...filter,
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
      return { events: page.events.map(toWireAuditEvent), nextBefore: page.nextBefore };
    },
  });

  api.route({
    ...routeOptions(accountAuditRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      const { limit, before } = request.query;
      const page = await listAccountAudit(deps, user, {
        ...(before === undefined ? {} : { before }),
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
      return { events: page.events.map(toWireAuditEvent), nextBefore: page.nextBefore };
    },
  });
}
