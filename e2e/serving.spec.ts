// How the server serves the web UI (src/http/routes/web.ts): pages, assets, security headers,
// the SPA fallback, and a server without a built UI. Plain HTTP, no browser.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UI_CSP, webRoutes } from "../src/http/routes/web.js";
import { startTestServer, type TestServer } from "../src/test-support/harness.js";
import { assertUiBuilt } from "./support.js";

let server: TestServer;

beforeAll(async () => {
  assertUiBuilt();
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const html = { accept: "text/html,application/xhtml+xml" };

describe("serving the web UI", () => {
  it.each([
    "/",
    "/signup",
    "/signin",
    "/forgot-password",
    "/reset-password",
    "/confirm-email",
    "/apps",
    "/app/app_AAAAAAAAAAAAAAAAAAAA/account-management",
    "/app/app_AAAAAAAAAAAAAAAAAAAA/account-management/tokens/tok_AAAAAAAAAAAAAAAAAAAA",
  ])("answers %s with the app and a CSP that allows no inline script", async (path) => {
    const response = await fetch(server.baseUrl + path, { headers: html });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = response.headers.get("content-security-policy");
    // One policy, ours: a second (the app-wide `default-src 'none'`) would also be enforced.
    expect(csp).toBe(UI_CSP);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("script-src-attr 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    const body = await response.text();
    expect(body).toContain('<div id="root"></div>');
    // Every script is a same-origin file; none is inline.
    expect(body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it("serves hashed assets as immutable, under the strict app-wide CSP", async () => {
    const index = await (await fetch(`${server.baseUrl}/signin`, { headers: html })).text();
    const script = index.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    const style = index.match(/href="(\/assets\/[^"]+\.css)"/)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    for (const path of [script, style]) {
      const response = await fetch(server.baseUrl + path);
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toContain("immutable");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      await response.arrayBuffer();
    }
    const missing = await fetch(`${server.baseUrl}/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  });

  it("keeps the JSON 404 problem for unknown /api paths, even when a browser asks", async () => {
    for (const path of ["/api/nope", "/api/v1/nope", "/api/v1/applications/x/y/z"]) {
      const response = await fetch(server.baseUrl + path, { headers: html });
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(((await response.json()) as { code: string }).code).toBe("not_found");
    }
    const post = await fetch(`${server.baseUrl}/apps`, { method: "POST", headers: html });
    expect(post.status).toBe(404);
    expect(post.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  });

  it("answers an unknown page with the app (which says not found) and status 404", async () => {
    const page = await fetch(`${server.baseUrl}/no/such/page`, { headers: html });
    expect(page.status).toBe(404);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toBe(UI_CSP);
    await page.arrayBuffer();
    // A non-browser client gets the usual JSON problem.
    const json = await fetch(`${server.baseUrl}/no/such/page`);
    expect(json.status).toBe(404);
    expect(json.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    await json.arrayBuffer();
  });

  it("starts without a built UI: the API answers, pages say how to build it", async () => {
    const emptyRoot = mkdtempSync(join(tmpdir(), "keyward-noweb-"));
    const app = Fastify({ logger: false });
    app.get("/healthz", async () => ({ status: "ok" }));
    try {
      await webRoutes(app, { root: emptyRoot });
      await app.ready();
      const health = await app.inject({ method: "GET", url: "/healthz" });
      expect(health.statusCode).toBe(200);
      const page = await app.inject({ method: "GET", url: "/signin", headers: html });
      expect(page.statusCode).toBe(503);
      expect(page.body).toContain("npm run build");
    } finally {
      await app.close();
      rmSync(emptyRoot, { recursive: true, force: true });
    }
  });
});
