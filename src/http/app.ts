import type { Server as HttpsServer } from "node:https";
import cookie from "@fastify/cookie";
import rateLimit from "@fastify/rate-limit";
import Fastify, {
  type FastifyHttpsOptions,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerOptions,
} from "fastify";
import { EXTERNAL_ID_MAX_LENGTH } from "../core/rules.js";
import type { ServiceDeps } from "../services/deps.js";
import type { CounterStore } from "../services/ports.js";
import type { RevocationStream } from "../services/revocation-stream.js";
import { serviceKeyPrefix } from "../services/service-keys.js";
import { markTokenExposed } from "../services/tokens.js";
import type { TokenVerifier } from "../services/verifier.js";
import { AbuseGuard, type AbuseLimits, rateLimitStoreFor } from "./abuse.js";
import { clientErrorHandler, unmetExpectationHandler } from "./client-errors.js";
import { compressedBodyRefusal } from "./content-encoding.js";
import { contractApp } from "./contract-route.js";
import type { GitHubKeys } from "./github-secret-scanning.js";
import { registerHostCheck } from "./host-check.js";
import { AccessLogController, type LogFormat, loggerOptions } from "./logging.js";
import { Metrics } from "./metrics.js";
import { handleError, sendProblem } from "./problem.js";
import { sharedProblemSerializers } from "./response-serializers.js";
import { applicationRoutes } from "./routes/applications.js";
import { auditRoutes } from "./routes/audit.js";
import { authRoutes } from "./routes/auth.js";
import { docsRoutes, registerOpenApi } from "./routes/docs.js";
import { emailRoutes } from "./routes/email.js";
import { healthRoutes } from "./routes/health.js";
import { githubLeakRoutes, leakRoutes } from "./routes/leaks.js";
import { metricsRoutes } from "./routes/metrics.js";
import { portalRoutes } from "./routes/portal.js";
import { protectedApiRoutes } from "./routes/protected-api.js";
import { serviceCallerOf, serviceRoutes } from "./routes/service.js";
import { serviceEventsRoutes } from "./routes/service-events.js";
import { serviceKeyRoutes } from "./routes/service-keys.js";
import { tokenRoutes } from "./routes/tokens.js";
import { twoFactorRoutes } from "./routes/two-factor.js";
import { verifyRoutes } from "./routes/verify.js";
import { webRoutes } from "./routes/web.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { loadSession } from "./session.js";

export interface HttpOptions {
  /** Keyward's version, as the OpenAPI document states it. */
  version: string;
  logLevel: string;
  /** Where log lines go; stdout when unset. */
  logStream?: NodeJS.WritableStream;
  /** JSON lines, or pretty coloured lines for people (LOG_FORMAT; pretty at a terminal). */
  logFormat?: LogFormat;
  /** Pretty lines in colour (not when NO_COLOR is set). */
  logColor?: boolean;
  publicOrigin: string | undefined;
  /** The address the server listens on (`HOST`), for the Host check. */
  listenHost: string;
  trustProxy: false | number | string[];
  bodyLimitBytes: number;
  verifyRateLimitPerMinute: number;
  leakRateLimitPerMinute: number;
  abuse: AbuseLimits;
  /** Counters shared by every process (PostgreSQL); per-process memory when unset. */
  sharedCounters?: CounterStore;
  requireHttps: boolean;
  /** Serve HTTPS directly with this key and certificate (PEM). */
  tls?: { key: Buffer; cert: Buffer };
  /** GitHub's secret-scanning public keys, for `POST /api/v1/leaks/github`. */
  githubKeys?: GitHubKeys | undefined;
  /** The bearer token `GET /metrics` asks of non-loopback clients; loopback only when unset. */
  metricsToken?: string | undefined;
}

export interface HttpDeps {
  services: ServiceDeps;
  verifier: TokenVerifier;
  revocationStream: RevocationStream;
  /** Something was queued for webhooks (a redelivery): send it now. */
  webhooksQueued?: () => void;
}

/** Largest backlog one revocation stream may queue for a slow reader. */
const STREAM_MAX_BUFFERED_BYTES = 256 * 1024;

/**
 * Fastify's trust test for `TRUST_PROXY`. A number trusts that many hops nearest the
 * server (the socket's peer is hop 0), so the client address is the entry just beyond
 * them; Fastify itself refuses to trust hop counts, hence the function.
 */
export function trustProxyFunction(
  trust: false | number | string[],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust === "number") return (_address, hop) => hop < trust;
  return trust;
}

/**
 * Options of Node's HTTP server. `requireHostHeader` is off so that an HTTP/1.1 request
 * without `Host` reaches the Host check and gets a problem like every other refusal
 * (Node's own refusal is a bare 400 with no body, no security headers and no log line).
 */
const SLOW_CLIENT_LIMITS = {
  connectionsCheckingInterval: 1000,
  headersTimeout: 30_000,
  requireHostHeader: false,
};

/**
 * The longest path parameter the router takes, in UTF-16 units after decoding. The
 * longest one a route documents is a host user's `externalId`, up to
 * EXTERNAL_ID_MAX_LENGTH characters, each of which may take two units; the route's schema
 * holds it to its own limit after that. Fastify's default of 100 refused ids the contract
 * allows.
 */
const MAX_PARAM_LENGTH = 2 * EXTERNAL_ID_MAX_LENGTH;

/** Whether a segment of the URL's path is longer than MAX_PARAM_LENGTH, decoded as the router decodes it. */
function hasOverlongSegment(url: string): boolean {
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  if (path.length <= MAX_PARAM_LENGTH) return false;
  return path.split("/").some((segment) => {
    if (segment.length <= MAX_PARAM_LENGTH) return false;
    try {
      return decodeURIComponent(segment).length > MAX_PARAM_LENGTH;
    } catch {
      return false;
    }
  });
}

/** Builds the Fastify app without listening, so tests can `inject()` or listen on port 0. */
export async function buildApp(deps: HttpDeps, options: HttpOptions): Promise<FastifyInstance> {
  const serverOptions: FastifyServerOptions & { http?: typeof SLOW_CLIENT_LIMITS } = {
    logger: loggerOptions(options.logLevel, options.logStream, options.logFormat, options.logColor),
    logController: new AccessLogController(),
    trustProxy: trustProxyFunction(options.trustProxy),
    bodyLimit: options.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Long, not infinite: a slow client cannot hold a connection open forever.
    requestTimeout: 30_000,
    // Node checks request timeouts only this often (30 s by default, so a 30 s timeout
    // fired after up to 60 s); checking every second keeps the documented 30 s true. The
    // headers' own timeout is Node's 60 s unless given here (Fastify sets only the request
    // timeout, after Node has already chosen it): headers trickled in also end at 30 s.
    http: SLOW_CLIENT_LIMITS,
    // The router's own refusals (a path that does not decode, an over-long segment) are
    // answered like every other error: problem+json, never quoting the URL.
    frameworkErrors: handleError,
    // What the HTTP parser refuses before any route: problem+json too (client-errors.ts).
    clientErrorHandler: clientErrorHandler(() => app.log),
    connectionTimeout: 60_000,
    // One serializer for every problem answer (response-serializers.ts).
    schemaController: { compilersFactory: { buildSerializer: sharedProblemSerializers() } },
    ajv: {
      customOptions: {
        // Unknown fields are refused (additionalProperties: false), never silently dropped.
        removeAdditional: false,
        coerceTypes: false,
        allErrors: false,
      },
    },
  };
  // With a certificate, the same app serves HTTPS. Fastify types an HTTPS instance apart
  // from an HTTP one; every route here works on either, so it is used as the HTTP type.
  const app = (
    options.tls
      ? (Fastify({
          ...serverOptions,
          https: { ...options.tls, ...SLOW_CLIENT_LIMITS },
        } as FastifyHttpsOptions<HttpsServer>) as unknown)
      : Fastify(serverOptions)
  ) as FastifyInstance;

  // Security headers on every answer; the web UI's pages add their own CSP on top.
  const securityHeaders: Record<string, string> = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
  };
  if (options.tls)
    securityHeaders["strict-transport-security"] = "max-age=31536000; includeSubDomains";
  app.addHook("onRequest", (_request, reply, done) => {
    reply.headers(securityHeaders);
    done();
  });
  // Node keeps the first 1,000 headers of a request and drops the rest without a word, so a
  // header a proxy appends (its X-Forwarded-For) could go unseen behind a client's filler.
  // Every header is kept instead; the 16 KiB limit on the whole head still bounds them.
  app.server.maxHeadersCount = 0;
  app.server.on(
    "checkExpectation",
    unmetExpectationHandler(securityHeaders, () => app.log),
  );

  // JSON only: any other body type is answered with 415.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser("error", "error") as (
    request: FastifyRequest,
    body: string,
    done: (error: Error | null, value?: unknown) => void,
  ) => void;
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const refusal = compressedBodyRefusal(request);
    if (refusal) done(refusal);
    else parseJson(request, body as string, done);
  });

  const metrics = new Metrics({
    stats: deps.services.store.stats,
    verification: deps.verifier.counts,
    cacheEntries: () => deps.verifier.cacheEntries,
    usage: deps.verifier.usage,
    revocationStream: deps.revocationStream,
  });
  app.addHook("onResponse", (request, reply, done) => {
    metrics.observeRequest(
      request.method,
      request.routeOptions.url ?? "unmatched",
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setErrorHandler(handleError);
  registerHostCheck(app, { publicOrigin: options.publicOrigin, listenHost: options.listenHost });
  app.setNotFoundHandler((request, reply) =>
    // The router finds no route when a segment is longer than it takes, rather than
    // refusing it: said as what it is, as the contract lists it.
    hasOverlongSegment(request.raw.url ?? "")
      ? sendProblem(reply, "invalid_request", "A path segment is too long.")
      : sendProblem(
          reply,
          "not_found",
          `No route for ${request.method} ${request.routeOptions.url ?? "this path"}.`,
        ),
  );

  await app.register(cookie);
  await app.register(rateLimit, {
    global: false,
    store: rateLimitStoreFor(options.sharedCounters),
  });
  const abuse = new AbuseGuard(app, options.abuse);
  app.decorateRequest("user", null);
  app.decorateRequest("sessionIdHash", null);
  app.decorateRequest("session", null);
  app.decorateRequest("portal", null);
  app.decorateReply("tokenRefusal", null);

  // Before the routes: it collects each one as it is registered.
  await registerOpenApi(app, options.version);

  const services = deps.services;
  const sessionOptions = {
    publicOrigin: options.publicOrigin,
    serviceKeyPrefix: serviceKeyPrefix(services.settings.tokenPrefix),
  };

  const api = contractApp(app);
  healthRoutes(api, services.store);
  metricsRoutes(api, metrics, { token: options.metricsToken });
  protectedApiRoutes(api, deps.verifier, {
    abuse,
    requireHttps: options.requireHttps,
    onExposed: (token, request) => markTokenExposed(services, token, { ip: request.ip }),
  });
  verifyRoutes(api, deps.verifier, { rateLimitPerMinute: options.verifyRateLimitPerMinute });
  leakRoutes(api, services, { rateLimitPerMinute: options.leakRateLimitPerMinute });
  await githubLeakRoutes(app, services, {
    rateLimitPerMinute: options.leakRateLimitPerMinute,
    githubKeys: options.githubKeys,
  });

  // Account and token management: session cookie routes.
  await app.register(async (management) => {
    management.addHook("preHandler", async (request) => {
      await loadSession(request, services);
    });
    // Every answer here is about a signed-in account (emails, addresses, tokens' metadata):
    // no shared or private cache may keep it.
    management.addHook("onRequest", (_request, reply, done) => {
      reply.header("cache-control", "no-store");
      done();
    });
    // A change made here (a token created, a member added) may have queued webhook
    // deliveries in its transaction: send them now rather than at the next look (1 s).
    management.addHook("onResponse", (request, reply, done) => {
      if (request.method !== "GET" && request.method !== "HEAD" && reply.statusCode < 400) {
        deps.webhooksQueued?.();
      }
      done();
    });
    const managementApi = contractApp(management);
    const context = { deps: services, session: sessionOptions, abuse };
    authRoutes(managementApi, context);
    twoFactorRoutes(managementApi, context);
    emailRoutes(managementApi, context);
    applicationRoutes(managementApi, context);
    tokenRoutes(managementApi, context);
    serviceKeyRoutes(managementApi, context);
    webhookRoutes(managementApi, context, () => deps.webhooksQueued?.());
    auditRoutes(managementApi, context);
  });
  // The host's backend, with a service key.
  await app.register(async (service) => {
    const serviceApi = contractApp(service);
    serviceRoutes(serviceApi, {
      deps: services,
      verifier: deps.verifier,
      publicOrigin: options.publicOrigin,
    });
    serviceEventsRoutes(serviceApi, {
      stream: deps.revocationStream,
      maxBufferedBytes: STREAM_MAX_BUFFERED_BYTES,
      // The group's hook has authenticated the key before the handler runs.
      authenticate: async (request) => serviceCallerOf(request),
    });
  });
  portalRoutes(app, services, sessionOptions);
  await docsRoutes(app);
  await webRoutes(app);

  return app;
}
