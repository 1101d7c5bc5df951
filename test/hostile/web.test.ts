import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createApp,
  createToken,
  inviteAndAccept,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../../src/test-support/harness.js";
import { fastPasswordHasher } from "./support.js";

/**
 * Web and API abuse over real HTTP, beyond src/http/accounts.test.ts: cross-site writes on
 * every state-changing route, content types a cross-site form can send, hostile names
 * stored verbatim and served inert, mass assignment on every body, session fixation and
 * replay, and a bearer token on every management route. The guarantee in each case: the
 * request is refused AND nothing was written.
 */

let server: TestServer;
const password = "correct horse battery staple";

beforeAll(async () => {
  server = await startTestServer({}, { passwordHasher: fastPasswordHasher });
});
afterAll(async () => {
  await server.close();
});

type Problem = { code: string };

/** An owner with an application, one token, and a member with a token of their own. */
async function scene() {
  const { client: owner, user: ownerUser } = await signUpUser(server.baseUrl);
  const appId = await createApp(owner, "Scene");
  const { client: member, user: memberUser } = await signUpUser(server.baseUrl);
  await inviteAndAccept(owner, appId, member, memberUser.email, "member");
  const ownerToken = await createToken(owner, appId, { name: "owner-token" });
  const memberToken = await createToken(member, appId, { name: "member-token" });
  const { user: outsider } = await signUpUser(server.baseUrl);
  /** Everything a refused request must leave unchanged. */
  const snapshot = async () => {
    const tokens = await owner.get(`/api/v1/applications/${appId}/tokens?all=1`);
    const members = await owner.get(`/api/v1/applications/${appId}/members`);
    const apps = await owner.get("/api/v1/applications");
    const api = new Client(server.baseUrl);
    return {
      // lastUsedAt moves with the usage checks below; everything else must stay put.
      tokens: tokens.text.replace(/"lastUsedAt":(null|"[^"]*")/g, ""),
      members: members.text,
      apps: apps.text,
      ownerTokenWorks: (await api.get("/api", bearer(ownerToken.token))).status,
      memberTokenWorks: (await api.get("/api", bearer(memberToken.token))).status,
      ownerSignedIn: (await owner.get("/api/v1/me")).status,
    };
  };
  return {
    owner,
    ownerUser,
    appId,
    member,
    memberUser,
    ownerToken,
    memberToken,
    outsider,
    snapshot,
  };
}

type Scene = Awaited<ReturnType<typeof scene>>;
type Write = { method: string; path: (s: Scene) => string; body?: (s: Scene) => unknown };

const WRITES: Array<[string, Write]> = [
  [
    "create application",
    { method: "POST", path: () => "/api/v1/applications", body: () => ({ name: "evil" }) },
  ],
  [
    "create token",
    {
      method: "POST",
      path: (s) => `/api/v1/applications/${s.appId}/tokens`,
      body: () => ({ name: "evil" }),
    },
  ],
  [
    "revoke token",
    { method: "DELETE", path: (s) => `/api/v1/applications/${s.appId}/tokens/${s.ownerToken.id}` },
  ],
  [
    "regenerate token",
    {
      method: "POST",
      path: (s) => `/api/v1/applications/${s.appId}/tokens/${s.ownerToken.id}/regenerate`,
      body: () => ({}),
    },
  ],
  [
    "add member",
    {
      method: "POST",
      path: (s) => `/api/v1/applications/${s.appId}/members`,
      body: (s) => ({ email: s.outsider.email, role: "admin" }),
    },
  ],
  [
    "remove member",
    { method: "DELETE", path: (s) => `/api/v1/applications/${s.appId}/members/${s.memberUser.id}` },
  ],
  ["sign out", { method: "POST", path: () => "/api/v1/auth/signout" }],
];

describe("cross-site writes", () => {
  it.each(WRITES)(
    "refuses a cookie-authenticated %s from a foreign Origin (403 csrf_rejected) and writes nothing",
    async (_name, write) => {
      const s = await scene();
      const before = await s.snapshot();
      const res = await s.owner.request(write.method, write.path(s), {
        body: write.body?.(s),
        origin: "https://evil.example",
      });
      expect(res.status).toBe(403);
      expect((res.body as Problem).code).toBe("csrf_rejected");
      expect(await s.snapshot()).toEqual(before);
    },
  );

  it.each([
    ["the string null (sandboxed iframe)", () => "null"],
    ["our host on another port", (base: string) => base.replace(/:\d+$/, ":1")],
    ["our host over https", (base: string) => base.replace("http:", "https:")],
    ["our origin with a trailing slash", (base: string) => `${base}/`],
    ["our origin as a prefix of another host", (base: string) => `${base}.evil.example`],
    ["localhost instead of 127.0.0.1", (base: string) => base.replace("127.0.0.1", "localhost")],
  ])("refuses a cookie-authenticated create whose Origin is %s", async (_name, origin) => {
    const s = await scene();
    const before = await s.snapshot();
    const res = await s.owner.request("POST", `/api/v1/applications/${s.appId}/tokens`, {
      body: { name: "evil" },
      origin: origin(server.baseUrl),
    });
    expect(res.status).toBe(403);
    expect(await s.snapshot()).toEqual(before);
  });

  it.each([
    ["text/plain", "text/plain"],
    ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded"],
    ["multipart/form-data", "multipart/form-data; boundary=x"],
  ])(
    "refuses a JSON body sent as %s (what a cross-site form can send) with 415, even with our Origin",
    async (_name, type) => {
      const s = await scene();
      const before = await s.snapshot();
      const res = await s.owner.request("POST", `/api/v1/applications/${s.appId}/tokens`, {
        body: JSON.stringify({ name: "form" }),
        headers: { "content-type": type },
      });
      expect(res.status).toBe(415);
      expect(await s.snapshot()).toEqual(before);
    },
  );

  it("refuses a state change sent as GET (no route answers it)", async () => {
    const s = await scene();
    const before = await s.snapshot();
    const res = await s.owner.get(
      `/api/v1/applications/${s.appId}/tokens/${s.ownerToken.id}/regenerate`,
    );
    expect(res.status).toBe(404);
    expect(await s.snapshot()).toEqual(before);
  });
});

describe("hostile names are stored verbatim and served inert", () => {
  const hostile = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(document.cookie)>',
    "'; DROP TABLE tokens; --",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "{{constructor.constructor('alert(1)')()}}",
    `$${"{7*7}"} %s %n \\u0000`,
    // Text-direction controls are refused (hardening.test.ts); right-to-left text is not.
    "שלום rtl",
  ];

  it("stores application names with markup, template and SQL metacharacters verbatim", async () => {
    const { client } = await signUpUser(server.baseUrl);
    for (const name of hostile) {
      const res = await client.post<{ name: string }>("/api/v1/applications", { name });
      expect(res.status).toBe(201);
      expect(res.body.name).toBe(name);
    }
    const apps = await client.get<{ applications: Array<{ name: string }> }>(
      "/api/v1/applications",
    );
    expect(apps.body.applications.map((a) => a.name).sort()).toEqual([...hostile].sort());
    expect(apps.headers.get("content-type")).toMatch(/^application\/json/);
    const me = await client.get<{ applications: Array<{ name: string }> }>("/api/v1/me");
    expect(me.body.applications.map((a) => a.name).sort()).toEqual([...hostile].sort());
  });

  it("returns hostile token and application names verbatim from the protected API as JSON", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client, hostile[0]);
    const { token } = await createToken(client, appId, { name: hostile[1] as string });
    const res = await new Client(server.baseUrl).get<{
      application: { name: string };
      token: { name: string };
    }>("/api", bearer(token));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body.application.name).toBe(hostile[0]);
    expect(res.body.token.name).toBe(hostile[1]);
  });

  it("stores a user's display name with markup verbatim in the member list", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { client: evil, user } = await signUpUser(server.baseUrl, hostile[1]);
    await inviteAndAccept(owner, appId, evil, user.email, "member");
    const members = await owner.get<{ members: Array<{ email: string; name: string }> }>(
      `/api/v1/applications/${appId}/members`,
    );
    expect(members.body.members.find((m) => m.email === user.email)?.name).toBe(hostile[1]);
    expect((await evil.get("/api/v1/me")).status).toBe(200);
  });

  it("keeps a hostile name out of the way of the token-name uniqueness rule (no SQL wildcard matching)", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    await createToken(client, appId, { name: "deploy-1" });
    // LIKE-style wildcards must not make these collide with "deploy-1".
    for (const name of ["deploy-_", "deploy-%", "DEPLOY-1"]) {
      expect((await client.post(`/api/v1/applications/${appId}/tokens`, { name })).status).toBe(
        201,
      );
    }
  });
});

describe("mass assignment", () => {
  it.each([
    [
      "all of userId, revokedAt, status and id",
      {
        userId: "usr_00000000000000000000",
        revokedAt: null,
        status: "active",
        id: "tok_00000000000000000000",
      },
    ],
    ["revokedAt in the past", { revokedAt: "2001-01-01T00:00:00Z" }],
    ["status revoked", { status: "revoked" }],
    ["a chosen id", { id: "tok_00000000000000000000" }],
    ["a chosen secret (token)", { token: "kw_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000000" }],
    ["a chosen hint", { hint: "kw_…evil" }],
    ["createdAt and lastUsedAt", { createdAt: "2001-01-01T00:00:00Z", lastUsedAt: null }],
    ["applicationId of another application", { applicationId: "app_00000000000000000000" }],
    ["owner", { owner: { id: "usr_00000000000000000000" } }],
  ])("refuses a token create carrying %s (400) and writes nothing", async (_name, extra) => {
    const s = await scene();
    const before = await s.snapshot();
    const res = await s.member.post<Problem>(`/api/v1/applications/${s.appId}/tokens`, {
      name: "mass",
      ...extra,
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
    expect(await s.snapshot()).toEqual(before);
  });

  it.each([
    ["role", { role: "admin" }],
    ["id", { id: "usr_00000000000000000000" }],
    ["isAdmin", { isAdmin: true }],
    ["passwordHash", { passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$x$y" }],
  ])("refuses a sign-up carrying %s (400) and creates no account", async (_name, extra) => {
    const email = `mass-${Math.random().toString(36).slice(2)}@example.com`;
    const res = await new Client(server.baseUrl).post<Problem>("/api/v1/auth/signup", {
      email,
      password,
      name: "Mass",
      ...extra,
    });
    expect(res.status).toBe(400);
    const signin = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email,
      password,
    });
    expect(signin.status).toBe(401);
  });

  it.each([
    ["ownerId", { ownerId: "usr_00000000000000000000" }],
    ["role", { role: "member" }],
    ["id", { id: "app_00000000000000000000" }],
  ])(
    "refuses an application create carrying %s (400) and creates nothing",
    async (_name, extra) => {
      const { client } = await signUpUser(server.baseUrl);
      const res = await client.post("/api/v1/applications", { name: "mass", ...extra });
      expect(res.status).toBe(400);
      const apps = await client.get<{ applications: unknown[] }>("/api/v1/applications");
      expect(apps.body.applications).toEqual([]);
    },
  );

  it("refuses a regeneration that names its own secret or expiry, and the old secret keeps working", async () => {
    const s = await scene();
    const before = await s.snapshot();
    const base = `/api/v1/applications/${s.appId}/tokens/${s.ownerToken.id}/regenerate`;
    for (const body of [
      { token: "kw_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000000" },
      { graceSeconds: 0, expiresAt: null },
      { graceSeconds: 86_401 },
      { graceSeconds: -1 },
      { graceSeconds: "60" },
    ]) {
      expect((await s.owner.post(base, body)).status).toBe(400);
    }
    expect(await s.snapshot()).toEqual(before);
  });

  it("refuses a member addition carrying a userId or an owner role, and adds nobody", async () => {
    const s = await scene();
    const before = await s.snapshot();
    const base = `/api/v1/applications/${s.appId}/members`;
    expect(
      (await s.owner.post(base, { email: s.outsider.email, role: "member", userId: s.outsider.id }))
        .status,
    ).toBe(400);
    expect((await s.owner.post(base, { email: s.outsider.email, role: "owner" })).status).toBe(400);
    expect((await s.owner.post(base, { email: s.outsider.email })).status).toBe(400);
    expect(await s.snapshot()).toEqual(before);
  });

  it.each([
    ["__proto__", '{"name":"p","__proto__":{"polluted":"yes"}}'],
    ["constructor.prototype", '{"name":"p","constructor":{"prototype":{"polluted":"yes"}}}'],
  ])("refuses a %s key (400), writes nothing and pollutes no prototype", async (_name, body) => {
    const s = await scene();
    const before = await s.snapshot();
    const res = await s.owner.request("POST", `/api/v1/applications/${s.appId}/tokens`, {
      body,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await s.snapshot()).toEqual(before);
  });
});

describe("sessions", () => {
  it("never adopts an attacker-chosen session id at sign-in (session fixation)", async () => {
    const { user } = await signUpUser(server.baseUrl);
    const victim = new Client(server.baseUrl);
    const planted = `keyward_session=${"A".repeat(43)}`;
    victim.cookie = planted;
    expect((await victim.post("/api/v1/auth/signin", { email: user.email, password })).status).toBe(
      200,
    );
    expect(victim.cookie).toMatch(/^keyward_session=[0-9A-Za-z]{43}$/);
    expect(victim.cookie).not.toBe(planted);
    const attacker = new Client(server.baseUrl);
    attacker.cookie = planted;
    expect((await attacker.get("/api/v1/me")).status).toBe(401);
  });

  it("never adopts an attacker-chosen session id at sign-up either", async () => {
    const client = new Client(server.baseUrl);
    const planted = `keyward_session=${"B".repeat(43)}`;
    client.cookie = planted;
    const res = await client.post("/api/v1/auth/signup", {
      email: `fix-${Date.now()}@example.com`,
      password,
      name: "Fix",
    });
    expect(res.status).toBe(201);
    expect(client.cookie).not.toBe(planted);
    const attacker = new Client(server.baseUrl);
    attacker.cookie = planted;
    expect((await attacker.get("/api/v1/me")).status).toBe(401);
  });

  it("refuses a replayed cookie after sign-out on every write, and writes nothing", async () => {
    const s = await scene();
    const memberCookie = s.member.cookie;
    expect((await s.member.post("/api/v1/auth/signout")).status).toBe(204);
    const before = await s.snapshot();
    const replay = new Client(server.baseUrl);
    replay.cookie = memberCookie;
    for (const res of [
      await replay.post(`/api/v1/applications/${s.appId}/tokens`, { name: "replayed" }),
      await replay.delete(`/api/v1/applications/${s.appId}/tokens/${s.memberToken.id}`),
      await replay.post(`/api/v1/applications/${s.appId}/tokens/${s.memberToken.id}/regenerate`),
      await replay.post("/api/v1/applications", { name: "replayed" }),
      await replay.get(`/api/v1/applications/${s.appId}/tokens`),
      await replay.post("/api/v1/auth/signout"),
    ]) {
      expect(res.status).toBe(401);
    }
    expect(await s.snapshot()).toEqual(before);
  });

  it.each([
    ["a forged id of the right shape", () => `keyward_session=${"Z".repeat(43)}`],
    ["an empty value", () => "keyward_session="],
    ["a 4 KiB value", () => `keyward_session=${"x".repeat(4096)}`],
    [
      "the cookie twice, forged first",
      (real: string) => `keyward_session=${"Z".repeat(43)}; ${real}`,
    ],
    ["SQL in the value", () => "keyward_session=' OR '1'='1"],
  ])(
    "treats a session cookie that is %s as signed out (401 authentication_required), never as anyone",
    async (_name, cookie) => {
      const { client } = await signUpUser(server.baseUrl);
      const forged = new Client(server.baseUrl);
      forged.cookie = cookie(client.cookie);
      const res = await forged.get<{ code: string }>("/api/v1/me");
      // With the cookie twice, the first (forged) one is the one read: failing closed.
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("authentication_required");
    },
  );
});

describe("a session on the protected API", () => {
  it("never lets a session cookie alone authenticate the protected API or verify", async () => {
    const s = await scene();
    expect((await s.owner.get("/api")).status).toBe(401);
    expect((await s.owner.get("/api/scopes/read")).status).toBe(401);
    const verify = await s.owner.post("/api/v1/verify", { token: "" });
    expect(verify.body).toEqual({ valid: false, code: "invalid_token" });
  });
});

describe("a bearer token on management routes", () => {
  const ROUTES: Array<[string, Write]> = [
    ["list applications", { method: "GET", path: () => "/api/v1/applications" }],
    ["read the application", { method: "GET", path: (s) => `/api/v1/applications/${s.appId}` }],
    ["list tokens", { method: "GET", path: (s) => `/api/v1/applications/${s.appId}/tokens` }],
    [
      "read its own token",
      { method: "GET", path: (s) => `/api/v1/applications/${s.appId}/tokens/${s.ownerToken.id}` },
    ],
    [
      "regenerate itself",
      {
        method: "POST",
        path: (s) => `/api/v1/applications/${s.appId}/tokens/${s.ownerToken.id}/regenerate`,
        body: () => ({}),
      },
    ],
    [
      "revoke another token",
      {
        method: "DELETE",
        path: (s) => `/api/v1/applications/${s.appId}/tokens/${s.memberToken.id}`,
      },
    ],
    [
      "read usage",
      {
        method: "GET",
        path: (s) => `/api/v1/applications/${s.appId}/tokens/${s.ownerToken.id}/usage`,
      },
    ],
    ["list members", { method: "GET", path: (s) => `/api/v1/applications/${s.appId}/members` }],
    [
      "add a member",
      {
        method: "POST",
        path: (s) => `/api/v1/applications/${s.appId}/members`,
        body: (s) => ({ email: s.outsider.email, role: "admin" }),
      },
    ],
    [
      "create an application",
      { method: "POST", path: () => "/api/v1/applications", body: () => ({ name: "persist" }) },
    ],
    [
      "read the audit trail",
      { method: "GET", path: (s) => `/api/v1/applications/${s.appId}/audit` },
    ],
  ];

  it.each(ROUTES)(
    "refuses an owner's bearer token that tries to %s (403 insufficient_scope), with or without our Origin",
    async (_name, route) => {
      const s = await scene();
      const before = await s.snapshot();
      const attacker = new Client(server.baseUrl);
      for (const origin of [null, server.baseUrl]) {
        const res = await attacker.request(route.method, route.path(s), {
          body: route.body?.(s),
          headers: bearer(s.ownerToken.token),
          origin,
        });
        expect(res.status).toBe(403);
        expect((res.body as Problem).code).toBe("insufficient_scope");
      }
      expect(await s.snapshot()).toEqual(before);
    },
  );
});
