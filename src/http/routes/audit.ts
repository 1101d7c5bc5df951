import { accountAuditRoute, applicationAuditRoute } from "../../contract/index.js";
import { listAccountAudit, listApplicationAudit } from "../../services/audit.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { type ManagementContext, requireUser } from "../session.js";
import { toWireAuditEvent } from "../wire.js";

export function auditRoutes(api: ContractApp, { deps, session: options }: ManagementContext): void {
  api.route({
    ...routeOptions(applicationAuditRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      const { limit, ...filter } = request.query;
      const page = await listApplicationAudit(deps, user, request.params.appId, {
        ...filter,
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
      return {
        events: page.events.map(toWireAuditEvent),
        nextBefore: page.nextBefore,
        total: page.total,
      };
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
      return {
        events: page.events.map(toWireAuditEvent),
        nextBefore: page.nextBefore,
        total: page.total,
      };
    },
  });
}
