import type { FastifyInstance } from "fastify";
import type { ServiceDeps } from "../../services/deps.js";
import { MAX_LEAK_REPORT_TOKENS, reportLeakedTokens } from "../../services/leaks.js";

export interface LeakRouteOptions {
  rateLimitPerMinute: number;
}

/**
 * `POST /api/v1/leaks`: anyone (a secret scanner, a user who found a token in a
 * public repository) reports tokens; valid ones are revoked. Public, rate-limited,
 * and the same answer whatever the tokens were.
 */
export function leakRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  options: LeakRouteOptions,
): void {
  app.post<{ Body: { tokens: string[] } }>(
    "/api/v1/leaks",
    {
      config: { rateLimit: { max: options.rateLimitPerMinute, timeWindow: 60_000 } },
      // Room for 1000 tokens of up to 256 characters each.
      bodyLimit: 300_000,
      schema: {
        body: {
          type: "object",
          additionalProperties: false,
          required: ["tokens"],
          properties: {
            tokens: {
              type: "array",
              minItems: 1,
              maxItems: MAX_LEAK_REPORT_TOKENS,
              items: { type: "string", maxLength: 256 },
            },
          },
        },
        response: {
          202: {
            type: "object",
            properties: { received: { type: "integer" } },
            required: ["received"],
          },
        },
      },
    },
    async (request, reply) => {
      const result = await reportLeakedTokens(deps, request.body.tokens, { ip: request.ip });
      return reply.code(202).header("cache-control", "no-store").send(result);
    },
  );
}
