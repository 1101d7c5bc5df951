import type { FastifyInstance } from "fastify";
import { KeywardError } from "../../core/errors.js";
import { signIn, signOut, signUp } from "../../services/accounts.js";
import { listApplications } from "../../services/applications.js";
import type { ServiceDeps } from "../../services/deps.js";
import type { AbuseGuard } from "../abuse.js";
import { userSchema } from "../schemas.js";
import {
  checkOrigin,
  clearSessionCookie,
  requireUser,
  type SessionOptions,
  setSessionCookie,
} from "../session.js";
import { toWireUser } from "../wire.js";

export function authRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  options: SessionOptions,
  abuse: AbuseGuard,
): void {
  app.post<{ Body: { email: string; password: string; name: string } }>(
    "/api/v1/auth/signup",
    {
      schema: {
        body: {
          type: "object",
          additionalProperties: false,
          required: ["email", "password", "name"],
          properties: {
            email: { type: "string", maxLength: 254 },
            password: { type: "string", maxLength: 1024 },
            name: { type: "string", maxLength: 400 },
          },
        },
        response: { 201: { type: "object", properties: { user: userSchema }, required: ["user"] } },
      },
    },
    async (request, reply) => {
      // Sign-up and sign-in carry no session yet, but a foreign Origin means another
      // site is trying to sign the browser into an account of its choosing.
      checkOrigin(request, options, false);
      const { user, session } = await signUp(deps, request.body, { ip: request.ip });
      setSessionCookie(request, reply, session.secret, session.expiresAt);
      return reply.code(201).send({ user: toWireUser(user) });
    },
  );

  app.post<{ Body: { email: string; password: string } }>(
    "/api/v1/auth/signin",
    {
      schema: {
        body: {
          type: "object",
          additionalProperties: false,
          required: ["email", "password"],
          properties: {
            email: { type: "string", maxLength: 254 },
            password: { type: "string", maxLength: 1024 },
          },
        },
        response: { 200: { type: "object", properties: { user: userSchema }, required: ["user"] } },
      },
    },
    async (request, reply) => {
      checkOrigin(request, options, false);
      await abuse.checkSignin(request);
      let signedIn: Awaited<ReturnType<typeof signIn>>;
      try {
        signedIn = await signIn(deps, request.body, { ip: request.ip });
      } catch (error) {
        if (error instanceof KeywardError && error.code === "invalid_credentials") {
          await abuse.recordSigninFailure(request);
        }
        throw error;
      }
      const { user, session } = signedIn;
      setSessionCookie(request, reply, session.secret, session.expiresAt);
      return { user: toWireUser(user) };
    },
  );

  app.post(
    "/api/v1/auth/signout",
    { schema: { response: { 204: { type: "null" } } } },
    async (request, reply) => {
      requireUser(request, options);
      if (request.sessionIdHash) await signOut(deps, request.sessionIdHash);
      clearSessionCookie(request, reply);
      return reply.code(204).send();
    },
  );

  app.get(
    "/api/v1/me",
    {
      schema: {
        response: {
          200: {
            type: "object",
            properties: {
              user: userSchema,
              applications: {
                type: "array",
                items: {
                  type: "object",
                  properties: {
                    id: { type: "string" },
                    name: { type: "string" },
                    role: { type: "string" },
                  },
                  required: ["id", "name", "role"],
                },
              },
            },
            required: ["user", "applications"],
          },
        },
      },
    },
    async (request) => {
      const user = requireUser(request, options);
      return { user: toWireUser(user), applications: await listApplications(deps, user) };
    },
  );
}
