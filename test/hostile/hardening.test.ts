import { describe, expect, it } from "vitest";
import { parseTrustProxy } from "../../src/config.js";
import {
  bearer,
  Client,
  createApp,
  createServiceKey,
  createToken,
  signUpUser,
  signUpWithApp,
} from "../../src/test-support/harness.js";
import { pollUntil } from "../../src/test-support/poll.js";
import { setUpTestServer } from "../../src/test-support/server-fixture.js";
import { SseReader } from "../../src/test-support/sse.js";
import { problemCode, rawRequest } from "./support.js";

/**
 * The second round of probing (issue "Hardening"): each case failed on the code before it.
 */

const server = setUpTestServer();
const behindProxy = setUpTestServer({ TRUST_PROXY: "1", REQUIRE_HTTPS: "true" });
const behindListedProxy = setUpTestServer({ TRUST_PROXY: "127.0.0.1", REQUIRE_HTTPS: "true" });
const published = setUpTestServer({ PUBLIC_ORIGIN: "https://keys.example.com" });
// Not on a loopback address and no PUBLIC_ORIGIN: the Host check has nothing to compare with.
const unchecked = setUpTestServer({ HOST: "0.0.0.0" });

function raw(baseUrl: string, request: string) {
  return rawRequest(baseUrl, request, 5000, false);
}

describe("the Host check", () => {
  it("answers only for the loopback names with the server's port when PUBLIC_ORIGIN is unset", async () => {
    const port = new URL(server.baseUrl).port;
    // Host names are case-insensitive (RFC 9110, 4.2.3).
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      `LocalHost:${port}`,
    ]) {
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
    for (const host of ["keys.example.com", "Keys.Example.COM"]) {
      const ok = await raw(
        published.baseUrl,
        `GET /api/v1/me HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      expect(ok.status, host).toBe(401);
    }
    const port = new URL(published.baseUrl).port;
    const local = await raw(
      published.baseUrl,
      `GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    );
    expect(local.status).toBe(421);
  });

  it("answers an HTTP/1.1 request without Host with a problem, as every refusal, and logs it", async () => {
    for (const target of [server, published, unchecked]) {
      for (const path of ["/api/v1/me", "/healthz"]) {
        const before = target.logs().length;
        const res = await raw(target.baseUrl, `GET ${path} HTTP/1.1\r\nConnection: close\r\n\r\n`);
        await pollUntil("the access line", () =>
          target.logs().slice(before).includes("request completed"),
        );
        expect(target.logs().slice(before)).toMatch(
          /"url":"\/[a-z/0-9]+","remoteAddress".*"statusCode":400/,
        );
        expect(res.status, path).toBe(400);
        expect(problemCode(res), path).toBe("invalid_request");
        expect(res.text).toMatch(/\r\ncontent-type: application\/problem\+json/i);
        expect(res.text).toMatch(/\r\nx-content-type-options: nosniff/i);
      }
    }
    // HTTP/1.0 has no Host requirement: a probe from an old client still gets through,
    // and any other path meets the Host check as before.
    const old = await raw(server.baseUrl, "GET /healthz HTTP/1.0\r\n\r\n");
    expect(old.text).toMatch(/^HTTP\/1\.1 200/);
    const oldElsewhere = await raw(server.baseUrl, "GET /api/v1/me HTTP/1.0\r\n\r\n");
    expect(oldElsewhere.text).toMatch(/^HTTP\/1\.1 421/);
    // Where the Host check is off, any Host is still taken, as before.
    const anyHost = await raw(
      unchecked.baseUrl,
      "GET /api/v1/me HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    expect(anyHost.status).toBe(401);
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

describe("leak reports", () => {
  it("act only on secrets that still work: an ended old secret changes nothing, one in its grace ends alone", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const issued = await createToken(client, appId, { name: "rotated" });
    const regenerate = (graceSeconds: number) =>
      client.post<{ token: string }>(
        `/api/v1/applications/${appId}/tokens/${issued.id}/regenerate`,
        { graceSeconds },
      );
    const report = (token: string) =>
      new Client(server.baseUrl).post<{ received: number }>("/api/v1/leaks", { tokens: [token] });
    const works = async (token: string) =>
      (await fetch(`${server.baseUrl}/api`, { headers: bearer(token) })).status === 200;

    // Regenerated at once: the first secret has ended. Reporting it must not touch the token.
    const second = (await regenerate(0)).body.token;
    const dead = await report(issued.token);
    expect(dead.status).toBe(202);
    expect(await works(second)).toBe(true);

    // Regenerated with a grace period: the second secret still works for an hour. Reporting
    // it ends it now, and only it, and the revocation stream says so.
    const third = (await regenerate(3600)).body.token;
    const key = (await createServiceKey(client, appId)).key;
    const stream = await SseReader.open(`${server.baseUrl}/api/v1/service/events`, {
      authorization: `Bearer ${key}`,
    });
    await stream.waitFor("a position", (r) => r.lastId);
    expect(await works(second)).toBe(true);
    // Verified before the report too, so an answer about it is cached when the report comes.
    expect(await works(third)).toBe(true);
    const graced = await report(second);
    expect(graced.status).toBe(202);
    expect(graced.body).toEqual(dead.body);
    expect(await works(second)).toBe(false);
    expect(await works(third)).toBe(true);
    await stream.waitFor("secret.ended for the reported old secret", (r) =>
      r.events.find((e) => e.event === "secret.ended" && e.data?.includes(issued.id)),
    );
    stream.close();

    // The current secret reported: the token is revoked.
    await report(third);
    expect(await works(third)).toBe(false);
  });
});

describe("names and emails", () => {
  it("compare NFC-normalised names and refuse invisible ones over HTTP", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const create = (name: string) =>
      client.post<{ code: string }>(`/api/v1/applications/${appId}/tokens`, { name });
    expect((await create("café")).status).toBe(201);
    const nfd = await create("cafe\u0301");
    expect(nfd.status).toBe(409);
    expect(nfd.body.code).toBe("token_name_taken");
    expect((await create("prod")).status).toBe(201);
    for (const name of ["prod\u200b", "\u200b", "evil\u202etxt.exe"]) {
      expect((await create(name)).status, JSON.stringify(name)).toBe(400);
    }
    const app = await client.post("/api/v1/applications", { name: "Pay\u202ements" });
    expect(app.status).toBe(400);
    const signup = await new Client(server.baseUrl).post("/api/v1/auth/signup", {
      email: "a\u200bn@example.com",
      password: "correct horse battery staple",
      name: "A",
    });
    expect(signup.status).toBe(400);
  });
});

describe("verify's audience", () => {
  it("answers invalid for a token of another application when applicationId is given", async () => {
    const a = await signUpWithApp(server.baseUrl);
    const b = await signUpWithApp(server.baseUrl);
    const token = (await createToken(a.client, a.appId, { name: "aud" })).token;
    const verify = (body: unknown) =>
      new Client(server.baseUrl).post<{ valid: boolean; code?: string }>("/api/v1/verify", body);
    expect((await verify({ token, applicationId: a.appId })).body.valid).toBe(true);
    expect((await verify({ token, applicationId: b.appId })).body).toEqual({
      valid: false,
      code: "invalid_token",
    });
    expect((await verify({ token })).body.valid).toBe(true);
  });
});

describe("per-token address allowlists", () => {
  it("refuse a token from any other address like an invalid one, and tell its owner", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const created = await client.post<{
      token: string;
      apiToken: { id: string; allowedAddresses: string[] };
    }>(`/api/v1/applications/${appId}/tokens`, {
      name: "pinned",
      allowedAddresses: ["203.0.113.0/24"],
    });
    expect(created.status).toBe(201);
    expect(created.body.apiToken.allowedAddresses).toEqual(["203.0.113.0/24"]);
    const token = created.body.token;
    // The test client is 127.0.0.1: off the list.
    const refused = await fetch(`${server.baseUrl}/api`, { headers: bearer(token) });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const verify = (body: Record<string, unknown>) =>
      new Client(server.baseUrl).post<{ valid: boolean }>("/api/v1/verify", { token, ...body });
    expect((await verify({})).body.valid).toBe(false);
    expect((await verify({ clientAddress: "203.0.113.77" })).body.valid).toBe(true);
    expect((await verify({ clientAddress: "198.51.100.1" })).body.valid).toBe(false);

    // The owner sees the refusal, with the address.
    const audit = await pollUntil("the refusal in the activity", async () => {
      const page = await client.get<{
        events: Array<{ action: string; reason: string; ip: string }>;
      }>(`/api/v1/applications/${appId}/audit?action=token.refused`);
      return page.body.events.length > 0 ? page.body.events : false;
    });
    expect(audit.map((e) => e.ip)).toEqual(expect.arrayContaining(["127.0.0.1", "198.51.100.1"]));

    // The owner widens it; from then on it works from here.
    const path = `/api/v1/applications/${appId}/tokens/${created.body.apiToken.id}`;
    const updated = await client.request("PATCH", path, {
      body: { allowedAddresses: ["127.0.0.1", "::1"] },
    });
    expect(updated.status).toBe(200);
    expect((await fetch(`${server.baseUrl}/api`, { headers: bearer(token) })).status).toBe(200);
    const cleared = await client.request("PATCH", path, { body: { allowedAddresses: [] } });
    expect((cleared.body as { allowedAddresses: string[] }).allowedAddresses).toEqual([]);
    for (const bad of [
      ["nonsense"],
      ["10.0.0.0/33"],
      Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`),
    ]) {
      expect(
        (await client.request("PATCH", path, { body: { allowedAddresses: bad } })).status,
      ).toBe(400);
    }
  });
});

describe("a refusal's detail", () => {
  const problemOf = (answer: { body: unknown }) => answer.body as { code: string; detail: string };
  it("names a bad list entry by its place, never by its text (a pasted secret is not echoed)", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { token, id } = await createToken(client, appId, { name: "pasted" });
    const secrets = [token, "S3cretPassw0rd"];
    const origins = await client.request("PATCH", `/api/v1/applications/${appId}`, {
      body: {
        returnOrigins: ["https://ok.example.com", "https://admin:S3cretPassw0rd@app.example.com"],
      },
    });
    expect(origins.status).toBe(400);
    expect(problemOf(origins).detail).toMatch(/^Return origin 2 /);
    const asText = await client.request("PATCH", `/api/v1/applications/${appId}`, {
      body: { returnOrigins: [token] },
    });
    expect(asText.status).toBe(400);
    expect(problemOf(asText).detail).toMatch(/^Return origin 1 is not an origin/);
    const addresses = await client.request("PATCH", `/api/v1/applications/${appId}/tokens/${id}`, {
      body: { allowedAddresses: ["10.0.0.1", token] },
    });
    expect(addresses.status).toBe(400);
    expect(problemOf(addresses).detail).toMatch(/^Allowed address 2 /);
    for (const answer of [origins, asText, addresses]) {
      expect(problemOf(answer).code).toBe("validation_failed");
      for (const secret of secrets) expect(answer.text).not.toContain(secret);
    }
    // Nothing was saved.
    const app = await client.get<{ returnOrigins: string[] }>(`/api/v1/applications/${appId}`);
    expect(app.body.returnOrigins).toEqual([]);
  });
});
