import type { FastifyInstance } from "fastify";
import type { ServiceDeps } from "../../services/deps.js";
import {
  createToken,
  getToken,
  getTokenUsage,
  listTokens,
  MAX_GRACE_SECONDS,
  regenerateToken,
  revokeToken,
} from "../../services/tokens.js";
import type { AbuseGuard } from "../abuse.js";
import { apiTokenSchema, idParam, issuedTokenSchema, scopesInput } from "../schemas.js";
import { requireUser, type SessionOptions } from "../session.js";
import { isoOrNull, toApiToken } from "../wire.js";

const appParams = {
  type: "object",
  properties: { appId: idParam("app") },
  required: ["appId"],
} as const;

const tokenParams = {
  type: "object",
  properties: { appId: idParam("app"), tokenId: idParam("tok") },
  required: ["appId", "tokenId"],
} as const;

type TokenParams = { appId: string; tokenId: string };

export function tokenRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  options: SessionOptions,
  abuse: AbuseGuard,
): void {
  app.post<{
    Params: { appId: string };
    Body: { name: string; scopes?: string[]; expiresAt?: string | null };
  }>(
    "/api/v1/applications/:appId/tokens",
    {
      schema: {
        params: appParams,
        body: {
          type: "object",
          additionalProperties: false,
          required: ["name"],
          properties: {
            name: { type: "string", maxLength: 400 },
            scopes: scopesInput,
            expiresAt: { anyOf: [{ type: "string", format: "date-time" }, { type: "null" }] },
          },
        },
        response: { 201: issuedTokenSchema },
      },
    },
    async (request, reply) => {
      const user = requireUser(request, options);
      await abuse.checkTokenCreation(request);
      const { expiresAt, ...rest } = request.body;
      const issued = await createToken(
        deps,
        user,
        request.params.appId,
        {
          ...rest,
          expiresAt: expiresAt ? Date.parse(expiresAt) : null,
        },
        { ip: request.ip },
      );
      // The plaintext exists in this one response; no cache may keep it.
      reply.header("cache-control", "no-store");
      return reply
        .code(201)
        .send({ token: issued.token, apiToken: toApiToken(issued.record, deps.clock.now()) });
    },
  );

  app.get<{ Params: { appId: string }; Querystring: { all?: string } }>(
    "/api/v1/applications/:appId/tokens",
    {
      schema: {
        params: appParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { all: { type: "string", enum: ["0", "1", "true", "false"] } },
        },
        response: {
          200: {
            type: "object",
            properties: { tokens: { type: "array", items: apiTokenSchema } },
            required: ["tokens"],
          },
        },
      },
    },
    async (request) => {
      const user = requireUser(request, options);
      const all = request.query.all === "1" || request.query.all === "true";
      const tokens = await listTokens(deps, user, request.params.appId, { all });
      const now = deps.clock.now();
      return { tokens: tokens.map((t) => toApiToken(t, now, all)) };
    },
  );

  app.get<{ Params: TokenParams }>(
    "/api/v1/applications/:appId/tokens/:tokenId",
    { schema: { params: tokenParams, response: { 200: apiTokenSchema } } },
    async (request) => {
      const user = requireUser(request, options);
      const token = await getToken(deps, user, request.params.appId, request.params.tokenId);
      // A single token always names its owner: the caller is that owner or manages the application.
      return toApiToken(token, deps.clock.now(), true);
    },
  );

  app.delete<{ Params: TokenParams }>(
    "/api/v1/applications/:appId/tokens/:tokenId",
    { schema: { params: tokenParams, response: { 204: { type: "null" } } } },
    async (request, reply) => {
      const user = requireUser(request, options);
      await revokeToken(deps, user, request.params.appId, request.params.tokenId, {
        ip: request.ip,
      });
      return reply.code(204).send();
    },
  );

  app.post<{ Params: TokenParams; Body: { graceSeconds?: number } | undefined }>(
    "/api/v1/applications/:appId/tokens/:tokenId/regenerate",
    {
      schema: {
        params: tokenParams,
        body: {
          type: ["object", "null"],
          additionalProperties: false,
          properties: { graceSeconds: { type: "integer", minimum: 0, maximum: MAX_GRACE_SECONDS } },
        },
        response: { 201: issuedTokenSchema },
      },
    },
    async (request, reply) => {
      const user = requireUser(request, options);
      const issued = await regenerateToken(
        deps,
        user,
        request.params.appId,
        request.params.tokenId,
        { graceSeconds: request.body?.graceSeconds ?? 0 },
        { ip: request.ip },
      );
      reply.header("cache-control", "no-store");
      return reply
        .code(201)
        .send({ token: issued.token, apiToken: toApiToken(issued.record, deps.clock.now()) });
    },
  );

  app.get<{ Params: TokenParams; Querystring: { days?: string } }>(
    "/api/v1/applications/:appId/tokens/:tokenId/usage",
    {
      schema: {
        params: tokenParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          // Query values arrive as text; bodies are not coerced, so the number is parsed here.
          properties: { days: { type: "string", pattern: "^[0-9]{1,3}$" } },
        },
        response: {
          200: {
            type: "object",
            properties: {
              total: { type: "integer" },
              lastUsedAt: { type: ["string", "null"] },
              daily: {
                type: "array",
                items: {
                  type: "object",
                  properties: { date: { type: "string" }, requests: { type: "integer" } },
                  required: ["date", "requests"],
                },
              },
            },
            required: ["total", "lastUsedAt", "daily"],
          },
        },
      },
    },
    async (request) => {
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
  );
}
