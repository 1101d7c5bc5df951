import type { FastifyReply, FastifyRequest } from "fastify";
import {
  createHostUserTokenRoute,
  createPortalSessionRoute,
  getHostUserRoute,
  listHostUserTokensRoute,
  removeHostUserRoute,
  revokeServiceTokenRoute,
  type ServiceVerification,
  serviceVerifyRoute,
  upsertHostUserRoute,
} from "../../contract/index.js";
import type { ServiceDeps } from "../../services/deps.js";
import {
  createHostUserToken,
  createPortalSession,
  getHostUser,
  listHostUserTokens,
  removeHostUser,
  revokeTokenAsService,
  type ServiceCaller,
  upsertHostUser,
  verifyAsService,
} from "../../services/host.js";
import type { TokenVerifier, VerifyResult } from "../../services/verifier.js";
import { verifiedClientAddress } from "../client-address.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { requireServiceKey } from "../service-auth.js";
import { isoOrNull, parseTimestamp, toApiToken, toWireHostUser } from "../wire.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set on `/api/v1/service/` routes once the service key is accepted. */
    serviceCaller: ServiceCaller | null;
  }
}

export interface ServiceRouteContext {
  deps: ServiceDeps;
  verifier: TokenVerifier;
  /** Keyward's own origin for portal links; the request's when unset. */
  publicOrigin: string | undefined;
}

const INVALID: ServiceVerification = { valid: false, code: "invalid_token" };

/** The caller, authenticated by the group's hook before any handler runs. */
export function serviceCallerOf(request: FastifyRequest): ServiceCaller {
  const caller = request.serviceCaller;
  if (caller === null) throw new Error("service route registered outside the service group");
  return caller;
}

/**
 * The host's backend, with a service key: its users, their tokens, verification and portal
 * links. Registered in a group whose hook authenticates the key (service-auth.ts); every
 * answer is `no-store`. Never limited per address: a host's API servers share addresses.
 */
export function serviceRoutes(api: ContractApp, ctx: ServiceRouteContext): void {
  const { deps, verifier } = ctx;
  api.decorateRequest("serviceCaller", null);
  api.addHook("onRequest", async (request, reply) => {
    reply.header("cache-control", "no-store");
    request.serviceCaller = await requireServiceKey(request, deps);
  });

  api.route({
    ...routeOptions(upsertHostUserRoute),
    handler: async (request, reply) => {
      const result = await upsertHostUser(
        deps,
        serviceCallerOf(request),
        request.params.externalId,
        request.body,
        { ip: request.ip },
      );
      return reply.code(result.created ? 201 : 200).send({ user: toWireHostUser(result.user) });
    },
  });

  api.route({
    ...routeOptions(getHostUserRoute),
    handler: async (request) => {
      const user = await getHostUser(deps, serviceCallerOf(request), request.params.externalId);
      return { user: toWireHostUser(user) };
    },
  });

  api.route({
    ...routeOptions(removeHostUserRoute),
    handler: async (request, reply) => {
      await removeHostUser(deps, serviceCallerOf(request), request.params.externalId, {
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(listHostUserTokensRoute),
    handler: async (request) => {
      const tokens = await listHostUserTokens(
        deps,
        serviceCallerOf(request),
        request.params.externalId,
      );
      const now = deps.clock.now();
      return { tokens: tokens.map((token) => toApiToken(token, now)) };
    },
  });

  api.route({
    ...routeOptions(createHostUserTokenRoute),
    handler: async (request, reply) => {
      const { expiresAt, ...rest } = request.body;
      const issued = await createHostUserToken(
        deps,
        serviceCallerOf(request),
        request.params.externalId,
        { ...rest, expiresAt: expiresAt ? parseTimestamp(expiresAt, "expiresAt") : null },
        { ip: request.ip },
      );
      return reply.code(201).send({
        token: issued.token,
        apiToken: toApiToken(issued.record, deps.clock.now()),
      });
    },
  });

  api.route({
    ...routeOptions(revokeServiceTokenRoute),
    handler: async (request, reply) => {
      await revokeTokenAsService(deps, serviceCallerOf(request), request.params.tokenId, {
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(serviceVerifyRoute),
    // Without a promise when the verifier answers from memory (`TokenVerifier.verifyNow`).
    handler: (request, reply) => {
      const result = verifyAsService(
        verifier,
        serviceCallerOf(request),
        request.body.token,
        verifiedClientAddress(request.body.clientAddress, request.ip),
      );
      return result instanceof Promise
        ? result.then((settled) => serviceVerificationOf(settled, reply))
        : serviceVerificationOf(result, reply);
    },
  });

  api.route({
    ...routeOptions(createPortalSessionRoute),
    handler: async (request, reply) => {
      const { code, expiresAt } = await createPortalSession(
        deps,
        serviceCallerOf(request),
        request.body,
        { ip: request.ip },
      );
      const origin = ctx.publicOrigin ?? `${request.protocol}://${request.host}`;
      return reply
        .code(201)
        .send({ url: `${origin}/portal/${code}`, expiresAt: new Date(expiresAt).toISOString() });
    },
  });
}

/** The service verify's answer: `externalId` besides what `POST /api/v1/verify` says. */
function serviceVerificationOf(result: VerifyResult, reply: FastifyReply): ServiceVerification {
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
    externalId: token.externalId,
  };
}
