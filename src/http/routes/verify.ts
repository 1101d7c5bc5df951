import type { FastifyReply } from "fastify";
import { type Verification, verifyRoute } from "../../contract/index.js";
import type { TokenVerifier, VerifyResult } from "../../services/verifier.js";
import { verifiedClientAddress } from "../client-address.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { isoOrNull } from "../wire.js";

export interface VerifyRouteOptions {
  /** Verifications per client address per minute. */
  rateLimitPerMinute: number;
}

const INVALID: Verification = { valid: false, code: "invalid_token" };

/** `POST /api/v1/verify`: how other services check a token. One answer for every kind of invalid. */
export function verifyRoutes(
  api: ContractApp,
  verifier: TokenVerifier,
  options: VerifyRouteOptions,
): void {
  api.route({
    ...routeOptions(verifyRoute),
    config: { rateLimit: { max: options.rateLimitPerMinute, timeWindow: 60_000 } },
    // Without a promise when the verifier answers from memory (`TokenVerifier.verifyNow`).
    handler: (request, reply) => {
      reply.header("cache-control", "no-store");
      const result = verifier.verifyNow(
        request.body.token,
        verifiedClientAddress(request.body.clientAddress, request.ip),
        request.body.applicationId,
      );
      return result instanceof Promise
        ? result.then((settled) => verificationOf(settled, reply))
        : verificationOf(result, reply);
    },
  });
}

/** The answer for a verification: one for every kind of invalid, the refusal's reason logged. */
function verificationOf(result: VerifyResult, reply: FastifyReply): Verification {
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
}
