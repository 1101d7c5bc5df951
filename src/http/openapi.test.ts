import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import Fastify from "fastify";
import { beforeAll, describe, expect, it } from "vitest";
import { contractRoutes } from "../contract/index.js";
import { errorCodes } from "../core/errors.js";
import { Client } from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";
import { registerOpenApi } from "./routes/docs.js";

interface Operation {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown> };
}

const server = setUpTestServer();
let document: OpenApiDocument;

beforeAll(async () => {
  const res = await new Client(server.baseUrl).get<OpenApiDocument>("/openapi.json");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  document = res.body;
});

/** `/api/v1/applications/{appId}` for Fastify's `/api/v1/applications/:appId`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, "{$1}");

function operationOf(method: string, url: string): Operation | undefined {
  return document.paths[openApiPath(url)]?.[method.toLowerCase()];
}

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document) as unknown as string);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe("3.1.0");
    // The validator does look: the same document without its required `info` fails.
    const { info: _info, ...broken } = structuredClone(document) as unknown as Record<
      string,
      unknown
    >;
    expect((await validator.validate(broken as unknown as string)).valid).toBe(false);
  });

  it("describes every route the server serves under /api and the health and metrics routes", () => {
    const served = server.keyward.app.servedRoutes.filter(
      (route) =>
        route.method !== "HEAD" &&
        (route.url.startsWith("/api") || ["/healthz", "/readyz", "/metrics"].includes(route.url)),
    );
    expect(served.length).toBe(contractRoutes.length);
    for (const route of served) {
      expect(operationOf(route.method, route.url), `${route.method} ${route.url}`).toBeDefined();
    }
    // And nothing the server does not serve.
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const servedKeys = served.map((route) => `${route.method} ${openApiPath(route.url)}`);
    expect(documented.sort()).toEqual(servedKeys.sort());
  });

  it("leaves out only the web UI's pages and assets, and the documentation itself", () => {
    const undocumented = server.keyward.app.servedRoutes.filter(
      (route) => route.method !== "HEAD" && operationOf(route.method, route.url) === undefined,
    );
    for (const route of undocumented) {
      // The one page that posts: a portal link's "Sign out and continue" form, back to itself.
      if (route.method === "POST" && route.url === "/portal/:code") continue;
      expect(route.url, `${route.method} ${route.url}`).toMatch(
        /^(\/app\/|\/apps|\/account|\/security$|\/portal\/|\/signin|\/signup|\/forgot-password$|\/reset-password$|\/confirm-email$|\/favicon|\/assets\/|\/docs|\/openapi\.json$|\/\*$|\/$)/,
      );
      expect(route.method).toBe("GET");
    }
  });

  it("names every error code of the registry, each under its own status", () => {
    const seen = new Map<string, Set<string>>();
    for (const methods of Object.values(document.paths)) {
      for (const operation of Object.values(methods)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          const schema = response.content?.["application/problem+json"]?.schema as
            | { properties: { code: { enum: string[] } } }
            | undefined;
          for (const code of schema?.properties.code.enum ?? []) {
            seen.set(code, (seen.get(code) ?? new Set()).add(status));
          }
        }
      }
    }
    expect([...seen.keys()].sort()).toEqual([...errorCodes].sort());
    for (const [code, statuses] of seen) expect(statuses.size, code).toBe(1);
  });

  it("declares the session cookie and bearer token security schemes and uses them", () => {
    expect(Object.keys(document.components.securitySchemes)).toEqual(
      expect.arrayContaining(["sessionCookie", "bearerToken"]),
    );
    const createToken = operationOf("POST", "/api/v1/applications/:appId/tokens") as unknown as {
      security: unknown;
    };
    expect(createToken.security).toEqual([{ sessionCookie: [] }]);
    const whoAmI = operationOf("GET", "/api") as unknown as { security: unknown };
    expect(whoAmI.security).toEqual([{ bearerToken: [] }]);
  });

  it("tells the truth: real answers match the documented schemas, problems included", async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const check = (method: string, url: string, status: number, body: unknown, media: string) => {
      const schema = operationOf(method, url)?.responses[String(status)]?.content?.[media]?.schema;
      expect(schema, `${method} ${url} ${status} is documented`).toBeDefined();
      const validate = ajv.compile(schema as object);
      expect(validate(body), `${method} ${url} ${status}: ${ajv.errorsText(validate.errors)}`).toBe(
        true,
      );
    };
    const json = "application/json";
    const problem = "application/problem+json";
    const client = new Client(server.baseUrl);

    const signup = await client.post("/api/v1/auth/signup", {
      email: "openapi@example.com",
      password: "correct horse battery staple",
      name: "Ada",
    });
    check("POST", "/api/v1/auth/signup", signup.status, signup.body, json);
    const app = await client.post<{ id: string }>("/api/v1/applications", { name: "Docs" });
    check("POST", "/api/v1/applications", app.status, app.body, json);
    const tokens = `/api/v1/applications/${app.body.id}/tokens`;
    const created = await client.post<{ token: string; apiToken: { id: string } }>(tokens, {
      name: "CI",
      expiresAt: null,
    });
    check("POST", "/api/v1/applications/:appId/tokens", created.status, created.body, json);
    const list = await client.get(tokens);
    check("GET", "/api/v1/applications/:appId/tokens", list.status, list.body, json);
    const usage = await client.get(`${tokens}/${created.body.apiToken.id}/usage?days=3`);
    check("GET", "/api/v1/applications/:appId/tokens/:tokenId/usage", 200, usage.body, json);
    const pageUsage = await client.get(
      `/api/v1/applications/${app.body.id}/usage?days=3&tokenIds=${created.body.apiToken.id}`,
    );
    check("GET", "/api/v1/applications/:appId/usage", 200, pageUsage.body, json);
    const me = await client.get("/api/v1/me");
    check("GET", "/api/v1/me", me.status, me.body, json);
    const audit = await client.get(`/api/v1/applications/${app.body.id}/audit`);
    check("GET", "/api/v1/applications/:appId/audit", audit.status, audit.body, json);

    const caller = new Client(server.baseUrl);
    const whoAmI = await caller.get("/api", { authorization: `Bearer ${created.body.token}` });
    check("GET", "/api", whoAmI.status, whoAmI.body, json);
    const verified = await caller.post("/api/v1/verify", { token: created.body.token });
    check("POST", "/api/v1/verify", verified.status, verified.body, json);

    const taken = await client.post(tokens, { name: "CI" });
    expect(taken.status).toBe(409);
    check("POST", "/api/v1/applications/:appId/tokens", 409, taken.body, problem);
    const unknown = await client.get(`/api/v1/applications/app_${"x".repeat(20)}`);
    expect(unknown.status).toBe(404);
    check("GET", "/api/v1/applications/:appId", 404, unknown.body, problem);
    // Refusals the router and the body parser give before the route runs are documented too.
    const notJson = await client.request("DELETE", `${tokens}/${created.body.apiToken.id}`, {
      body: "revoke",
      headers: { "content-type": "text/plain" },
    });
    expect(notJson.status).toBe(415);
    check("DELETE", "/api/v1/applications/:appId/tokens/:tokenId", 415, notJson.body, problem);
    const undecodable = await client.get("/api/v1/applications/%c0");
    expect(undecodable.status).toBe(400);
    expect(undecodable.headers.get("content-type")).toContain("application/problem+json");
    expect(undecodable.text).not.toContain("%c0");
    check("GET", "/api/v1/applications/:appId", 400, undecodable.body, problem);
    const refused = await caller.get("/api", { authorization: "Bearer kw_nope" });
    expect(refused.status).toBe(401);
    check("GET", "/api", 401, refused.body, problem);
  });
});

describe("the contract's guard", () => {
  it("refuses to start with a route under /api that is not a contract route", async () => {
    const app = Fastify();
    await registerOpenApi(app, "0.0.0");
    expect(() => app.get("/api/v1/undocumented", async () => ({}))).toThrow(/not a route of/);
    // An operation id alone does not pass: the method and path must be the contract's.
    expect(() =>
      app.get("/healthz-v2", { schema: { operationId: "liveness" } }, async () => ({})),
    ).toThrow(/not a route of/);
    app.get("/elsewhere", async () => ({}));
    expect(app.servedRoutes.map((route) => route.url)).toContain("/elsewhere");
    await app.close();
  });
});

describe("GET /docs", () => {
  it("serves a reference page whose every asset comes from this server", async () => {
    const client = new Client(server.baseUrl);
    const page = await client.get<string>("/docs/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:|unsafe-inline|unsafe-eval/);
    expect(csp).toContain("frame-ancestors 'none'");
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.length).toBeGreaterThan(3);
    for (const asset of assets) {
      expect(asset, "no other origin").not.toMatch(/^(https?:)?\/\//);
      const res = await client.get<string>(new URL(asset, `${server.baseUrl}/docs/`).pathname);
      expect(res.status, asset).toBe(200);
    }
    // The page loads the document from this server.
    const init = await client.get<string>("/docs/static/swagger-initializer.js");
    expect(init.text).toContain("resolveUrl('./json')");
    const served = await client.get<OpenApiDocument>("/docs/json");
    expect(served.body).toEqual(document);
    expect(init.text).toContain("validatorUrl: null");
  });
});
