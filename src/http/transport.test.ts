import { mkdtempSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiToken, AuditPage } from "../contract/index.js";
import { writeSelfSignedCertificate } from "../test-support/certificate.js";
import {
  bearer,
  Client,
  createToken,
  signUpWithApp,
  startTestServer,
  type TestServer,
} from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

describe("security headers", () => {
  const server = setUpTestServer();

  it.each(["/healthz", "/api", "/api/v1/me", "/api/nope"])(
    "are on every answer (%s)",
    async (path) => {
      const res = await new Client(server.baseUrl).get(path);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    },
  );

  it("sends no HSTS from the API over plain HTTP", async () => {
    const res = await new Client(server.baseUrl).get("/healthz");
    expect(res.headers.get("strict-transport-security")).toBeNull();
  });
});

describe("REQUIRE_HTTPS behind a proxy", () => {
  const server = setUpTestServer({ REQUIRE_HTTPS: "true", TRUST_PROXY: "true" });

  it("refuses a token sent over plain HTTP by a remote client, and marks it exposed for its owner", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { token, id } = await createToken(client, appId, { name: "wire" });
    const api = new Client(server.baseUrl);
    const overHttps = await api.get("/api", {
      ...bearer(token),
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-proto": "https",
    });
    expect(overHttps.status).toBe(200);
    const loopback = await api.get("/api", bearer(token));
    expect(loopback.status).toBe(200);

    const plain = await api.get("/api", {
      ...bearer(token),
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-proto": "http",
    });
    expect(plain.status).toBe(403);
    expect((plain.body as { code: string }).code).toBe("https_required");
    expect(plain.text).not.toContain(token);

    const listed = await client.get<ApiToken>(`/api/v1/applications/${appId}/tokens/${id}`);
    expect(listed.body.exposedAt).not.toBeNull();
    const trail = await client.get<AuditPage>(
      `/api/v1/applications/${appId}/audit?action=token.exposed`,
    );
    expect(trail.body.events).toHaveLength(1);
    expect(trail.body.events[0]?.ip).toBe("203.0.113.7");

    // An invalid token over plain HTTP is refused the same way and marks nothing.
    const made = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    const invalid = await api.get("/api", {
      ...bearer(made),
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-proto": "http",
    });
    expect(invalid.status).toBe(403);
  });
});

describe("HTTPS served directly", () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "keyward-tls-"));
    const { keyFile, certFile } = writeSelfSignedCertificate(dir);
    server = await startTestServer({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function get(
    path: string,
    method = "GET",
    body?: string,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
    const url = new URL(path, server.baseUrl.replace("http:", "https:"));
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method,
          rejectUnauthorized: false,
          headers: body ? { "content-type": "application/json", origin: url.origin } : {},
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  it("answers over TLS with HSTS and a __Host- Secure session cookie", async () => {
    const health = await get("/healthz");
    expect(health.status).toBe(200);
    expect(health.headers["strict-transport-security"]).toContain("max-age=");
    const signup = await get(
      "/api/v1/auth/signup",
      "POST",
      JSON.stringify({
        email: "tls@example.com",
        password: "correct horse battery staple",
        name: "T",
      }),
    );
    expect(signup.status).toBe(201);
    const cookie = String(signup.headers["set-cookie"]);
    expect(cookie).toMatch(/^__Host-keyward_session=/);
    expect(cookie).toContain("Secure");
  });
});
