import { reportLeaksRoute } from "../../contract/index.js";
import type { ServiceDeps } from "../../services/deps.js";
import { reportLeakedTokens } from "../../services/leaks.js";
import { type ContractApp, routeOptions } from "../contract-route.js";

export interface LeakRouteOptions {
  rateLimitPerMinute: number;
}

/**
 * `POST /api/v1/leaks`: anyone (a secret scanner, a user who found a token in a
 * public repository) reports tokens; valid ones are revoked. Public, rate-limited,
 * and the same answer whatever the tokens were.
 */
export function leakRoutes(api: ContractApp, deps: ServiceDeps, options: LeakRouteOptions): void {
  api.route({
    ...routeOptions(reportLeaksRoute),
    config: { rateLimit: { max: options.rateLimitPerMinute, timeWindow: 60_000 } },
    // Room for a full report of the longest tokens the schema accepts.
    bodyLimit: 300_000,
    handler: async (request, reply) => {
      const result = await reportLeakedTokens(deps, request.body.tokens, { ip: request.ip });
      return reply.code(202).header("cache-control", "no-store").send(result);
    },
  });
}
