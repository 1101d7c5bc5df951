import { describe, expect, it } from "vitest";
import {
  addMember,
  bearer,
  Client,
  createApp,
  createToken,
  inviteAndAccept,
  signUpUser,
  signUpWithApp,
} from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const server = setUpTestServer();

const password = "correct horse battery staple";

describe("accounts and sessions", () => {
  it("signs up with a session cookie that is HttpOnly, SameSite=Lax, Path=/", async () => {
    const client = new Client(server.baseUrl);
    const res = await client.request("POST", "/api/v1/auth/signup", {
      body: { email: "Grace@Example.com", password, name: "Grace" },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ user: { email: "grace@example.com", name: "Grace" } });
    const cookie = res.headers.getSetCookie()[0] ?? "";
    expect(cookie).toMatch(/^keyward_session=[0-9A-Za-z]{43};/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Lax");
    expect(cookie).toContain("Path=/");
    expect(cookie).not.toContain("Domain");
    expect(res.text).not.toContain("password");
    const me = await client.get<{ user: { email: string }; applications: unknown[] }>("/api/v1/me");
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      user: expect.objectContaining({ email: "grace@example.com" }),
      applications: [],
    });
  });

  it("refuses a second account with the same email (409 email_taken)", async () => {
    const client = new Client(server.baseUrl);
    const body = { email: "twice@example.com", password, name: "Twice" };
    expect((await client.post("/api/v1/auth/signup", body)).status).toBe(201);
    const again = await new Client(server.baseUrl).post<{ code: string }>("/api/v1/auth/signup", {
      ...body,
      email: "TWICE@example.com",
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("email_taken");
  });

  it("gives the same answer for an unknown email and a wrong password", async () => {
    await new Client(server.baseUrl).post("/api/v1/auth/signup", {
      email: "known@example.com",
      password,
      name: "K",
    });
    const wrong = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: "known@example.com",
      password: "wrong password!",
    });
    const unknown = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: "nobody@example.com",
      password: "wrong password!",
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.text).toBe(unknown.text);
    expect((wrong.body as { code: string }).code).toBe("invalid_credentials");
  });

  it("issues a new session id at every sign-in, and sign-out ends the session server-side", async () => {
    await new Client(server.baseUrl).post("/api/v1/auth/signup", {
      email: "fix@example.com",
      password,
      name: "F",
    });
    const first = new Client(server.baseUrl);
    await first.post("/api/v1/auth/signin", { email: "fix@example.com", password });
    const second = new Client(server.baseUrl);
    // A fixated cookie is replaced, not adopted.
    second.cookie = first.cookie;
    await second.post("/api/v1/auth/signin", { email: "fix@example.com", password });
    expect(second.cookie).not.toBe(first.cookie);
    expect(second.cookie).toMatch(/^keyward_session=/);

    const stolen = first.cookie;
    expect((await first.post("/api/v1/auth/signout")).status).toBe(204);
    const replay = new Client(server.baseUrl);
    replay.cookie = stolen;
    expect((await replay.get("/api/v1/me")).status).toBe(401);
    // The other session is untouched.
    expect((await second.get("/api/v1/me")).status).toBe(200);
  });

  it("validates input with problem details and writes nothing", async () => {
    const client = new Client(server.baseUrl);
    for (const body of [
      { email: "not-an-email", password, name: "X" },
      { email: "short@example.com", password: "short", name: "X" },
      { email: "noname@example.com", password, name: "   " },
      { email: "extra@example.com", password, name: "X", role: "owner" },
      { email: "missing@example.com", name: "X" },
    ]) {
      const res = await client.post<{
        code: string;
        status: number;
        type: string;
        title: string;
        detail: string;
      }>("/api/v1/auth/signup", body);
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.body).toMatchObject({ status: 400, code: "validation_failed" });
      expect(res.body.type).toBe("urn:keyward:problem:validation_failed");
      expect(res.text).not.toContain(password);
    }
    const signin = await client.post("/api/v1/auth/signin", {
      email: "extra@example.com",
      password,
    });
    expect(signin.status).toBe(401);
  });

  it("answers 415 to a non-JSON body", async () => {
    const res = await new Client(server.baseUrl).request("POST", "/api/v1/auth/signup", {
      body: "email=a@b.c",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(415);
    expect((res.body as { code: string }).code).toBe("unsupported_media_type");
  });
});

describe("cross-site request forgery", () => {
  it("refuses a cookie-authenticated write without our Origin (403 csrf_rejected)", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const noOrigin = await client.request("POST", "/api/v1/applications", {
      body: { name: "x" },
      origin: null,
    });
    expect(noOrigin.status).toBe(403);
    expect((noOrigin.body as { code: string }).code).toBe("csrf_rejected");
    const foreign = await client.request("POST", "/api/v1/applications", {
      body: { name: "x" },
      origin: "https://evil.example",
    });
    expect(foreign.status).toBe(403);
    const apps = await client.get<{ applications: unknown[] }>("/api/v1/applications");
    expect(apps.body.applications).toHaveLength(0);
    // Reads need no Origin.
    expect((await client.request("GET", "/api/v1/me", { origin: null })).status).toBe(200);
  });

  it("refuses a cross-site sign-in (login CSRF)", async () => {
    const res = await new Client(server.baseUrl).request("POST", "/api/v1/auth/signin", {
      body: { email: "a@example.com", password },
      origin: "https://evil.example",
    });
    expect(res.status).toBe(403);
  });

  it("refuses account management with only a bearer token (403 insufficient_scope)", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { token } = await createToken(client, appId, { name: "leaked" });
    const attacker = new Client(server.baseUrl);
    const mint = await attacker.request("POST", `/api/v1/applications/${appId}/tokens`, {
      body: { name: "persistence" },
      headers: bearer(token),
      origin: null,
    });
    expect(mint.status).toBe(403);
    expect((mint.body as { code: string }).code).toBe("insufficient_scope");
    expect((await attacker.get("/api/v1/me", bearer(token))).status).toBe(403);
    expect(
      (
        await attacker.request("POST", "/api/v1/auth/signout", {
          headers: bearer(token),
          origin: null,
        })
      ).status,
    ).toBe(403);
    expect((await attacker.get("/api/v1/me")).status).toBe(401);
  });
});

describe("applications and members", () => {
  it("lists the caller's applications with their role", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl, "Billing");
    const apps = await client.get<{ applications: unknown[] }>("/api/v1/applications");
    expect(apps.body.applications).toEqual([{ id: appId, name: "Billing", role: "owner" }]);
    const me = await client.get<{ applications: unknown[] }>("/api/v1/me");
    expect(me.body.applications).toEqual([{ id: appId, name: "Billing", role: "owner" }]);
  });

  it("answers 404 to a non-member for anything under the application", async () => {
    const { client: owner, appId } = await signUpWithApp(server.baseUrl);
    const { id } = await createToken(owner, appId, { name: "secret" });
    const { client: stranger } = await signUpUser(server.baseUrl);
    for (const res of [
      await stranger.get(`/api/v1/applications/${appId}`),
      await stranger.get(`/api/v1/applications/${appId}/tokens`),
      await stranger.get(`/api/v1/applications/${appId}/tokens/${id}`),
      await stranger.delete(`/api/v1/applications/${appId}/tokens/${id}`),
      await stranger.post(`/api/v1/applications/${appId}/tokens`, { name: "x" }),
      await stranger.get(`/api/v1/applications/${appId}/members`),
      await stranger.post(`/api/v1/applications/${appId}/members`, {
        email: "a@b.c",
        role: "admin",
      }),
    ]) {
      expect(res.status).toBe(404);
    }
    // The same answer as for an application that does not exist.
    const missing = await stranger.get("/api/v1/applications/app_00000000000000000000");
    const existing = await stranger.get(`/api/v1/applications/${appId}`);
    expect(missing.text).toBe(existing.text);
  });

  it("lets owners and admins invite members; members cannot; nobody joins before accepting", async () => {
    const { client: owner, appId } = await signUpWithApp(server.baseUrl);
    const { client: admin, user: adminUser } = await signUpUser(server.baseUrl);
    const { client: member, user: memberUser } = await signUpUser(server.baseUrl);
    const { user: other } = await signUpUser(server.baseUrl);
    await inviteAndAccept(owner, appId, admin, adminUser.email, "admin");
    const invited = await admin.post<{ invitation: { id: string; email: string; role: string } }>(
      `/api/v1/applications/${appId}/members`,
      { email: memberUser.email, role: "member" },
    );
    expect(invited.status).toBe(201);
    expect(invited.body.invitation).toMatchObject({ email: memberUser.email, role: "member" });
    // Not a member yet.
    expect((await member.get(`/api/v1/applications/${appId}`)).status).toBe(404);
    expect(
      (await member.post(`/api/v1/me/invitations/${invited.body.invitation.id}/accept`)).status,
    ).toBe(201);
    expect((await member.get(`/api/v1/applications/${appId}`)).status).toBe(200);
    const denied = await member.post<{ code: string }>(`/api/v1/applications/${appId}/members`, {
      email: other.email,
      role: "member",
    });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe("forbidden");
    const again = await owner.post<{ code: string }>(`/api/v1/applications/${appId}/members`, {
      email: memberUser.email,
      role: "member",
    });
    expect(again.body.code).toBe("already_member");
    const ownerRole = await owner.post(`/api/v1/applications/${appId}/members`, {
      email: other.email,
      role: "owner",
    });
    expect(ownerRole.status).toBe(400);
    const members = await owner.get<{ members: Array<{ email: string; role: string }> }>(
      `/api/v1/applications/${appId}/members`,
    );
    expect(members.body.members.map((m) => m.role).sort()).toEqual(["admin", "member", "owner"]);
  });

  it("revokes a removed member's tokens in that application, at once", async () => {
    const { client: owner, appId } = await signUpWithApp(server.baseUrl);
    const otherAppId = await createApp(owner, "Other");
    const { client: member, user: memberUser } = await addMember(owner, appId);
    await inviteAndAccept(owner, otherAppId, member, memberUser.email, "member");
    const first = await createToken(member, appId, { name: "one" });
    const second = await createToken(member, appId, { name: "two" });
    const elsewhere = await createToken(member, otherAppId, { name: "elsewhere" });
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(first.token))).status).toBe(200);

    expect(
      (await owner.delete(`/api/v1/applications/${appId}/members/${memberUser.id}`)).status,
    ).toBe(204);
    expect((await api.get("/api", bearer(first.token))).status).toBe(401);
    expect((await api.get("/api", bearer(second.token))).status).toBe(401);
    expect((await api.get("/api", bearer(elsewhere.token))).status).toBe(200);
    expect((await member.get(`/api/v1/applications/${appId}/tokens`)).status).toBe(404);
    const all = await owner.get<{ tokens: Array<{ status: string; owner: { email: string } }> }>(
      `/api/v1/applications/${appId}/tokens?all=1`,
    );
    expect(all.body.tokens.map((t) => [t.owner.email, t.status])).toEqual([
      [memberUser.email, "revoked"],
      [memberUser.email, "revoked"],
    ]);
  });

  it("never removes the owner", async () => {
    const { client: owner, user, appId } = await signUpWithApp(server.baseUrl);
    const res = await owner.delete(`/api/v1/applications/${appId}/members/${user.id}`);
    expect(res.status).toBe(409);
    expect((res.body as { code: string }).code).toBe("cannot_remove_owner");
  });
});
