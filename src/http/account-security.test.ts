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
});
