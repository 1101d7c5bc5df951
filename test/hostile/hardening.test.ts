import { describe, expect, it } from "vitest";
import { parseTrustProxy } from "../../src/config.js";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
  signUpWithApp,
} from "../../src/test-support/harness.js";
import { setUpTestServer } from "../../src/test-support/server-fixture.js";
import { problemCode, rawRequest } from "./support.js";

/**
 * The second round of probing (issue "Hardening"): each case failed on the code before it.
 */

const server = setUpTestServer();
const behindProxy = setUpTestServer({ TRUST_PROXY: "1", REQUIRE_HTTPS: "true" });
const behindListedProxy = setUpTestServer({ TRUST_PROXY: "127.0.0.1", REQUIRE_HTTPS: "true" });
const published = setUpTestServer({ PUBLIC_ORIGIN: "https://keys.example.com" });

function raw(baseUrl: string, request: string) {
  return rawRequest(baseUrl, request, 5000, false);
}

describe("the Host check", () => {
  it("answers only for the loopback names with the server's port when PUBLIC_ORIGIN is unset", async () => {
    const port = new URL(server.baseUrl).port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      const res = await raw(
        server.baseUrl,
        `GET /api/v1/me HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status, host).toBe(401);
    }
    for (const host of ["evil.example", `evil.example:${port}`, "127.0.0.1:1", "localhost"]) {
      const res = await raw(
        server.baseUrl,
        `POST /api/v1/auth/signup HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      );
      expect(res.status, host).toBe(421);
      expect(problemCode(res)).toBe("misdirected_request");
    }
  });

  it("lets probes through whatever the Host", async () => {
    for (const path of ["/healthz", "/readyz"]) {
      const res = await raw(
        server.baseUrl,
        `GET ${path} HTTP/1.1\r\nHost: 10.0.0.7:8080\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status, path).toBe(200);
    }
  });

  it("answers only for PUBLIC_ORIGIN's host when it is set", async () => {
    const ok = await raw(
      published.baseUrl,
      "GET /api/v1/me HTTP/1.1\r\nHost: keys.example.com\r\nConnection: close\r\n\r\n",
    );
    expect(ok.status).toBe(401);
    const port = new URL(published.baseUrl).port;
    const local = await raw(
      published.baseUrl,
      `GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    );
    expect(local.status).toBe(421);
  });
});

describe("TRUST_PROXY", () => {
  async function liveToken(baseUrl: string) {
    const { client } = await signUpUser(baseUrl);
    const appId = await createApp(client);
    return (await createToken(client, appId, { name: "proxied" })).token;
  }

  it("takes the rightmost X-Forwarded-For entry beyond the trusted hops, never what the client wrote at the left", async () => {
    for (const target of [behindProxy, behindListedProxy]) {
      const token = await liveToken(target.baseUrl);
      // A client that writes "127.0.0.1" at the left does not become a loopback client.
      const forged = await fetch(`${target.baseUrl}/api`, {
        headers: { ...bearer(token), "x-forwarded-for": "127.0.0.1, 203.0.113.9" },
      });
      expect(forged.status).toBe(403);
      expect(((await forged.json()) as { code: string }).code).toBe("https_required");
      const viaHttps = await fetch(`${target.baseUrl}/api`, {
        headers: {
          ...bearer(await liveToken(target.baseUrl)),
          "x-forwarded-for": "127.0.0.1, 203.0.113.9",
          "x-forwarded-proto": "https",
        },
      });
      expect(viaHttps.status).toBe(200);
    }
  });

  it("accepts false, hop counts and address lists, and refuses anything else", () => {
    const read = (text: string) => {
      const problems: string[] = [];
      return { value: parseTrustProxy(text, problems), problems };
    };
    expect(read("false").value).toBe(false);
    expect(read("true").value).toBe(1);
    expect(read("2").value).toBe(2);
    expect(read("10.0.0.0/8, 127.0.0.1, ::1, fd00::/8").value).toEqual([
      "10.0.0.0/8",
      "127.0.0.1",
      "::1",
      "fd00::/8",
    ]);
    for (const bad of ["yes", "10.0.0.0/8,proxy.internal", "1.2.3", "-1"]) {
      expect(read(bad).problems, bad).toHaveLength(1);
    }
  });
});

describe("errors outside the routes", () => {
  it("answers paths under /assets/ that escape it or name the folder with a 404 problem, logged below error", async () => {
    const port = new URL(server.baseUrl).port;
    for (const path of [
      "/assets/../package.json",
      "/assets/",
      "/assets/%2e%2e/package.json",
      "/assets/nope.js",
    ]) {
      const res = await raw(
        server.baseUrl,
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status, path).toBe(404);
      expect(res.text).toContain("application/problem+json");
    }
    expect(server.logs()).not.toMatch(/"level":50/);
  });

  it("refuses a leap second in expiresAt with 400, not 500", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const res = await client.post<{ code: string }>(`/api/v1/applications/${appId}/tokens`, {
      name: "leap",
      expiresAt: "2030-06-30T23:59:60Z",
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
  });
});

describe("authenticated reads", () => {
  it("carry Cache-Control: no-store", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    await createToken(client, appId, { name: "cached?" });
    for (const path of [
      "/api/v1/me",
      "/api/v1/applications",
      `/api/v1/applications/${appId}`,
      `/api/v1/applications/${appId}/tokens?all=1`,
      `/api/v1/applications/${appId}/members`,
      `/api/v1/applications/${appId}/audit`,
    ]) {
      const res = await client.get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("cache-control"), path).toBe("no-store");
    }
    const anonymous = await new Client(server.baseUrl).get("/api/v1/me");
    expect(anonymous.headers.get("cache-control")).toBe("no-store");
  });
});
