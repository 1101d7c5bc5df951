import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, RouteOptions } from "fastify";

/** A route as the server registered it, and whether the OpenAPI document describes it. */
export interface ServedRoute {
  method: string;
  url: string;
  operationId: string | undefined;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Every route this app serves, in the order registered. */
    servedRoutes: readonly ServedRoute[];
  }
}

import { contractRoutes } from "../../contract/index.js";
import { SECURITY_SCHEMES } from "../contract-route.js";

/** Where the OpenAPI document and the reference page are served. */
export const OPENAPI_PATH = "/openapi.json";
export const DOCS_PREFIX = "/docs";

// The reference page runs Swagger UI's own scripts and styles, all served from here: no
// other origin is reachable from it, nothing inline runs, and no other site may frame it.
const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'none'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  // The one inline style Swagger UI applies, allowed by its hash rather than 'unsafe-inline'
  // (e2e/docs.spec.ts fails on any violation, so a new Swagger UI with another is noticed).
  "style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='",
].join("; ");

/**
 * Collects every route registered after it into the OpenAPI document. Register it before
 * the routes; routes without a tag (the web UI's pages and assets) are left out.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  const served: ServedRoute[] = [];
  app.decorate("servedRoutes", served);
  const declared = new Set(contractRoutes.map((route) => `${route.method} ${route.url}`));
  app.addHook("onRoute", (route: RouteOptions) => {
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    // The JSON API is the contract: a route under /api that is not one of its routes would
    // be served undocumented and unchecked, so the server refuses to start with it; and a
    // route claiming an operation must be that operation's method and path.
    if (route.url.startsWith("/api") && operationId === undefined) {
      throw new Error(`${route.url} is under /api but is not a route of src/contract`);
    }
    if (operationId !== undefined) {
      for (const method of [route.method].flat()) {
        // Fastify adds a HEAD route beside each GET, with the GET's schema.
        const as = method === "HEAD" ? "GET" : method;
        if (!declared.has(`${as} ${route.url}`))
          throw new Error(`${method} ${route.url} (${operationId}) is not a route of src/contract`);
      }
    }
    for (const method of [route.method].flat()) {
      served.push({ method, url: route.url, operationId });
    }
  });
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Keyward API",
        version,
        description:
          "Named, hashed, revocable API tokens. Every refusal is an RFC 9457 problem " +
          "(`application/problem+json`) with a stable `code`; each operation lists the codes " +
          "it can answer with. Times are RFC 3339 in UTC. Writes with a session cookie must " +
          "carry this site's `Origin`.",
        license: { name: "MIT", identifier: "MIT" },
      },
      tags: [
        { name: "accounts", description: "Sign-up, sign-in and the session (used by the web UI)." },
        { name: "applications", description: "Applications and their members." },
        { name: "tokens", description: "A user's API tokens in an application." },
        { name: "audit", description: "Who did what, and when." },
        { name: "verification", description: "For other services: verify and report tokens." },
        { name: "protected API", description: "What API tokens are for." },
        { name: "operations", description: "Health checks and metrics." },
      ],
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    hideUntagged: true,
  });
}

/** `GET /openapi.json` and the reference page at `/docs`, rendered from it. */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  let document: string | undefined;
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async (_request, reply) => {
    // Made once: the routes cannot change after the server starts.
    document ??= JSON.stringify(app.swagger());
    return reply.type("application/json; charset=utf-8").send(document);
  });

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { docExpansion: "list", deepLinking: true, defaultModelsExpandDepth: 0 },
    staticCSP: DOCS_CSP,
    theme: { title: "Keyward API reference" },
  });
}
