import cookie from "@fastify/cookie";
import rateLimit from "@fastify/rate-limit";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { ServiceDeps } from "../services/deps.js";
import type { TokenVerifier } from "../services/verifier.js";
import { AbuseGuard, type AbuseLimits } from "./abuse.js";
import { loggerOptions } from "./logging.js";
import { handleError, sendProblem } from "./problem.js";
import { applicationRoutes } from "./routes/applications.js";
import { auditRoutes } from "./routes/audit.js";
import { authRoutes } from "./routes/auth.js";
import { healthRoutes } from "./routes/health.js";
import { leakRoutes } from "./routes/leaks.js";
import { protectedApiRoutes } from "./routes/protected-api.js";
import { tokenRoutes } from "./routes/tokens.js";
import { verifyRoutes } from "./routes/verify.js";
import { loadSession } from "./session.js";

export interface HttpOptions {
  logLevel: string;
  /** Where log lines go; stdout when unset. */
  logStream?: NodeJS.WritableStream;
  publicOrigin: string | undefined;
  trustProxy: boolean;
  bodyLimitBytes: number;
  verifyRateLimitPerMinute: number;
  leakRateLimitPerMinute: number;
  abuse: AbuseLimits;
}

export interface HttpDeps {
  services: ServiceDeps;
  verifier: TokenVerifier;
}

/** Builds the Fastify app without listening, so tests can `inject()` or listen on port 0. */
export async function buildApp(deps: HttpDeps, options: HttpOptions): Promise<FastifyInstance> {
  const serverOptions: FastifyServerOptions = {
    logger: loggerOptions(options.logLevel, options.logStream),
    trustProxy: options.trustProxy,
    bodyLimit: options.bodyLimitBytes,
    // Long, not infinite: a slow client cannot hold a connection open forever.
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    ajv: {
      customOptions: {
        // Unknown fields are refused (additionalProperties: false), never silently dropped.
        removeAdditional: false,
        coerceTypes: false,
        allErrors: false,
      },
    },
  };
  const app = Fastify(serverOptions);

  // JSON only: any other body type is answered with 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    "application/json",
    { parseAs: "string" },
    app.getDefaultJsonParser("error", "error"),
  );

  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      "not_found",
      `No route for ${request.method} ${request.routeOptions.url ?? "this path"}.`,
    ),
  );

  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  const abuse = new AbuseGuard(app, options.abuse);
  app.decorateRequest("user", null);
  app.decorateRequest("sessionIdHash", null);

  const services = deps.services;
  const sessionOptions = { publicOrigin: options.publicOrigin };

  healthRoutes(app, services.store);
  protectedApiRoutes(app, deps.verifier, abuse);
  verifyRoutes(app, deps.verifier, { rateLimitPerMinute: options.verifyRateLimitPerMinute });
  leakRoutes(app, services, { rateLimitPerMinute: options.leakRateLimitPerMinute });

  // Account and token management: session cookie routes.
  await app.register(async (management) => {
    management.addHook("preHandler", async (request) => {
      await loadSession(request, services);
    });
    authRoutes(management, services, sessionOptions, abuse);
    applicationRoutes(management, services, sessionOptions);
    tokenRoutes(management, services, sessionOptions, abuse);
    auditRoutes(management, services, sessionOptions);
  });

  return app;
}
