import type { FastifyInstance } from "fastify";
import type { TokenVerifier } from "../../services/verifier.js";
import { isoOrNull } from "../wire.js";

export interface VerifyRouteOptions {
  /** Verifications per client address per minute. */
  rateLimitPerMinute: number;
}

const INVALID = { valid: false, code: "invalid_token" } as const;

/** `POST /api/v1/verify`: how other services check a token. One answer for every kind of invalid. */
export function verifyRoutes(
  app: FastifyInstance,
  verifier: TokenVerifier,
  options: VerifyRouteOptions,
): void {
  app.post<{ Body: { token: string } }>(
    "/api/v1/verify",
    {
      config: { rateLimit: { max: options.rateLimitPerMinute, timeWindow: 60_000 } },
      schema: {
        body: {
          type: "object",
          additionalProperties: false,
          required: ["token"],
          properties: { token: { type: "string", maxLength: 256 } },
        },
        response: {
          200: {
            type: "object",
            properties: {
              valid: { type: "boolean" },
              code: { type: "string" },
              applicationId: { type: "string" },
              userId: { type: "string" },
              tokenId: { type: "string" },
              scopes: { type: "array", items: { type: "string" } },
              expiresAt: { type: ["string", "null"] },
            },
            required: ["valid"],
          },
        },
      },
    },
    async (request, reply) => {
      reply.header("cache-control", "no-store");
      const result = await verifier.verify(request.body.token);
      if (!result.ok) {
        reply.tokenRefusal = { reason: result.reason, tokenId: result.tokenId };
        return INVALID;
      }
      const token = result.token;
      return {
        valid: true,
        applicationId: token.applicationId,
        userId: token.userId,
        tokenId: token.tokenId,
        scopes: token.scopes,
        expiresAt: isoOrNull(token.expiresAt),
      };
    },
  );
}
