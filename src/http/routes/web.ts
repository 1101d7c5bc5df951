import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import helmet from "@fastify/helmet";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * Paths the single-page app renders itself. Each answers with index.html and 200;
 * any other page path gets index.html with 404, so the app can say "not found" in
 * its own layout. `/api` and everything under it never reach the app.
 */
export const UI_ROUTES = [
  "/",
  "/signup",
  "/signin",
  "/forgot-password",
  "/reset-password",
  "/confirm-email",
  "/apps",
  "/security",
  "/app/:appId/account-management",
  "/app/:appId/account-management/tokens/:tokenId",
  "/app/:appId/settings",
] as const;

export interface WebOptions {
  /** The built UI (index.html + assets/); defaults to `<package root>/dist/web`. */
  root?: string;
}

/**
 * `<package root>/dist/web`, found from this module's own location so it is the same
 * whether the server runs from src/ (tests, tsx) or from dist/ (npm start, installed).
 */
export function defaultWebRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(dir, "dist", "web");
}

/**
 * The UI's Content-Security-Policy. Scripts and styles come from our own origin only: no
 * inline script, no eval, no on*= attributes, so an injected <script> or
 * `<img onerror=...>` cannot run even if a bug ever let markup through.
 */
const UI_CSP_DIRECTIVES: Record<string, string> = {
  "default-src": "'self'",
  "script-src": "'self'",
  "script-src-attr": "'none'",
  "style-src": "'self'",
  "img-src": "'self' data:",
  "font-src": "'self'",
  "connect-src": "'self'",
  "object-src": "'none'",
  "base-uri": "'none'",
  "form-action": "'self'",
  // The token page must not be framed: clickjacking a "Revoke" or a "Copy" is the risk.
  "frame-ancestors": "'none'",
  // DOM XSS sinks (innerHTML, script.text, ...) refuse plain strings; React never needs them.
  "require-trusted-types-for": "'script'",
};
export const UI_CSP = Object.entries(UI_CSP_DIRECTIVES)
  .map(([name, value]) => `${name} ${value}`)
  .join("; ");

/** What an id in a page's path may look like (ids are `app_…`, `tok_…`: letters, digits, `_`). */
const PAGE_ID = /^[0-9A-Za-z_-]{1,64}$/;

function isApiPath(url: string): boolean {
  return url === "/api" || url.startsWith("/api/") || url.startsWith("/api?");
}

function acceptsHtml(request: FastifyRequest): boolean {
  return (request.headers.accept ?? "").includes("text/html");
}

/**
 * Serves the web UI from the same server and port as the API, with browser security
 * headers on every UI response. The headers are scoped to this plugin: JSON API
 * answers keep their own headers.
 */
export async function webRoutes(app: FastifyInstance, options: WebOptions = {}): Promise<void> {
  const root = options.root ?? defaultWebRoot();
  const built = existsSync(join(root, "index.html"));
  if (!built) {
    app.log.warn(
      { webRoot: root },
      "web UI not built (no index.html); the API works, UI pages answer 503 until `npm run build`",
    );
  }

  await app.register(async (web) => {
    // Helmet adds the cross-origin isolation and legacy headers. The app sets nosniff,
    // Referrer-Policy, X-Frame-Options, HSTS (over TLS) and a `default-src 'none'` CSP on
    // every answer; HTML pages replace that CSP with UI_CSP (see sendApp), everything else
    // served here (scripts, styles, the SVG icon, 404s) keeps the strict one.
    await web.register(helmet, {
      contentSecurityPolicy: false,
      xContentTypeOptions: false,
      referrerPolicy: false,
      xFrameOptions: false,
      strictTransportSecurity: false,
    });

    if (built) {
      const assets = join(root, "assets");
      if (existsSync(assets)) {
        // Vite names every asset by its content hash, so a file never changes under its URL.
        await web.register(fastifyStatic, {
          root: assets,
          prefix: "/assets/",
          wildcard: true,
          index: false,
          dotfiles: "deny",
          maxAge: "365d",
          immutable: true,
        });
      } else {
        await web.register(fastifyStatic, { root, serve: false });
      }
    }

    const sendApp = (reply: FastifyReply, status: number) => {
      if (!built) {
        return reply
          .code(503)
          .type("text/plain; charset=utf-8")
          .header("cache-control", "no-store")
          .send("The Keyward web UI is not built. Run `npm run build`, then restart the server.\n");
      }
      // index.html names the current bundle; it must be revalidated on every load.
      // reply.header replaces the app-wide CSP (two CSP headers would both be enforced).
      return reply
        .code(status)
        .header("content-security-policy", UI_CSP)
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-cache")
        .sendFile("index.html", root, { cacheControl: false });
    };

    for (const url of UI_ROUTES) {
      web.get(url, (request, reply) => {
        // An id that no id can be (a NUL, a slash, text in any script) names no page: the
        // app's "not found" for a browser, the 404 problem for anyone else.
        const params = Object.values(request.params as Record<string, string>);
        if (params.every((value) => PAGE_ID.test(value))) return sendApp(reply, 200);
        return acceptsHtml(request) ? sendApp(reply, 404) : reply.callNotFound();
      });
    }

    web.get("/favicon.svg", (_request, reply) =>
      built && existsSync(join(root, "favicon.svg"))
        ? reply
            .header("cache-control", "public, max-age=86400")
            .sendFile("favicon.svg", root, { cacheControl: false })
        : reply.callNotFound(),
    );

    // Any other GET: a page the app will call "not found" for a browser, the usual JSON
    // 404 problem for an API client and for everything under /api.
    web.get("/*", (request, reply) => {
      if (isApiPath(request.url) || !acceptsHtml(request)) return reply.callNotFound();
      return sendApp(reply, 404);
    });
  });
}
