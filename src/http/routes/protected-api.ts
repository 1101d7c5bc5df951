import type { FastifyInstance } from "fastify";
import type { SecretRecord } from "../../core/model.js";
import type { TokenVerifier } from "../../services/verifier.js";
import { authenticateBearer, type BearerPolicy, refuseInsufficientScope } from "../bearer-auth.js";

const whoAmI = {
  type: "object",
  properties: {
    application: {
      type: "object",
      properties: { id: { type: "string" }, name: { type: "string" } },
      required: ["id", "name"],
    },
    user: {
      type: "object",
      properties: { id: { type: "string" }, email: { type: "string" } },
      required: ["id", "email"],
    },
    token: {
      type: "object",
      properties: {
        id: { type: "string" },
        name: { type: "string" },
        scopes: { type: "array", items: { type: "string" } },
      },
      required: ["id", "name", "scopes"],
    },
  },
  required: ["application", "user", "token"],
} as const;

/** The `GET /api` answer, in the order and shape of the `whoAmI` schema. */
function whoAmIOf(token: SecretRecord) {
  return {
    application: { id: token.applicationId, name: token.applicationName },
    user: { id: token.userId, email: token.userEmail },
    token: { id: token.tokenId, name: token.tokenName, scopes: token.scopes },
  };
}

/** The protected API: what an application's clients call with `Authorization: Bearer`. */
export function protectedApiRoutes(
  app: FastifyInstance,
  verifier: TokenVerifier,
  policy: BearerPolicy,
): void {
  // The answer depends on the token's record alone, and the verifier hands out the same
  // record object for as long as it caches it: the JSON is kept with the record (weakly)
  // from its second use on, instead of being built and serialized again for every
  // request (a large part of what verification added to a request). A record
  // used once, as most are when clients spread over a large store, only costs a mark.
  const bodies = new WeakMap<SecretRecord, string>();
  const usedOnce = new WeakSet<SecretRecord>();
  const bodyOf = (token: SecretRecord): string => {
    const kept = bodies.get(token);
    if (kept !== undefined) return kept;
    const body = JSON.stringify(whoAmIOf(token));
    if (usedOnce.has(token)) bodies.set(token, body);
    else usedOnce.add(token);
    return body;
  };
  app.get("/api", { schema: { response: { 200: whoAmI } } }, async (request, reply) => {
    const token = await authenticateBearer(request, reply, verifier, policy);
    if (!token) return reply;
    // A string payload skips the serializer; the type is the one Fastify gives JSON.
    return reply.type("application/json; charset=utf-8").send(bodyOf(token));
  });

  // A route that needs a scope: 200 when the token carries it, 403 insufficient_scope otherwise.
  app.get<{ Params: { scope: string } }>(
    "/api/scopes/:scope",
    {
      schema: {
        params: {
          type: "object",
          properties: { scope: { type: "string", pattern: "^[a-z0-9][a-z0-9_:.-]{0,63}$" } },
          required: ["scope"],
        },
        response: {
          200: { type: "object", properties: { scope: { type: "string" } }, required: ["scope"] },
        },
      },
    },
    async (request, reply) => {
      const token = await authenticateBearer(request, reply, verifier, policy);
      if (!token) return reply;
      if (!token.scopes.includes(request.params.scope)) {
        refuseInsufficientScope(reply, request.params.scope);
        return reply;
      }
      return { scope: request.params.scope };
    },
  );
}
