import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import type { AuditPage, HostUserAnswer, PortalSession, SessionList } from "../contract/index.js";
import {
  Client,
  createServiceKey,
  createToken,
  serviceClient,
  signUpUser,
  signUpWithApp,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

// Requests a client can send that no route expects: each gets a problem answer and
// changes nothing.
const server = setUpTestServer();

type Problem = { type: string; title: string; status: number; detail: string; code: string };

/** Sends raw bytes and reads the whole answer (the server closes or answers once). */
async function raw(text: string): Promise<{ status: number; head: string; body: string }> {
  const url = new URL(server.baseUrl);
  const socket = connect(Number(url.port), url.hostname);
  let received = "";
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("utf8");
  });
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.write(text);
  // One answer: its head, then Content-Length bytes of body.
  const answer = await new Promise<{ head: string; body: string }>((resolve, reject) => {
    const check = () => {
      const end = received.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = received.slice(0, end);
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? "0");
      const body = received.slice(end + 4);
      if (Buffer.byteLength(body) >= length) resolve({ head, body });
    };
    socket.on("data", check);
    socket.on("end", check);
    socket.on("error", reject);
  });
  socket.destroy();
  return { status: Number(answer.head.split(" ")[1]), ...answer };
}

async function hostSetUp() {
  const owner = await signUpWithApp(server.baseUrl, "Acme API");
  const key = await createServiceKey(owner.client, owner.appId);
  return { ...owner, key, service: serviceClient(server.baseUrl, key.key) };
}

describe("what no route expects", () => {
  it("answers an Expect other than 100-continue with a 417 problem that carries the usual headers", async () => {
    const host = new URL(server.baseUrl).host;
    const answer = await raw(
      `POST /api/v1/verify HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        `Expect: 200-ok\r\nContent-Length: 13\r\n\r\n{"token":"x"}`,
    );
    expect(answer.status).toBe(417);
    expect(answer.head).toMatch(/content-type: application\/problem\+json/i);
    expect(answer.head).toMatch(/x-content-type-options: nosniff/i);
    expect(answer.head).toMatch(/cache-control: no-store/i);
    const problem = JSON.parse(answer.body) as Problem;
    expect(problem).toMatchObject({ status: 417, code: "expectation_failed" });
    expect(problem.type).toMatch(/expectation_failed/);
    // Expect: 100-continue is still met: the body is asked for and read.
    const continued = await raw(
      `POST /api/v1/verify HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        `Expect: 100-continue\r\nContent-Length: 13\r\n\r\n{"token":"x"}`,
    );
    expect(continued.status).toBe(100);
  });

  it("refuses a compressed body (415, Accept-Encoding: identity) and takes one marked identity", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    for (const encoding of ["gzip", "br", "deflate, gzip"]) {
      const res = await client.request("POST", `/api/v1/applications/${appId}/tokens`, {
        body: { name: `zipped ${encoding}` },
        headers: { "content-encoding": encoding },
      });
      expect(res.status, encoding).toBe(415);
      expect((res.body as Problem).code).toBe("unsupported_media_type");
      expect(res.headers.get("accept-encoding")).toBe("identity");
    }
    const listed = await client.get<{ tokens: unknown[] }>(`/api/v1/applications/${appId}/tokens`);
    expect(listed.body.tokens).toEqual([]);
    const plain = await client.request("POST", `/api/v1/applications/${appId}/tokens`, {
      body: { name: "plain" },
      headers: { "content-encoding": "identity" },
    });
    expect(plain.status).toBe(201);
  });

  it("refuses a body with fields on a write that takes none, and takes none or {}", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { id } = await createToken(client, appId, { name: "to revoke" });
    const path = `/api/v1/applications/${appId}/tokens/${id}`;
    // Any JSON value but an empty object: an object with a field, an array, a string, null.
    for (const body of [{ cascade: false }, [1], JSON.stringify("text"), null, 0]) {
      const res = await client.request("DELETE", path, { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((res.body as Problem).code).toBe("validation_failed");
    }
    const named = await client.request("DELETE", path, { body: { cascade: false } });
    expect((named.body as Problem).detail).toBe(
      'body: unknown field "cascade"; this route takes no body',
    );
    // Nothing changed: the token is still active.
    const tokens = await client.get<{ tokens: { id: string; status: string }[] }>(
      `/api/v1/applications/${appId}/tokens`,
    );
    expect(tokens.body.tokens.find((t) => t.id === id)?.status).toBe("active");
    expect((await client.request("DELETE", path, { body: {} })).status).toBe(204);
    expect((await client.request("DELETE", path)).status).toBe(204);
  });

  it("refuses an unknown field inside branding, and keeps the branding it had", async () => {
    const host = await hostSetUp();
    const path = `/api/v1/applications/${host.appId}`;
    const branding = { displayName: "Acme", accentColor: "#112233" };
    expect((await host.client.request("PATCH", path, { body: { branding } })).status).toBe(200);
    const refused = await host.client.request("PATCH", path, {
      body: { branding: { displayName: "X", accentColor: "#000000", evil: "ignored" } },
    });
    expect(refused.status).toBe(400);
    expect((refused.body as Problem).detail).toBe('body: unknown field "evil"');
    const after = await host.client.get<{ branding: unknown }>(path);
    expect(after.body.branding).toEqual(branding);
  });

  it("checks the host a request in absolute form names, and refuses a Host header that differs", async () => {
    const host = new URL(server.baseUrl).host;
    const request = (target: string, hostHeader: string) =>
      raw(`GET ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`);
    const foreign = await request("http://evil.example/api/v1/me", "evil.example");
    expect(foreign.status).toBe(421);
    expect((JSON.parse(foreign.body) as Problem).code).toBe("misdirected_request");
    // Two hosts in one request: neither is believed.
    for (const [target, hostHeader] of [
      ["http://evil.example/api/v1/me", host],
      [`http://${host}/api/v1/me`, "evil.example"],
    ] as const) {
      const mixed = await request(target, hostHeader);
      expect(mixed.status, target).toBe(400);
      expect((JSON.parse(mixed.body) as Problem).code).toBe("invalid_request");
    }
    // HTTP/1.1 needs its Host header in absolute form too.
    const headerless = await raw(
      `GET http://${host}/api/v1/me HTTP/1.1\r\nConnection: close\r\n\r\n`,
    );
    expect(headerless.status).toBe(400);
    // Its own host both ways, in any case: past the Host check, to the route's own answer.
    expect((await request(`HTTP://${host.toUpperCase()}/api/v1/me`, host)).status).toBe(401);
    const logs = server.logs();
    expect(logs).not.toContain("http://evil.example");
    expect(logs).toContain('"url":"/api/v1/me"');
  });

  it("says a path segment is too long (400), not that the route does not exist", async () => {
    const { service } = await hostSetUp();
    const long = await service<Problem>("GET", `/api/v1/service/users/${"a".repeat(401)}`);
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({
      code: "invalid_request",
      detail: "A path segment is too long.",
    });
    // Still 404 for a path that is merely unknown.
    expect((await service<Problem>("GET", "/api/v1/service/nothing")).status).toBe(404);
  });

  it("refuses a service key in the query string (400), as the protected API refuses a token there", async () => {
    const { key, service } = await hostSetUp();
    // The path is not the query: a user may be called anything, access_token included.
    expect((await service("PUT", "/api/v1/service/users/access_token", {})).status).toBe(201);
    expect((await service("GET", "/api/v1/service/users/access_token")).status).toBe(200);
    const res = await fetch(`${server.baseUrl}/api/v1/service/users/u1?access_token=${key.key}`);
    const problem = (await res.json()) as Problem;
    expect(res.status).toBe(400);
    expect(problem.code).toBe("invalid_request");
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_request"');
    expect(JSON.stringify(problem)).not.toContain(key.key);
  });
});

describe("values a verification or a portal link names", () => {
  it("refuses a clientAddress that is not an IP address, on both verify routes, and records nothing", async () => {
    const host = await hostSetUp();
    const created = await host.client.post<{ token: string; apiToken: { id: string } }>(
      `/api/v1/applications/${host.appId}/tokens`,
      { name: "allowlisted", allowedAddresses: ["10.0.0.1"] },
    );
    expect(created.status).toBe(201);
    const token = created.body.token;
    const bad = ["\u0000\u001b]0;owned\u0007", "<b>x</b>", "10.0.0.1 ", "fe80::1%", "::1%a b", ""];
    for (const clientAddress of bad) {
      const open = await host.client.request("POST", "/api/v1/verify", {
        body: { token, clientAddress },
        origin: null,
      });
      expect(open.status, JSON.stringify(clientAddress)).toBe(400);
      expect((open.body as Problem).code).toBe("validation_failed");
      const service = await host.service<Problem>("POST", "/api/v1/service/verify", {
        token,
        clientAddress,
      });
      expect(service.status, JSON.stringify(clientAddress)).toBe(400);
    }
    // An address is still matched against the allowlist, in both forms IPv6 allows, and a
    // link-local one with its interface, as Node gives it and the adapters pass it on.
    for (const [clientAddress, valid] of [
      ["10.0.0.1", true],
      ["::ffff:10.0.0.1", true],
      ["10.0.0.2", false],
      ["2001:db8::1", false],
      ["fe80::1%eth0", false],
    ] as const) {
      const res = await host.service<{ valid: boolean }>("POST", "/api/v1/service/verify", {
        token,
        clientAddress,
      });
      expect(res.body.valid, clientAddress).toBe(valid);
    }
    const audit = await host.client.get<AuditPage>(
      `/api/v1/applications/${host.appId}/audit?action=token.refused`,
    );
    const addresses = audit.body.events.map((e) => (e as { ip?: string | null }).ip);
    expect(addresses.sort()).toEqual(["10.0.0.2", "2001:db8::1", "fe80::1"]);
  });

  it("records refusals by address a caller names at most once a /64 and 100 times a token an hour", async () => {
    const host = await hostSetUp();
    const allowlisted = async (name: string) => {
      const created = await host.client.post<{ token: string; apiToken: { id: string } }>(
        `/api/v1/applications/${host.appId}/tokens`,
        { name, allowedAddresses: ["10.0.0.1"] },
      );
      expect(created.status).toBe(201);
      return { token: created.body.token, id: created.body.apiToken.id };
    };
    const refusedFrom = async (token: string, clientAddress: string) => {
      const res = await host.service<{ valid: boolean }>("POST", "/api/v1/service/verify", {
        token,
        clientAddress,
      });
      expect(res.body.valid, clientAddress).toBe(false);
    };
    const recorded = async (tokenId: string) =>
      (
        await host.client.get<AuditPage>(
          `/api/v1/applications/${host.appId}/audit?action=token.refused&tokenId=${tokenId}&limit=500`,
        )
      ).body.events.length;
    const flooded = await allowlisted("flooded");
    // Five addresses of one /64: one row.
    for (let i = 1; i <= 5; i++) await refusedFrom(flooded.token, `2001:db8:1:2::${i}`);
    await pollUntil("the /64's row", async () => (await recorded(flooded.id)) === 1);
    // 150 networks: 99 rows more, then none that hour.
    for (let n = 1; n <= 150; n++) await refusedFrom(flooded.token, `2001:db8:100:${n}::1`);
    await pollUntil("the token's hundred rows", async () => (await recorded(flooded.id)) === 100);
    // Another token's row, recorded after every one above was asked: the count stays.
    const other = await allowlisted("other");
    await refusedFrom(other.token, "10.9.9.9");
    await pollUntil("the other token's row", async () => (await recorded(other.id)) === 1);
    expect(await recorded(flooded.id)).toBe(100);
  });

  it("keeps a portal link's returnUrl as the URL standard writes it, and refuses control characters and spaces around it", async () => {
    const host = await hostSetUp();
    const patched = await host.client.request("PATCH", `/api/v1/applications/${host.appId}`, {
      body: { returnOrigins: ["https://app.example.com"] },
    });
    expect(patched.status).toBe(200);
    await host.service("PUT", "/api/v1/service/users/u1", {});
    for (const returnUrl of [
      " https://app.example.com/",
      "https://app.example.com/ ",
      "https://app.example.com/\u0000\u0007x",
      "https://app.example.com/\u0085",
    ]) {
      const res = await host.service<Problem>("POST", "/api/v1/service/portal-sessions", {
        externalId: "u1",
        returnUrl,
      });
      expect(res.status, JSON.stringify(returnUrl)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const link = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "u1",
      returnUrl: "HTTPS://APP.example.com:443/back\\home?x=é",
    });
    expect(link.status).toBe(201);
    const opened = await fetch(link.body.url, { redirect: "manual" });
    const client = new Client(server.baseUrl);
    client.cookie = (opened.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
    const me = await client.get<{ portal: { returnUrl: string } }>("/api/v1/me");
    expect(me.body.portal.returnUrl).toBe("https://app.example.com/back/home?x=%C3%A9");
    // A space inside is kept written as the URL standard writes it.
    const spaced = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "u1",
      returnUrl: "https://app.example.com/a b",
    });
    expect(spaced.status).toBe(201);
  });

  it("refuses portal links and new tokens for a host user an operator disabled, and a link made before", async () => {
    const host = await hostSetUp();
    const made = await host.service<HostUserAnswer>("PUT", "/api/v1/service/users/gone", {});
    const earlier = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "gone",
    });
    const disable = (disabledAt: number | null) =>
      server.keyward.store.operator.setUserDisabled({ userId: made.body.user.id, disabledAt }, []);
    await disable(Date.now());

    const link = await host.service<Problem>("POST", "/api/v1/service/portal-sessions", {
      externalId: "gone",
    });
    expect(link.status).toBe(409);
    expect(link.body.code).toBe("user_disabled");
    const token = await host.service<Problem>("POST", "/api/v1/service/users/gone/tokens", {
      name: "refused",
    });
    expect(token.status).toBe(409);
    expect(token.body.code).toBe("user_disabled");
    const opened = await fetch(earlier.body.url, { redirect: "manual" });
    expect(opened.status).toBe(410);
    expect(opened.headers.getSetCookie()).toEqual([]);
    // Listing and removing still work for a disabled user.
    expect((await host.service("GET", "/api/v1/service/users/gone")).status).toBe(200);

    // Enabled again: the link made before was ended with their sessions; a new one works.
    await disable(null);
    expect((await fetch(earlier.body.url, { redirect: "manual" })).status).toBe(410);
    const fresh = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "gone",
    });
    expect((await fetch(fresh.body.url, { redirect: "manual" })).status).toBe(303);
    expect(
      (await host.service("POST", "/api/v1/service/users/gone/tokens", { name: "ok" })).status,
    ).toBe(201);
  });

  it("shows a session's User-Agent with its control characters as spaces", async () => {
    const { user } = await signUpUser(server.baseUrl);
    const fresh = new Client(server.baseUrl);
    // Header values arrive as bytes: 0x9b is read as U+009B, a C1 control.
    const signin = await fresh.request("POST", "/api/v1/auth/signin", {
      body: { email: user.email, password: "correct horse battery staple" },
      headers: { "user-agent": `Agent\tone ${String.fromCharCode(0x9b)}2J` },
    });
    expect(signin.status).toBe(200);
    const sessions = await fresh.get<SessionList>("/api/v1/me/sessions");
    const agents = sessions.body.sessions.map((s) => s.userAgent);
    expect(agents).toContain("Agent one  2J");
  });
});

describe("a request with many headers", () => {
  const behindProxy = setUpTestServer({ TRUST_PROXY: "1" });

  it("keeps every header within the size limit: a proxy's X-Forwarded-For after 1,000 others still counts", async () => {
    const owner = await signUpWithApp(behindProxy.baseUrl);
    const { token } = await createToken(owner.client, owner.appId, {
      name: "from one office",
      allowedAddresses: ["203.0.113.9/32"],
    });
    const url = new URL(behindProxy.baseUrl);
    /** The client's own X-Forwarded-For, `filler` headers, then the one the proxy appends. */
    const request = (filler: number, proxySaw: string) => {
      const socket = connect(Number(url.port), url.hostname);
      let received = "";
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString("utf8");
      });
      socket.write(
        `GET /api HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\n` +
          "X-Forwarded-For: 203.0.113.9\r\n" +
          "a:b\r\n".repeat(filler) +
          `X-Forwarded-For: ${proxySaw}\r\nConnection: close\r\n\r\n`,
      );
      return new Promise<number>((resolve, reject) => {
        socket.on("end", () => resolve(Number(received.split(" ")[1])));
        socket.on("error", reject);
      });
    };
    // From the office, through the proxy: allowed, whatever comes between.
    expect(await request(0, "203.0.113.9")).toBe(200);
    expect(await request(1200, "203.0.113.9")).toBe(200);
    // From elsewhere, with the office's address written by the client itself: refused,
    // also when the proxy's header is the 1,001st and later.
    for (const filler of [0, 996, 997, 1200]) {
      expect(await request(filler, "198.51.100.7"), `${filler} headers between`).toBe(401);
    }
  });
});
