import type { FastifyReply } from "fastify";
import { scopeCheckRoute, type WhoAmI, whoAmIRoute } from "../../contract/index.js";
import type { SecretRecord } from "../../core/model.js";
import type { TokenVerifier } from "../../services/verifier.js";
import { authenticateBearer, type BearerPolicy, refuseInsufficientScope } from "../bearer-auth.js";
import { type ContractApp, routeOptions } from "../contract-route.js";

/** The `GET /api` answer, in the order and shape of the contract's `WhoAmI`. */
function whoAmIOf(token: SecretRecord): WhoAmI {
  return {
    application: { id: token.applicationId, name: token.applicationName },
    user: { id: token.userId, email: token.userEmail },
    token: { id: token.tokenId, name: token.tokenName, scopes: token.scopes },
  };
}

/** The protected API: what an application's clients call with `Authorization: Bearer`. */
export function protectedApiRoutes(
  api: ContractApp,
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
  // Without a promise when the verifier answers from memory (see `authenticateBearer`).
  // After a storage read, the handler's promise gives Fastify the reply, as it asks of a
  // promise whose handler sent: it then waits for the sending (an asynchronous `onSend`
  // hook, say) instead of sending a second time.
  const answerWhoAmI = (token: SecretRecord | undefined, reply: FastifyReply): undefined => {
    if (!token) return undefined;
    // A string payload skips the serializer; the type is the one Fastify gives JSON. The
    // answer names the token's user and the token: no cache may keep it.
    reply
      .header("cache-control", "no-store")
      .type("application/json; charset=utf-8")
      .send(bodyOf(token));
    return undefined;
  };
  api.route({
    ...routeOptions(whoAmIRoute),
    handler: (request, reply) => {
      const token = authenticateBearer(request, reply, verifier, policy);
      if (!(token instanceof Promise)) return answerWhoAmI(token, reply);
      return (async () => {
        answerWhoAmI(await token, reply);
        return reply;
      })();
    },
  });

  // A route that needs a scope: 200 when the token carries it, 403 insufficient_scope otherwise.
  const answerScopeCheck = (
    token: SecretRecord | undefined,
    scope: string,
    reply: FastifyReply,
  ): undefined => {
    if (!token) return undefined;
    if (!token.scopes.includes(scope)) return refuseInsufficientScope(reply, scope);
    reply.header("cache-control", "no-store").send({ scope });
    return undefined;
  };
  api.route({
    ...routeOptions(scopeCheckRoute),
    handler: (request, reply) => {
      const token = authenticateBearer(request, reply, verifier, policy);
      const { scope } = request.params;
      if (!(token instanceof Promise)) return answerScopeCheck(token, scope, reply);
      return (async () => {
        answerScopeCheck(await token, scope, reply);
        return reply;
      })();
    },
  });
}
