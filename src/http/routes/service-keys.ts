import {
  createServiceKeyRoute,
  listServiceKeysRoute,
  revokeServiceKeyRoute,
} from "../../contract/index.js";
import { requireRecentSignIn } from "../../services/accounts.js";
import {
  createServiceKey,
  listServiceKeys,
  revokeServiceKey,
} from "../../services/service-keys.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { type ManagementContext, requireUser } from "../session.js";
import { toWireServiceKey } from "../wire.js";

/** An application's service keys, managed by its owners and admins with a session. */
export function serviceKeyRoutes(api: ContractApp, { deps, session: options }: ManagementContext) {
  api.route({
    ...routeOptions(createServiceKeyRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      requireRecentSignIn(deps, request.session);
      const issued = await createServiceKey(deps, user, request.params.appId, request.body, {
        ip: request.ip,
      });
      // The plaintext exists in this one answer: no cache may keep it.
      return reply
        .code(201)
        .header("cache-control", "no-store")
        .send({ key: issued.key, serviceKey: toWireServiceKey(issued.record) });
    },
  });

  api.route({
    ...routeOptions(listServiceKeysRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      const keys = await listServiceKeys(deps, user, request.params.appId);
      reply.header("cache-control", "no-store");
      return { serviceKeys: keys.map(toWireServiceKey) };
    },
  });

  api.route({
    ...routeOptions(revokeServiceKeyRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await revokeServiceKey(deps, user, request.params.appId, request.params.keyId, {
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  });
}
