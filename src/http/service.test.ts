import { describe, expect, it } from "vitest";
import type {
  AuditPage,
  HostUserAnswer,
  IssuedServiceKey,
  IssuedToken,
  Me,
  PortalSession,
  ServiceKeyList,
  ServiceVerification,
  TokenList,
} from "../contract/index.js";
import { checkTokenFormat } from "../core/token.js";
import { ManualClock } from "../test-support/clock.js";
import {
  addMember,
  bearer,
  Client,
  createServiceKey,
  createToken,
  flushUsage,
  serviceClient,
  signUpUser,
  signUpWithApp,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { setUpTestServer } from "../test-support/server-fixture.js";
import { SseReader } from "../test-support/sse.js";

const clock = new ManualClock();
const server = setUpTestServer({}, { clock });

type Problem = { code: string; status: number; detail: string };

/** An application with a service key, as a host's team sets it up. */
async function hostSetUp() {
  const owner = await signUpWithApp(server.baseUrl, "Acme API");
  const key = await createServiceKey(owner.client, owner.appId, "acme-backend");
  return { ...owner, key, service: serviceClient(server.baseUrl, key.key) };
}

/** Opens a portal link as a browser would, without following the redirect. */
async function openPortal(
  url: string,
): Promise<{ status: number; location: string | null; cookie: string }> {
  const res = await fetch(url, { redirect: "manual" });
  await res.text();
  const cookie = (res.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  return { status: res.status, location: res.headers.get("location"), cookie };
}

async function portalUser(host: Awaited<ReturnType<typeof hostSetUp>>, externalId: string) {
  await host.service("PUT", `/api/v1/service/users/${externalId}`, { email: "h@example.com" });
  const link = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
    externalId,
  });
  const opened = await openPortal(link.body.url);
  const client = new Client(server.baseUrl);
  client.cookie = opened.cookie;
  return client;
}

describe("service keys", () => {
  it("are created once in the clear by owners and admins, listed by hint, and revoked", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const created = await client.post<IssuedServiceKey>(
      `/api/v1/applications/${appId}/service-keys`,
      { name: "  backend  " },
    );
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    expect(created.body.key).toMatch(/^kwsk_[0-9A-Za-z]{36}$/);
    expect(checkTokenFormat(created.body.key, "kwsk")).toEqual({ ok: true });
    expect(created.body.serviceKey).toMatchObject({
      name: "backend",
      hint: `kwsk_…${created.body.key.slice(-4)}`,
      status: "active",
      lastUsedAt: null,
    });
    const listed = await client.get<ServiceKeyList>(`/api/v1/applications/${appId}/service-keys`);
    expect(listed.body.serviceKeys.map((k) => k.id)).toEqual([created.body.serviceKey.id]);
    expect(listed.text).not.toContain(created.body.key);

    const service = serviceClient(server.baseUrl, created.body.key);
    expect((await service("PUT", "/api/v1/service/users/u1", {})).status).toBe(201);
    // Written beside the request, not in its way: it lands shortly after.
    await pollUntil("the key's last use", async () => {
      const used = await client.get<ServiceKeyList>(`/api/v1/applications/${appId}/service-keys`);
      return used.body.serviceKeys[0]?.lastUsedAt ?? false;
    });

    const path = `/api/v1/applications/${appId}/service-keys/${created.body.serviceKey.id}`;
    expect((await client.delete(path)).status).toBe(204);
    expect((await client.delete(path)).status).toBe(204);
    const refused = await service<Problem>("GET", "/api/v1/service/users/u1");
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("invalid_token");
    const after = await client.get<ServiceKeyList>(`/api/v1/applications/${appId}/service-keys`);
    expect(after.body.serviceKeys[0]?.status).toBe("revoked");
  });

  it("are the business of owners and admins only", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const member = await addMember(client, appId, "member");
    const admin = await addMember(client, appId, "admin");
    const base = `/api/v1/applications/${appId}/service-keys`;
    expect((await member.client.post<Problem>(base, { name: "x" })).body.code).toBe("forbidden");
    expect((await member.client.get<Problem>(base)).status).toBe(403);
    expect((await admin.client.post(base, { name: "x" })).status).toBe(201);
  });

  it("work under /api/v1/service/ only, and API tokens never work there", async () => {
    const host = await hostSetUp();
    const token = await createToken(host.client, host.appId, { name: "mine" });
    const onManagement = await new Client(server.baseUrl).get<Problem>(
      "/api/v1/applications",
      bearer(host.key.key),
    );
    expect(onManagement.status).toBe(401);
    expect(onManagement.body.code).toBe("invalid_token");
    const onProtected = await fetch(`${server.baseUrl}/api`, { headers: bearer(host.key.key) });
    expect(onProtected.status).toBe(401);
    const tokenOnService = await serviceClient(server.baseUrl, token.token)<Problem>(
      "GET",
      "/api/v1/service/users/u1",
    );
    expect(tokenOnService.status).toBe(401);
    expect(tokenOnService.body.code).toBe("invalid_token");
    expect(tokenOnService.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const missing = await fetch(`${server.baseUrl}/api/v1/service/users/u1`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="service"');
    const malformed = await fetch(`${server.baseUrl}/api/v1/service/users/u1`, {
      headers: { authorization: `Bearer ${host.key.key} extra` },
    });
    expect(malformed.status).toBe(400);
    const madeUp = await serviceClient(server.baseUrl, `kwsk_${"a".repeat(36)}`)<Problem>(
      "GET",
      "/api/v1/service/users/u1",
    );
    expect(madeUp.status).toBe(401);
  });

  it("end the revocation streams they hold when revoked, or reported leaked", async () => {
    for (const how of ["revoked", "leaked"] as const) {
      const host = await hostSetUp();
      const stream = await SseReader.open(`${server.baseUrl}/api/v1/service/events`, {
        authorization: `Bearer ${host.key.key}`,
      });
      expect(stream.response.statusCode).toBe(200);
      await stream.waitFor("a position", (r) => r.lastId);
      if (how === "revoked") {
        await host.client.delete(`/api/v1/applications/${host.appId}/service-keys/${host.key.id}`);
      } else {
        await new Client(server.baseUrl).post("/api/v1/leaks", { tokens: [host.key.key] });
      }
      await pollUntil(`the stream of a ${how} key to end`, () => stream.ended);
    }
  });

  it("are read from storage once, then from memory; a revocation is refused by the next call", async () => {
    const host = await hostSetUp();
    // A token refused before any storage read: the key is the only thing a call reads.
    const verify = () =>
      host.service<ServiceVerification>("POST", "/api/v1/service/verify", {
        token: `kw_${"a".repeat(36)}`,
      });
    expect((await verify()).status).toBe(200);
    const before = server.keyward.store.stats.serviceKeyLookups;
    for (let i = 0; i < 20; i++) expect((await verify()).body.valid).toBe(false);
    // Twenty calls, no read of the key (on PostgreSQL, a change heard while the first
    // read was under way would leave it uncached: one more read then).
    expect(server.keyward.store.stats.serviceKeyLookups - before).toBeLessThanOrEqual(1);

    await host.client.delete(`/api/v1/applications/${host.appId}/service-keys/${host.key.id}`);
    const refused = await verify();
    expect(refused.status).toBe(401);
  });

  it("are revoked by a leak report", async () => {
    const host = await hostSetUp();
    // Used first, so that the key is cached when the report revokes it.
    expect((await host.service("GET", "/api/v1/service/users/nobody")).status).toBe(404);
    const report = await new Client(server.baseUrl).post("/api/v1/leaks", {
      tokens: [host.key.key],
    });
    expect(report.status).toBe(202);
    expect((await host.service("GET", "/api/v1/service/users/nobody")).status).toBe(401);
  });
});

describe("host users", () => {
  it("are created (201), updated (200), read and refused when unknown", async () => {
    const { service } = await hostSetUp();
    const created = await service<HostUserAnswer>("PUT", "/api/v1/service/users/user-1", {
      email: "Ann@Example.com",
      name: "Ann",
    });
    expect(created.status).toBe(201);
    expect(created.body.user).toMatchObject({
      externalId: "user-1",
      email: "ann@example.com",
      name: "Ann",
    });
    const updated = await service<HostUserAnswer>("PUT", "/api/v1/service/users/user-1", {
      name: "Ann B",
    });
    expect(updated.status).toBe(200);
    expect(updated.body.user).toEqual({ ...created.body.user, name: "Ann B" });
    const read = await service<HostUserAnswer>("GET", "/api/v1/service/users/user-1");
    expect(read.body.user).toEqual(updated.body.user);
    const unknown = await service<Problem>("GET", "/api/v1/service/users/user-2");
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("user_not_found");
  });

  it("take any id the host uses, percent-encoded, but no control characters", async () => {
    const { service } = await hostSetUp();
    const id = "org/42:user@example.com é";
    const path = `/api/v1/service/users/${encodeURIComponent(id)}`;
    const created = await service<HostUserAnswer>("PUT", path, {});
    expect(created.status).toBe(201);
    expect(created.body.user.externalId).toBe(id);
    expect((await service<HostUserAnswer>("GET", path)).body.user.externalId).toBe(id);
    for (const bad of ["a%00b", "a%0Ab", "a%7Fb", "a%C2%85b", "x".repeat(201)]) {
      const res = await service<Problem>("PUT", `/api/v1/service/users/${bad}`, {});
      expect(res.status, bad).toBe(400);
    }
  });

  it("take ids up to the documented 200 characters in the path, astral ones included", async () => {
    const { service } = await hostSetUp();
    // The router's own limit on a path segment once refused ids over 100 characters.
    for (const id of ["x".repeat(200), "é".repeat(200), "😀".repeat(200)]) {
      const path = `/api/v1/service/users/${encodeURIComponent(id)}`;
      const created = await service<HostUserAnswer>("PUT", path, {});
      expect(created.status, id).toBe(201);
      expect(created.body.user.externalId).toBe(id);
      expect((await service<HostUserAnswer>("GET", path)).status).toBe(200);
      expect((await service("DELETE", path)).status).toBe(204);
    }
    const tooLong = await service<Problem>(
      "PUT",
      `/api/v1/service/users/${encodeURIComponent("é".repeat(201))}`,
      {},
    );
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.code).toBe("validation_failed");
    // Past twice the limit in UTF-16 units the router refuses the segment before the
    // route's schema sees it: still a 400, as a malformed path.
    const pastTheRouter = await service<Problem>(
      "PUT",
      `/api/v1/service/users/${encodeURIComponent("😀".repeat(201))}`,
      {},
    );
    expect(pastTheRouter.status).toBe(400);
    expect(pastTheRouter.body.code).toBe("invalid_request");
  });

  it("never reach a Keyward account, even one with the same email", async () => {
    const account = await signUpWithApp(server.baseUrl);
    const { service } = await hostSetUp();
    const host = await service<HostUserAnswer>("PUT", "/api/v1/service/users/twin", {
      email: account.user.email,
    });
    expect(host.status).toBe(201);
    expect(host.body.user.id).not.toBe(account.user.id);
    const signIn = await new Client(server.baseUrl).post<{ user: { id: string } }>(
      "/api/v1/auth/signin",
      { email: account.user.email, password: "correct horse battery staple" },
    );
    expect(signIn.body.user.id).toBe(account.user.id);
    const me = await account.client.get<Me>("/api/v1/me");
    expect(me.body.applications.map((a) => a.id)).toEqual([account.appId]);
  });

  it("get tokens from the host, verified for the key's application with their id", async () => {
    const { service } = await hostSetUp();
    await service("PUT", "/api/v1/service/users/dev-1", {});
    const issued = await service<IssuedToken>("POST", "/api/v1/service/users/dev-1/tokens", {
      name: "CI",
      scopes: ["read"],
    });
    expect(issued.status).toBe(201);
    expect(issued.headers.get("cache-control")).toBe("no-store");
    const list = await service<TokenList>("GET", "/api/v1/service/users/dev-1/tokens");
    expect(list.body.tokens.map((t) => t.name)).toEqual(["CI"]);
    const verified = await service<ServiceVerification>("POST", "/api/v1/service/verify", {
      token: issued.body.token,
    });
    expect(verified.body).toMatchObject({
      valid: true,
      tokenId: issued.body.apiToken.id,
      externalId: "dev-1",
      scopes: ["read"],
    });
    const api = await fetch(`${server.baseUrl}/api`, { headers: bearer(issued.body.token) });
    expect(api.status).toBe(200);
  });

  it("lose every token at once when removed, and the host's id is free again", async () => {
    const { service } = await hostSetUp();
    await service("PUT", "/api/v1/service/users/leaver", {});
    const tokens = [];
    for (const name of ["a", "b"]) {
      tokens.push(
        (await service<IssuedToken>("POST", "/api/v1/service/users/leaver/tokens", { name })).body,
      );
    }
    expect((await service("DELETE", "/api/v1/service/users/leaver")).status).toBe(204);
    expect((await service("DELETE", "/api/v1/service/users/leaver")).status).toBe(204);
    for (const issued of tokens) {
      const api = await fetch(`${server.baseUrl}/api`, { headers: bearer(issued.token) });
      expect(api.status).toBe(401);
    }
    expect((await service("GET", "/api/v1/service/users/leaver")).status).toBe(404);
    const again = await service<HostUserAnswer>("PUT", "/api/v1/service/users/leaver", {});
    expect(again.status).toBe(201);
    const list = await service<TokenList>("GET", "/api/v1/service/users/leaver/tokens");
    expect(list.body.tokens).toEqual([]);
  });
});

describe("a service key of one application against another", () => {
  it("reaches none of its users or tokens, and verifies none of its tokens", async () => {
    const a = await hostSetUp();
    const b = await hostSetUp();
    await b.service("PUT", "/api/v1/service/users/shared", {});
    const bToken = await b.service<IssuedToken>("POST", "/api/v1/service/users/shared/tokens", {
      name: "b's",
    });
    const accountToken = await createToken(b.client, b.appId, { name: "owner's" });
    expect((await a.service("GET", "/api/v1/service/users/shared")).status).toBe(404);
    expect((await a.service("GET", "/api/v1/service/users/shared/tokens")).status).toBe(404);
    expect(
      (await a.service("DELETE", `/api/v1/service/tokens/${bToken.body.apiToken.id}`)).status,
    ).toBe(404);
    expect((await a.service("DELETE", `/api/v1/service/tokens/${accountToken.id}`)).status).toBe(
      404,
    );
    for (const token of [bToken.body.token, accountToken.token]) {
      const verified = await a.service<ServiceVerification>("POST", "/api/v1/service/verify", {
        token,
      });
      expect(verified.body).toEqual({ valid: false, code: "invalid_token" });
    }
    // Asking about B's tokens left no trace on them: no use, no refusal counted.
    await flushUsage(server);
    const bTokens = await b.service<TokenList>("GET", "/api/v1/service/users/shared/tokens");
    expect(bTokens.body.tokens[0]).toMatchObject({ lastUsedAt: null, refusedCount: 0 });
    // A's PUT of the same id makes A's own user; B's is untouched.
    expect((await a.service("PUT", "/api/v1/service/users/shared", {})).status).toBe(201);
    const stillB = await b.service<ServiceVerification>("POST", "/api/v1/service/verify", {
      token: bToken.body.token,
    });
    expect(stillB.body.valid).toBe(true);
    expect(stillB.body.externalId).toBe("shared");
    const ownerToken = await b.service<ServiceVerification>("POST", "/api/v1/service/verify", {
      token: accountToken.token,
    });
    expect(ownerToken.body).toMatchObject({ valid: true, externalId: null });
  });

  it("revokes its own application's tokens, including its team's", async () => {
    const host = await hostSetUp();
    const token = await createToken(host.client, host.appId, { name: "team" });
    expect((await host.service("DELETE", `/api/v1/service/tokens/${token.id}`)).status).toBe(204);
    expect((await host.service("DELETE", `/api/v1/service/tokens/${token.id}`)).status).toBe(204);
    const api = await fetch(`${server.baseUrl}/api`, { headers: bearer(token.token) });
    expect(api.status).toBe(401);
  });
});

describe("portal sessions", () => {
  it("sign the host user in once, for their application only, for at most an hour", async () => {
    const host = await hostSetUp();
    const patched = await host.client.request("PATCH", `/api/v1/applications/${host.appId}`, {
      body: {
        returnOrigins: ["https://acme.example/"],
        branding: { displayName: "Acme", accentColor: "#AA3300" },
      },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      returnOrigins: ["https://acme.example"],
      branding: { displayName: "Acme", accentColor: "#aa3300" },
    });
    await host.service("PUT", "/api/v1/service/users/p-1", { email: "p@example.com" });
    const link = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "p-1",
      returnUrl: "https://acme.example/settings?tab=api",
    });
    expect(link.status).toBe(201);
    const code = link.body.url.split("/portal/")[1] ?? "";
    expect(link.body.url).toBe(`${server.baseUrl}/portal/${code}`);
    expect(code).toMatch(/^[0-9A-Za-z]{43}$/);
    expect(Date.parse(link.body.expiresAt) - clock.now()).toBeLessThanOrEqual(300_000);

    const opened = await openPortal(link.body.url);
    expect(opened.status).toBe(303);
    expect(opened.location).toBe(`/app/${host.appId}/account-management`);
    const cookieLine = opened.cookie;
    expect(cookieLine).toMatch(/^keyward_session=/);
    const again = await openPortal(link.body.url);
    expect(again.status).toBe(410);
    expect(again.cookie).toBe("");

    const browser = new Client(server.baseUrl);
    browser.cookie = cookieLine;
    const me = await browser.get<Me>("/api/v1/me");
    expect(me.body.portal).toEqual({
      applicationId: host.appId,
      returnUrl: "https://acme.example/settings?tab=api",
      branding: { displayName: "Acme", accentColor: "#aa3300" },
    });
    expect(me.body.applications.map((a) => a.id)).toEqual([host.appId]);
    // Their page: tokens and their own activity; nothing that is the team's.
    const made = await createToken(browser, host.appId, { name: "from the portal" });
    expect(made.token).toMatch(/^kw_/);
    expect((await browser.get(`/api/v1/applications/${host.appId}/members`)).status).toBe(403);
    expect((await browser.get(`/api/v1/applications/${host.appId}/service-keys`)).status).toBe(403);
    expect((await browser.get(`/api/v1/applications/${host.appId}/tokens?all=1`)).status).toBe(403);
    expect(
      (await browser.request("PATCH", `/api/v1/applications/${host.appId}`, { body: {} })).status,
    ).toBe(403);
    expect((await browser.post("/api/v1/applications", { name: "mine" })).status).toBe(403);
    const other = await signUpWithApp(server.baseUrl);
    expect((await browser.get(`/api/v1/applications/${other.appId}`)).status).toBe(404);

    clock.advance(3_600_000);
    expect((await browser.get("/api/v1/me")).status).toBe(401);
  });

  it("race: of two openings of one link, exactly one signs in", async () => {
    const host = await hostSetUp();
    await host.service("PUT", "/api/v1/service/users/racer", {});
    const link = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "racer",
    });
    const results = await Promise.all([openPortal(link.body.url), openPortal(link.body.url)]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 410]);
  });

  it("stop working when the service key that made them is revoked, and so do the sessions they opened", async () => {
    const host = await hostSetUp();
    await host.service("PUT", "/api/v1/service/users/leaky", {});
    const newLink = (service: typeof host.service) =>
      service<PortalSession>("POST", "/api/v1/service/portal-sessions", { externalId: "leaky" });
    const link = await newLink(host.service);
    // A session already opened through a link of that key.
    const openedBefore = await openPortal((await newLink(host.service)).body.url);
    expect(openedBefore.status).toBe(303);
    const sessionOfKey = new Client(server.baseUrl);
    sessionOfKey.cookie = openedBefore.cookie;
    expect((await sessionOfKey.get("/api/v1/me")).status).toBe(200);
    // A second key of the same application, its link and its session, are not affected.
    const other = await createServiceKey(host.client, host.appId, "other-backend");
    const otherService = serviceClient(server.baseUrl, other.key);
    const otherLink = await newLink(otherService);
    const sessionOfOther = new Client(server.baseUrl);
    sessionOfOther.cookie = (await openPortal((await newLink(otherService)).body.url)).cookie;
    expect((await sessionOfOther.get("/api/v1/me")).status).toBe(200);
    expect(
      (await host.client.delete(`/api/v1/applications/${host.appId}/service-keys/${host.key.id}`))
        .status,
    ).toBe(204);
    const opened = await openPortal(link.body.url);
    expect(opened.status).toBe(410);
    expect(opened.cookie).toBe("");
    // Whoever held the leaked key and opened its links is signed out with it.
    expect((await sessionOfKey.get("/api/v1/me")).status).toBe(401);
    expect((await sessionOfOther.get("/api/v1/me")).status).toBe(200);
    expect((await openPortal(otherLink.body.url)).status).toBe(303);
    // The owner's own session is not one of them.
    expect((await host.client.get("/api/v1/me")).status).toBe(200);
  });

  it("ask a browser signed in to a Keyward account before replacing its session, and take the answer only from this site", async () => {
    const host = await hostSetUp();
    await host.service("PUT", "/api/v1/service/users/asked", {});
    const newLink = async () =>
      (
        await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
          externalId: "asked",
        })
      ).body.url;
    // A signed-in account opens a link that someone else made (anyone with a service key
    // of their own can): a page asks, and the link is not spent.
    const account = await signUpUser(server.baseUrl);
    const link = await newLink();
    const asked = await fetch(link, {
      headers: { cookie: account.client.cookie },
      redirect: "manual",
    });
    expect(asked.status).toBe(200);
    expect(asked.headers.getSetCookie()).toEqual([]);
    expect(asked.headers.get("content-security-policy")).toContain("form-action 'self'");
    expect(await asked.text()).toContain("You are signed in to a Keyward account");
    expect((await account.client.get("/api/v1/me")).status).toBe(200);
    // The page's button posts from this site; from anywhere else, or with no Origin at
    // all, nothing changes and the link stays unspent.
    const post = (origin: string | undefined) =>
      fetch(link, {
        method: "POST",
        headers: {
          cookie: account.client.cookie,
          "content-type": "application/x-www-form-urlencoded",
          ...(origin === undefined ? {} : { origin }),
        },
        redirect: "manual",
      });
    for (const origin of ["https://attacker.example", undefined]) {
      const refused = await post(origin);
      expect(refused.status, String(origin)).toBe(403);
      expect(refused.headers.getSetCookie()).toEqual([]);
    }
    expect((await account.client.get("/api/v1/me")).status).toBe(200);
    const continued = await post(new URL(server.baseUrl).origin);
    expect(continued.status).toBe(303);
    // Signed out of the account, as the page says: its session is ended, not only replaced.
    expect((await account.client.get("/api/v1/me")).status).toBe(401);
    expect(continued.headers.get("location")).toBe(`/app/${host.appId}/account-management`);
    expect(continued.headers.getSetCookie()[0]).toMatch(/^keyward_session=/);
    expect((await post(new URL(server.baseUrl).origin)).status).toBe(410);

    // A browser that is a host user's (switching between a product's users) or signed out
    // is not asked.
    const opened = await openPortal(await newLink());
    expect(opened.status).toBe(303);
    const asHostUser = await fetch(await newLink(), {
      headers: { cookie: opened.cookie },
      redirect: "manual",
    });
    expect(asHostUser.status).toBe(303);
  });

  it("are not used up by a HEAD request (a link checker's), which gets 405", async () => {
    const host = await hostSetUp();
    await host.service("PUT", "/api/v1/service/users/checked", {});
    const link = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "checked",
    });
    const head = await fetch(link.body.url, { method: "HEAD", redirect: "manual" });
    expect(head.status).toBe(405);
    expect(head.headers.get("allow")).toBe("GET, POST");
    expect(head.headers.getSetCookie()).toEqual([]);
    expect((await openPortal(link.body.url)).status).toBe(303);
  });

  it("expire after five minutes, and unknown codes look the same", async () => {
    const host = await hostSetUp();
    await host.service("PUT", "/api/v1/service/users/late", {});
    const link = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "late",
    });
    clock.advance(300_001);
    const late = await fetch(link.body.url, { redirect: "manual" });
    expect(late.status).toBe(410);
    expect(late.headers.get("content-type")).toContain("text/html");
    expect(await late.text()).toContain("This link has expired");
    expect((await openPortal(`${server.baseUrl}/portal/${"A".repeat(43)}`)).status).toBe(410);
    expect((await openPortal(`${server.baseUrl}/portal/x`)).status).toBe(410);
  });

  it("refuse a return URL off the application's return origins", async () => {
    const host = await hostSetUp();
    await host.service("PUT", "/api/v1/service/users/r", {});
    const create = (returnUrl: string) =>
      host.service<Problem>("POST", "/api/v1/service/portal-sessions", {
        externalId: "r",
        returnUrl,
      });
    expect((await create("https://acme.example/x")).body.code).toBe("validation_failed");
    await host.client.request("PATCH", `/api/v1/applications/${host.appId}`, {
      body: { returnOrigins: ["https://acme.example"] },
    });
    for (const bad of [
      "https://evil.example/",
      "https://acme.example.evil.example/",
      "http://acme.example/",
      "https://acme.example:8443/",
      "https://user@acme.example/",
      "javascript:alert(1)",
      "/relative",
    ]) {
      expect((await create(bad)).status, bad).toBe(400);
    }
    expect((await create("https://acme.example/back")).status).toBe(201);
    expect(
      (
        await host.service<Problem>("POST", "/api/v1/service/portal-sessions", {
          externalId: "nobody",
        })
      ).body.code,
    ).toBe("user_not_found");
  });

  it("refuse return origins that are not bare origins, and members cannot set them", async () => {
    const host = await hostSetUp();
    const patch = (client: Client, body: unknown) =>
      client.request("PATCH", `/api/v1/applications/${host.appId}`, { body });
    for (const origin of [
      "https://a.example/path",
      "ftp://a.example",
      "not a url",
      "https://a.example?q",
    ]) {
      expect((await patch(host.client, { returnOrigins: [origin] })).status, origin).toBe(400);
    }
    expect(
      (await patch(host.client, { branding: { displayName: " ", accentColor: "#000000" } })).status,
    ).toBe(400);
    expect(
      (await patch(host.client, { branding: { displayName: "A", accentColor: "red" } })).status,
    ).toBe(400);
    const member = await addMember(host.client, host.appId, "member");
    expect((await patch(member.client, { returnOrigins: [] })).status).toBe(403);
  });
});

describe("the audit trail and the log", () => {
  it("name the service key as the actor, and never hold a key or a portal code", async () => {
    const host = await hostSetUp();
    await host.service("PUT", "/api/v1/service/users/audited", {});
    const issued = await host.service<IssuedToken>("POST", "/api/v1/service/users/audited/tokens", {
      name: "by key",
    });
    const link = await host.service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "audited",
    });
    await openPortal(link.body.url);
    await openPortal(link.body.url);
    const audit = await host.client.get<AuditPage>(`/api/v1/applications/${host.appId}/audit`);
    const created = audit.body.events.find((e) => e.action === "token.created");
    expect(created?.actor).toMatchObject({ id: host.key.id, name: 'service key "acme-backend"' });
    const actions = audit.body.events.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["host_user.created", "portal.opened"]));
    const code = link.body.url.split("/portal/")[1] ?? "";
    const logs = server.logs();
    expect(logs).toContain("/portal/[redacted]");
    for (const secret of [host.key.key, code, issued.body.token]) {
      expect(logs).not.toContain(secret);
      expect(audit.text).not.toContain(secret);
    }
  });
});

describe("a host user's page", () => {
  it("reaches none of a Keyward account's own routes, and cannot leave the host's application", async () => {
    const host = await hostSetUp();
    const browser = await portalUser(host, "no-account-routes");
    const me = await browser.get<Me>("/api/v1/me");
    const userId = me.body.user.id;
    const refused = [
      await browser.get<Problem>("/api/v1/me/sessions"),
      await browser.delete("/api/v1/me/sessions"),
      await browser.delete(`/api/v1/me/sessions/ses_${"a".repeat(20)}`),
      await browser.post<Problem>("/api/v1/auth/password", {
        currentPassword: "guess one",
        newPassword: "a much longer new passphrase",
      }),
      await browser.post<Problem>("/api/v1/auth/reauthenticate", { password: "guess two" }),
      await browser.delete(`/api/v1/applications/${host.appId}/members/${userId}`),
    ];
    expect(refused.map((res) => [res.status, (res.body as Problem | undefined)?.code])).toEqual(
      refused.map(() => [403, "forbidden"]),
    );
    // Nothing counted as a password attempt, nothing written to their activity.
    const activity = await browser.get<AuditPage>("/api/v1/me/audit");
    expect(activity.body.events.map((event) => event.action)).not.toContain("signin.failed");
    // The owner cannot strand them either: the host removes its users.
    const removed = await host.client.delete(
      `/api/v1/applications/${host.appId}/members/${userId}`,
    );
    expect([removed.status, (removed.body as Problem).code]).toEqual([403, "forbidden"]);
    expect((await browser.get(`/api/v1/applications/${host.appId}/tokens`)).status).toBe(200);
    expect((await browser.get("/api/v1/me")).status).toBe(200);
  });

  it("is limited to their own tokens and activity", async () => {
    const host = await hostSetUp();
    const teamToken = await createToken(host.client, host.appId, { name: "team" });
    const browser = await portalUser(host, "page-user");
    const list = await browser.get<TokenList>(`/api/v1/applications/${host.appId}/tokens`);
    expect(list.body.tokens).toEqual([]);
    expect(
      (await browser.get(`/api/v1/applications/${host.appId}/tokens/${teamToken.id}`)).status,
    ).toBe(404);
    expect(
      (await browser.delete(`/api/v1/applications/${host.appId}/tokens/${teamToken.id}`)).status,
    ).toBe(404);
  });
});
