import {
  applicationUsageRoute,
  createTokenRoute,
  getTokenRoute,
  listTokensRoute,
  regenerateTokenRoute,
  revokeTokenRoute,
  tokenUsageRoute,
} from "../../contract/index.js";
import {
  createToken,
  getToken,
  getTokenUsage,
  getUsageOfTokens,
  type IssuedToken,
  listTokens,
  regenerateToken,
  revokeToken,
} from "../../services/tokens.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { type ManagementContext, requireUser } from "../session.js";
import { isoOrNull, parseTimestamp, toApiToken } from "../wire.js";

export function tokenRoutes(
  api: ContractApp,
  { deps, session: options, abuse }: ManagementContext,
): void {
  // The plaintext exists in this one answer (sent with no-store: no cache may keep it).
  const issuedBody = (issued: IssuedToken) => ({
    token: issued.token,
    apiToken: toApiToken(issued.record, deps.clock.now()),
  });

  api.route({
    ...routeOptions(createTokenRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await abuse.checkTokenCreation(request);
      const { expiresAt, ...rest } = request.body;
      const issued = await createToken(
        deps,
        user,
        request.params.appId,
        {
          ...rest,
          expiresAt: expiresAt ? parseTimestamp(expiresAt, "expiresAt") : null,
        },
        { ip: request.ip },
      );
      return reply.code(201).header("cache-control", "no-store").send(issuedBody(issued));
    },
  });

  api.route({
    ...routeOptions(listTokensRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      const all = request.query.all === "1" || request.query.all === "true";
      const tokens = await listTokens(deps, user, request.params.appId, { all });
      const now = deps.clock.now();
      return { tokens: tokens.map((t) => toApiToken(t, now, all)) };
    },
  });

  api.route({
    ...routeOptions(getTokenRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      const token = await getToken(deps, user, request.params.appId, request.params.tokenId);
      // A single token always names its owner: the caller is that owner or manages the application.
      return toApiToken(token, deps.clock.now(), true);
    },
  });

  api.route({
    ...routeOptions(revokeTokenRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await revokeToken(deps, user, request.params.appId, request.params.tokenId, {
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(regenerateTokenRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      const issued = await regenerateToken(
        deps,
        user,
        request.params.appId,
        request.params.tokenId,
        { graceSeconds: request.body?.graceSeconds ?? 0 },
        { ip: request.ip },
      );
      return reply.code(201).header("cache-control", "no-store").send(issuedBody(issued));
    },
  });

  api.route({
    ...routeOptions(tokenUsageRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      const usage = await getTokenUsage(
        deps,
        user,
        request.params.appId,
        request.params.tokenId,
        request.query.days === undefined ? 30 : Number(request.query.days),
      );
      return { total: usage.total, lastUsedAt: isoOrNull(usage.lastUsedAt), daily: usage.daily };
    },
  });

  api.route({
    ...routeOptions(applicationUsageRoute),
    handler: async (request) => {
      const user = requireUser(request, options);
      const { days, all, tokenIds } = request.query;
      const tokens = await getUsageOfTokens(deps, user, request.params.appId, {
        all: all === "1" || all === "true",
        ...(tokenIds === undefined ? {} : { tokenIds: tokenIds.split(",") }),
        days: days === undefined ? 30 : Number(days),
      });
      return { tokens };
    },
  });
}
