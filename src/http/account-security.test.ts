import { describe, expect, it } from "vitest";
import { ManualClock } from "../test-support/clock.js";
import { Client, createApp, createServiceKey, signUpUser } from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const clock = new ManualClock();
const server = setUpTestServer({}, { clock });

const password = "correct horse battery staple";
const HOUR = 3_600_000;

interface WireSession {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  userAgent: string | null;
  address: string | null;
  current: boolean;
}

async function signInAs(email: string, userAgent: string, pass = password): Promise<Client> {
  const client = new Client(server.baseUrl);
  const res = await client.request("POST", "/api/v1/auth/signin", {
    body: { email, password: pass },
    headers: { "user-agent": userAgent },
  });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${res.text}`);
  return client;
}

async function sessionsOf(client: Client): Promise<WireSession[]> {
  const res = await client.get<{ sessions: WireSession[] }>("/api/v1/me/sessions");
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return res.body.sessions;
}

describe("sessions", () => {
  it("a new sign-in leaves the old session valid, and both are listed with browser and address", async () => {
    const { client: first, user } = await signUpUser(server.baseUrl);
    const second = await signInAs(user.email, "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0");
    expect((await first.get("/api/v1/me")).status).toBe(200);
    expect((await second.get("/api/v1/me")).status).toBe(200);
    const listed = await sessionsOf(second);
    expect(listed).toHaveLength(2);
    const current = listed.filter((s) => s.current);
    expect(current).toHaveLength(1);
    expect(current[0]).toMatchObject({
      userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
      address: "127.0.0.1",
    });
    expect(current[0]?.id).toMatch(/^ses_[0-9A-Za-z]{20}$/);
    // Nothing secret: no cookie value, no hash.
    expect(JSON.stringify(listed)).not.toContain(second.cookie.split("=")[1] ?? "none");
  });

  it("signs out one other session, which then stops working; other users' sessions cannot be ended", async () => {
    const { client: first, user } = await signUpUser(server.baseUrl);
    const second = await signInAs(user.email, "phone");
    const other = await signUpUser(server.baseUrl);
    const firstId = (await sessionsOf(first)).find((s) => s.current)?.id ?? "";
    expect((await other.client.delete(`/api/v1/me/sessions/${firstId}`)).status).toBe(404);
    expect((await first.get("/api/v1/me")).status).toBe(200);
    expect((await second.delete(`/api/v1/me/sessions/${firstId}`)).status).toBe(204);
    expect((await first.get("/api/v1/me")).status).toBe(401);
    expect((await second.get("/api/v1/me")).status).toBe(200);
    expect((await sessionsOf(second)).map((s) => s.current)).toEqual([true]);
    expect((await second.delete(`/api/v1/me/sessions/${firstId}`)).status).toBe(404);
  });

  it('"sign out of all other sessions" ends every session but this one', async () => {
    const { client: first, user } = await signUpUser(server.baseUrl);
    const second = await signInAs(user.email, "laptop");
    const third = await signInAs(user.email, "tablet");
    expect((await third.delete("/api/v1/me/sessions")).status).toBe(204);
    expect((await first.get("/api/v1/me")).status).toBe(401);
    expect((await second.get("/api/v1/me")).status).toBe(401);
    expect((await third.get("/api/v1/me")).status).toBe(200);
    expect(await sessionsOf(third)).toHaveLength(1);
  });

  it("a session ends after SESSION_IDLE_HOURS (24) without use, and use keeps it alive", async () => {
    const { client: idle, user } = await signUpUser(server.baseUrl);
    const used = await signInAs(user.email, "used");
    for (let hour = 0; hour < 4; hour++) {
      clock.advance(8 * HOUR);
      expect((await used.get("/api/v1/me")).status).toBe(200);
    }
    // 32 hours since the idle session was last used; the used one was seen 0 h ago.
    expect((await idle.get("/api/v1/me")).status).toBe(401);
    expect(await sessionsOf(used)).toHaveLength(1);
  });
});

describe("password change", () => {
  it("changes the password, ends every other session, keeps this one", async () => {
    const { client: first, user } = await signUpUser(server.baseUrl);
    const second = await signInAs(user.email, "other");
    const newPassword = "a quite different passphrase";
    const res = await first.post("/api/v1/auth/password", {
      currentPassword: password,
      newPassword,
    });
    expect(res.status).toBe(204);
    expect((await first.get("/api/v1/me")).status).toBe(200);
    expect((await second.get("/api/v1/me")).status).toBe(401);
    const old = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: user.email,
      password,
    });
    expect(old.status).toBe(401);
    await signInAs(user.email, "new", newPassword);
  });

  it("refuses a wrong current password and changes nothing", async () => {
    const { client, user } = await signUpUser(server.baseUrl);
    const other = await signInAs(user.email, "other");
    const res = await client.post<{ code: string }>("/api/v1/auth/password", {
      currentPassword: "not the password",
      newPassword: "a quite different passphrase",
    });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("invalid_credentials");
    expect((await other.get("/api/v1/me")).status).toBe(200);
    await signInAs(user.email, "again");
  });

  it.each([
    ["a common password", "password"],
    ["a common password in capitals", "Password1"],
    ["a common password among the 10,000 most common", "baseball1"],
    ["only spaces", "        "],
    ["blank", ""],
  ])("refuses %s as a new password (400 weak_password) and changes nothing", async (_, weak) => {
    const { client, user } = await signUpUser(server.baseUrl);
    const res = await client.post<{ code: string }>("/api/v1/auth/password", {
      currentPassword: password,
      newPassword: weak,
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.code).toBe("weak_password");
    await signInAs(user.email, "unchanged");
  });

  it("refuses a common or blank password at sign-up", async () => {
    for (const weak of ["password", "qwertyuiop", "          "]) {
      const res = await new Client(server.baseUrl).post<{ code: string }>("/api/v1/auth/signup", {
        email: `weak-${Math.random()}@example.com`,
        password: weak,
        name: "Weak",
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("weak_password");
    }
  });
});

describe("recent sign-in for sensitive actions", () => {
  it("after 15 minutes, creating a service key needs the password again; then it goes through", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    // Sign-up counts as a recent sign-in.
    await createServiceKey(client, appId, "first");
    clock.advance(16 * 60_000);
    const refused = await client.post<{ code: string }>(
      `/api/v1/applications/${appId}/service-keys`,
      { name: "second" },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("reauthentication_required");
    const keys = await client.get<{ serviceKeys: unknown[] }>(
      `/api/v1/applications/${appId}/service-keys`,
    );
    expect(keys.body.serviceKeys).toHaveLength(1);
    const wrong = await client.post<{ code: string }>("/api/v1/auth/reauthenticate", {
      password: "not it at all",
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe("invalid_credentials");
    expect(
      (await client.post(`/api/v1/applications/${appId}/service-keys`, { name: "second" })).status,
    ).toBe(403);
    expect((await client.post("/api/v1/auth/reauthenticate", { password })).status).toBe(204);
    await createServiceKey(client, appId, "second");
  });

  it("changing branding or return origins needs it too, and the change waits for it", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    clock.advance(16 * 60_000);
    const refused = await client.request("PATCH", `/api/v1/applications/${appId}`, {
      body: { returnOrigins: ["https://host.example.com"] },
    });
    expect(refused.status).toBe(403);
    expect((refused.body as { code: string }).code).toBe("reauthentication_required");
    const app = await client.get<{ returnOrigins: string[] }>(`/api/v1/applications/${appId}`);
    expect(app.body.returnOrigins).toEqual([]);
    expect((await client.post("/api/v1/auth/reauthenticate", { password })).status).toBe(204);
    const done = await client.request("PATCH", `/api/v1/applications/${appId}`, {
      body: { returnOrigins: ["https://host.example.com"] },
    });
    expect(done.status).toBe(200);
  });

  it("creating a webhook and changing the token policy need it too", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    clock.advance(16 * 60_000);
    const webhook = await client.post<{ code: string }>(`/api/v1/applications/${appId}/webhooks`, {
      url: "https://hooks.example.com/keyward",
      events: ["token.created"],
    });
    expect(webhook.status).toBe(403);
    expect(webhook.body.code).toBe("reauthentication_required");
    const policy = await client.request("PATCH", `/api/v1/applications/${appId}`, {
      body: { policy: { maxLifetimeDays: 30 } },
    });
    expect(policy.status).toBe(403);
    expect((policy.body as { code: string }).code).toBe("reauthentication_required");
    const hooks = await client.get<{ webhooks: unknown[] }>(
      `/api/v1/applications/${appId}/webhooks`,
    );
    expect(hooks.body.webhooks).toEqual([]);
    const app = await client.get<{ policy: { maxLifetimeDays: number | null } }>(
      `/api/v1/applications/${appId}`,
    );
    expect(app.body.policy.maxLifetimeDays).toBeNull();
    expect((await client.post("/api/v1/auth/reauthenticate", { password })).status).toBe(204);
    const created = await client.post(`/api/v1/applications/${appId}/webhooks`, {
      url: "https://hooks.example.com/keyward",
      events: ["token.created"],
    });
    expect(created.status).toBe(201);
    const changed = await client.request("PATCH", `/api/v1/applications/${appId}`, {
      body: { policy: { maxLifetimeDays: 30 } },
    });
    expect(changed.status).toBe(200);
  });
});

describe("invitations", () => {
  interface Sent {
    invitation: { id: string; email: string; role: string; createdAt: string; expiresAt: string };
  }

  it("answers the same whether or not the email has an account (no enumeration)", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { user } = await signUpUser(server.baseUrl);
    const known = await owner.post<Sent>(`/api/v1/applications/${appId}/members`, {
      email: user.email,
      role: "member",
    });
    const unknown = await owner.post<Sent>(`/api/v1/applications/${appId}/members`, {
      email: `ghost-${Date.now()}@example.com`,
      role: "member",
    });
    expect(known.status).toBe(201);
    expect(unknown.status).toBe(201);
    const shape = (res: typeof known) =>
      res.text
        .replace(/inv_[0-9A-Za-z]{20}/, "ID")
        .replace(/"email":"[^"]*"/, "EMAIL")
        .replace(/"\d{4}-[^"]*"/g, "TIME");
    expect(shape(known)).toBe(shape(unknown));
    expect(
      Date.parse(known.body.invitation.expiresAt) - Date.parse(known.body.invitation.createdAt),
    ).toBe(7 * 24 * HOUR);
    const pending = await owner.get<{ invitations: Array<{ email: string }> }>(
      `/api/v1/applications/${appId}/invitations`,
    );
    expect(pending.body.invitations).toHaveLength(2);
  });

  it("goes only to an account that existed when it was sent: signing up with the address later claims nothing", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner, "Not yours");
    const email = `later-${Date.now()}@example.com`;
    const sent = await owner.post<Sent>(`/api/v1/applications/${appId}/members`, {
      email,
      role: "admin",
    });
    expect(sent.status).toBe(201);
    clock.advance(1000);
    const squatter = new Client(server.baseUrl);
    const signedUp = await squatter.post("/api/v1/auth/signup", { email, password, name: "Later" });
    expect(signedUp.status).toBe(201);
    const mine = await squatter.get<{ invitations: unknown[] }>("/api/v1/me/invitations");
    expect(mine.body.invitations).toEqual([]);
    const path = `/api/v1/me/invitations/${sent.body.invitation.id}/accept`;
    expect((await squatter.post(path)).status).toBe(404);
    expect((await squatter.get(`/api/v1/applications/${appId}`)).status).toBe(404);
  });

  it("the invitee sees it with the application and the inviter, and accepts: a member from now on, once", async () => {
    const { client: owner, user: ownerUser } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner, "Invited app");
    const { client: invitee, user } = await signUpUser(server.baseUrl);
    const { client: stranger } = await signUpUser(server.baseUrl);
    const sent = await owner.post<Sent>(`/api/v1/applications/${appId}/members`, {
      email: user.email.toUpperCase(),
      role: "member",
    });
    const mine = await invitee.get<{ invitations: Array<Record<string, string>> }>(
      "/api/v1/me/invitations",
    );
    expect(mine.body.invitations).toEqual([
      expect.objectContaining({
        id: sent.body.invitation.id,
        applicationId: appId,
        applicationName: "Invited app",
        inviterEmail: ownerUser.email,
        role: "member",
      }),
    ]);
    const path = `/api/v1/me/invitations/${sent.body.invitation.id}`;
    // Someone else cannot accept or decline it.
    expect((await stranger.post(`${path}/accept`)).status).toBe(404);
    expect((await stranger.post(`${path}/decline`)).status).toBe(404);
    expect((await stranger.get(`/api/v1/applications/${appId}`)).status).toBe(404);
    const accepted = await invitee.post(`${path}/accept`);
    expect(accepted.status).toBe(201);
    expect(accepted.body).toEqual({ id: appId, name: "Invited app", role: "member" });
    expect((await invitee.get(`/api/v1/applications/${appId}`)).status).toBe(200);
    expect((await invitee.post(`${path}/accept`)).status).toBe(404);
    const left = await owner.get<{ invitations: unknown[] }>(
      `/api/v1/applications/${appId}/invitations`,
    );
    expect(left.body.invitations).toEqual([]);
  });

  it("declined, withdrawn and expired invitations make nobody a member", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { client: invitee, user } = await signUpUser(server.baseUrl);
    const invite = async () =>
      (
        await owner.post<Sent>(`/api/v1/applications/${appId}/members`, {
          email: user.email,
          role: "member",
        })
      ).body.invitation.id;
    const declined = await invite();
    expect((await invitee.post(`/api/v1/me/invitations/${declined}/decline`)).status).toBe(204);
    expect((await invitee.post(`/api/v1/me/invitations/${declined}/accept`)).status).toBe(404);
    const withdrawn = await invite();
    expect(
      (await owner.delete(`/api/v1/applications/${appId}/invitations/${withdrawn}`)).status,
    ).toBe(204);
    expect((await invitee.post(`/api/v1/me/invitations/${withdrawn}/accept`)).status).toBe(404);
    const expired = await invite();
    clock.advance(7 * 24 * HOUR + 1000);
    // The old session has ended by now (idle and lifetime); a new one sees nothing.
    const later = await signInAs(user.email, "later");
    const mine = await later.get<{ invitations: unknown[] }>("/api/v1/me/invitations");
    expect(mine.body.invitations).toEqual([]);
    expect((await later.post(`/api/v1/me/invitations/${expired}/accept`)).status).toBe(404);
    expect((await later.get(`/api/v1/applications/${appId}`)).status).toBe(404);
  });

  it("two managers inviting one email at once both succeed, and one invitation is pending", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const email = `twice-${Date.now()}@example.com`;
    const sends = await Promise.all(
      Array.from({ length: 6 }, () =>
        owner.post<Sent>(`/api/v1/applications/${appId}/members`, { email, role: "member" }),
      ),
    );
    expect(sends.map((res) => res.status)).toEqual([201, 201, 201, 201, 201, 201]);
    const pending = await owner.get<{ invitations: Array<{ email: string }> }>(
      `/api/v1/applications/${appId}/invitations`,
    );
    expect(pending.body.invitations.map((invitation) => invitation.email)).toEqual([email]);
  });

  it("an invitation ends with its inviter's authority: an admin's pending invitation cannot be accepted once they are removed", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { client: admin, user: adminUser } = await signUpUser(server.baseUrl);
    const { client: invitee, user } = await signUpUser(server.baseUrl);
    const made = await owner.post<Sent>(`/api/v1/applications/${appId}/members`, {
      email: adminUser.email,
      role: "admin",
    });
    expect(
      (await admin.post(`/api/v1/me/invitations/${made.body.invitation.id}/accept`)).status,
    ).toBe(201);
    const sent = await admin.post<Sent>(`/api/v1/applications/${appId}/members`, {
      email: user.email,
      role: "member",
    });
    expect(sent.status).toBe(201);
    expect(
      (await invitee.get<{ invitations: unknown[] }>("/api/v1/me/invitations")).body.invitations,
    ).toHaveLength(1);
    expect(
      (await owner.delete(`/api/v1/applications/${appId}/members/${adminUser.id}`)).status,
    ).toBe(204);
    expect(
      (await invitee.get<{ invitations: unknown[] }>("/api/v1/me/invitations")).body.invitations,
    ).toEqual([]);
    expect(
      (await owner.get<{ invitations: unknown[] }>(`/api/v1/applications/${appId}/invitations`))
        .body.invitations,
    ).toEqual([]);
    const accepted = await invitee.post(`/api/v1/me/invitations/${sent.body.invitation.id}/accept`);
    expect(accepted.status).toBe(404);
    expect((await invitee.get(`/api/v1/applications/${appId}`)).status).toBe(404);
  });

  it("members cannot list, send or withdraw invitations; inviting an admin needs a recent sign-in", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { client: member, user } = await signUpUser(server.baseUrl);
    const sent = await owner.post<Sent>(`/api/v1/applications/${appId}/members`, {
      email: user.email,
      role: "member",
    });
    await member.post(`/api/v1/me/invitations/${sent.body.invitation.id}/accept`);
    const other = await owner.post<Sent>(`/api/v1/applications/${appId}/members`, {
      email: "later@example.com",
      role: "member",
    });
    expect((await member.get(`/api/v1/applications/${appId}/invitations`)).status).toBe(403);
    expect(
      (await member.delete(`/api/v1/applications/${appId}/invitations/${other.body.invitation.id}`))
        .status,
    ).toBe(403);
    clock.advance(16 * 60_000);
    const admin = await owner.post<{ code: string }>(`/api/v1/applications/${appId}/members`, {
      email: "boss@example.com",
      role: "admin",
    });
    expect(admin.status).toBe(403);
    expect(admin.body.code).toBe("reauthentication_required");
    expect(
      (
        await owner.post(`/api/v1/applications/${appId}/members`, {
          email: "plain@example.com",
          role: "member",
        })
      ).status,
    ).toBe(201);
  });
});
