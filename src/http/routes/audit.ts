import type { FastifyInstance } from "fastify";
import { listAccountAudit, listApplicationAudit } from "../../services/audit.js";
import type { ServiceDeps } from "../../services/deps.js";
import type { AuditAction } from "../../services/ports.js";
import { idParam } from "../schemas.js";
import { requireUser, type SessionOptions } from "../session.js";
import { toWireAuditEvent } from "../wire.js";

const ACTIONS: AuditAction[] = [
  "signup",
  "signin.succeeded",
  "signin.failed",
  "token.created",
  "token.regenerated",
  "token.revoked",
  "token.exposed",
  "member.added",
  "member.removed",
];

const pageResponse = {
  type: "object",
  properties: {
    events: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: { type: "string" },
          action: { type: "string" },
          createdAt: { type: "string" },
          actor: {
            type: ["object", "null"],
            properties: { id: { type: "string" }, email: { type: ["string", "null"] } },
          },
          userId: { type: ["string", "null"] },
          tokenId: { type: ["string", "null"] },
          tokenName: { type: ["string", "null"] },
          reason: { type: ["string", "null"] },
          detail: { type: "object", additionalProperties: true },
          ip: { type: ["string", "null"] },
        },
        required: [
          "id",
          "action",
          "createdAt",
          "actor",
          "userId",
          "tokenId",
          "tokenName",
          "reason",
          "detail",
          "ip",
        ],
      },
    },
    nextBefore: { type: ["string", "null"] },
  },
  required: ["events", "nextBefore"],
} as const;

const pagination = {
  before: { type: "string", maxLength: 64 },
  limit: { type: "string", pattern: "^[0-9]{1,6}$" },
} as const;

type PageQuery = { before?: string; limit?: string };

export function auditRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  options: SessionOptions,
): void {
  app.get<{
    Params: { appId: string };
    Querystring: PageQuery & { tokenId?: string; action?: AuditAction };
  }>(
    "/api/v1/applications/:appId/audit",
    {
      schema: {
        params: { type: "object", properties: { appId: idParam("app") }, required: ["appId"] },
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            ...pagination,
            tokenId: idParam("tok"),
            action: { type: "string", enum: ACTIONS },
          },
        },
        response: { 200: pageResponse },
      },
    },
    async (request) => {
      const user = requireUser(request, options);
      const { limit, ...filter } = request.query;
      const page = await listApplicationAudit(deps, user, request.params.appId, {
        ...filter,
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
      return { events: page.events.map(toWireAuditEvent), nextBefore: page.nextBefore };
    },
  );

  app.get<{ Querystring: PageQuery }>(
    "/api/v1/me/audit",
    {
      schema: {
        querystring: { type: "object", additionalProperties: false, properties: pagination },
        response: { 200: pageResponse },
      },
    },
    async (request) => {
      const user = requireUser(request, options);
      const { limit, before } = request.query;
      const page = await listAccountAudit(deps, user, {
        ...(before === undefined ? {} : { before }),
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
      return { events: page.events.map(toWireAuditEvent), nextBefore: page.nextBefore };
    },
  );
}
