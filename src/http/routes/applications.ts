import type { FastifyInstance } from "fastify";
import {
  addMember,
  createApplication,
  getApplication,
  listApplications,
  listMembers,
  removeMember,
} from "../../services/applications.js";
import type { ServiceDeps } from "../../services/deps.js";
import { applicationSchema, idParam, memberSchema, scopesInput } from "../schemas.js";
import { requireUser, type SessionOptions } from "../session.js";
import { toWireMember } from "../wire.js";

const appParams = {
  type: "object",
  properties: { appId: idParam("app") },
  required: ["appId"],
} as const;

export function applicationRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  options: SessionOptions,
): void {
  app.post<{ Body: { name: string; scopes?: string[] } }>(
    "/api/v1/applications",
    {
      schema: {
        body: {
          type: "object",
          additionalProperties: false,
          required: ["name"],
          properties: { name: { type: "string", maxLength: 400 }, scopes: scopesInput },
        },
        response: { 201: applicationSchema },
      },
    },
    async (request, reply) => {
      const user = requireUser(request, options);
      return reply.code(201).send(await createApplication(deps, user, request.body));
    },
  );

  app.get(
    "/api/v1/applications",
    {
      schema: {
        response: {
          200: {
            type: "object",
            properties: { applications: { type: "array", items: applicationSchema } },
            required: ["applications"],
          },
        },
      },
    },
    async (request) => {
      const user = requireUser(request, options);
      return { applications: await listApplications(deps, user) };
    },
  );

  app.get<{ Params: { appId: string } }>(
    "/api/v1/applications/:appId",
    { schema: { params: appParams, response: { 200: applicationSchema } } },
    async (request) => {
      const user = requireUser(request, options);
      return getApplication(deps, user, request.params.appId);
    },
  );

  app.get<{ Params: { appId: string } }>(
    "/api/v1/applications/:appId/members",
    {
      schema: {
        params: appParams,
        response: {
          200: {
            type: "object",
            properties: { members: { type: "array", items: memberSchema } },
            required: ["members"],
          },
        },
      },
    },
    async (request) => {
      const user = requireUser(request, options);
      const members = await listMembers(deps, user, request.params.appId);
      return { members: members.map(toWireMember) };
    },
  );

  app.post<{ Params: { appId: string }; Body: { email: string; role: "admin" | "member" } }>(
    "/api/v1/applications/:appId/members",
    {
      schema: {
        params: appParams,
        body: {
          type: "object",
          additionalProperties: false,
          required: ["email", "role"],
          properties: {
            email: { type: "string", maxLength: 254 },
            role: { type: "string", enum: ["admin", "member"] },
          },
        },
        response: { 201: memberSchema },
      },
    },
    async (request, reply) => {
      const user = requireUser(request, options);
      const member = await addMember(deps, user, request.params.appId, request.body, {
        ip: request.ip,
      });
      return reply.code(201).send(toWireMember(member));
    },
  );

  app.delete<{ Params: { appId: string; userId: string } }>(
    "/api/v1/applications/:appId/members/:userId",
    {
      schema: {
        params: {
          type: "object",
          properties: { appId: idParam("app"), userId: idParam("usr") },
          required: ["appId", "userId"],
        },
        response: { 204: { type: "null" } },
      },
    },
    async (request, reply) => {
      const user = requireUser(request, options);
      await removeMember(deps, user, request.params.appId, request.params.userId, {
        ip: request.ip,
      });
      return reply.code(204).send();
    },
  );
}
