import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../../src/test-support/harness.js";
import { fastPasswordHasher } from "./support.js";

/**
 * The account security routes (sessions, password change, reauthentication) under bad
 * input: never a 5xx, always problem+json, and nothing changed (the sessions, the
 * password, the recent-sign-in window).
 */

let server: TestServer;
const password = "correct horse battery staple";

beforeAll(async () => {
  server = await startTestServer({}, { passwordHasher: fastPasswordHasher });
});
afterAll(async () => {
  await server.close();
});

/** Signs in with the original password and out again (leaving the session list as it was). */
async function passwordWorks(email: string): Promise<number> {
  const probe = new Client(server.baseUrl);
  const res = await probe.post("/api/v1/auth/signin", { email, password });
  if (res.status === 200) await probe.post("/api/v1/auth/signout");
  return res.status;
}

async function scene() {
  const { client, user } = await signUpUser(server.baseUrl);
  const other = new Client(server.baseUrl);
  expect((await other.post("/api/v1/auth/signin", { email: user.email, password })).status).toBe(
    200,
  );
  const appId = await createApp(client);
  const { token } = await createToken(client, appId, { name: "t" });
  const snapshot = async () => ({
    sessions: (await client.get("/api/v1/me/sessions")).text.replace(/"lastSeenAt":"[^"]*"/g, ""),
    otherSignedIn: (await other.get("/api/v1/me")).status,
    passwordWorks: await passwordWorks(user.email),
  });
  return { client, other, user, token, snapshot };
}

function expectProblem(res: { status: number; headers: Headers; text: string }, what: string) {
  expect(res.status, what).toBeGreaterThanOrEqual(400);
  expect(res.status, what).toBeLessThan(500);
  expect(res.headers.get("content-type"), what).toContain("application/problem+json");
  expect(res.text, what).not.toContain(password);
}

const badBodies: unknown[] = [
  "not json",
  "[]",
  "null",
  { currentPassword: 1, newPassword: 2 },
  { currentPassword: password },
  { currentPassword: password, newPassword: "x".repeat(5000) },
  { currentPassword: password, newPassword: "a fine new passphrase", role: "owner" },
  { currentPassword: password, newPassword: "\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000" },
  { currentPassword: password, newPassword: "\ud800\ud800\ud800\ud800\ud800\ud800\ud800\ud800" },
  { currentPassword: password, newPassword: "\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b" },
  { currentPassword: password, newPassword: "\t\t\t\t\t\t\t\t\t" },
];

describe("account security routes under hostile input", () => {
  it("the password change refuses bad bodies and changes nothing", async () => {
    const { client, snapshot } = await scene();
    const before = await snapshot();
    for (const body of badBodies) {
      const res = await client.request("POST", "/api/v1/auth/password", {
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      if (res.status === 204) throw new Error(`accepted ${JSON.stringify(body)}`);
      expectProblem(res, JSON.stringify(body));
    }
    expect(await snapshot()).toEqual(before);
  });

  it("the reauthentication refuses bad bodies and changes nothing", async () => {
    const { client, snapshot } = await scene();
    const before = await snapshot();
    for (const body of ['"x"', "{}", '{"password":null}', '{"password":"a","x":1}', "{"]) {
      const res = await client.request("POST", "/api/v1/auth/reauthenticate", { body });
      expectProblem(res, body);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("session ids that are not ids, not yours, or made up: 4xx problem, nothing ended", async () => {
    const { client, snapshot } = await scene();
    const stranger = await signUpUser(server.baseUrl);
    const strangerId = (
      (await stranger.client.get("/api/v1/me/sessions")).body as { sessions: { id: string }[] }
    ).sessions[0]?.id;
    const before = await snapshot();
    for (const id of [
      "x",
      "ses_",
      "ses_00000000000000000000",
      "tok_00000000000000000000",
      "%00",
      "..%2F..%2Fme",
      "ses_0000000000000000000%27--",
      strangerId ?? "",
      "a".repeat(3000),
    ]) {
      const res = await client.request("DELETE", `/api/v1/me/sessions/${id}`);
      expectProblem(res, id);
    }
    expect(await snapshot()).toEqual(before);
    expect((await stranger.client.get("/api/v1/me")).status).toBe(200);
  });

  it("cross-site, bearer and anonymous calls are refused and change nothing", async () => {
    const { client, token, snapshot } = await scene();
    const before = await snapshot();
    const sessionId = (
      (await client.get("/api/v1/me/sessions")).body as { sessions: { id: string }[] }
    ).sessions[0]?.id;
    const writes: Array<[string, string, unknown]> = [
      ["DELETE", "/api/v1/me/sessions", undefined],
      ["DELETE", `/api/v1/me/sessions/${sessionId}`, undefined],
      [
        "POST",
        "/api/v1/auth/password",
        { currentPassword: password, newPassword: "evil pass 123" },
      ],
      ["POST", "/api/v1/auth/reauthenticate", { password }],
    ];
    for (const [method, path, body] of writes) {
      const crossSite = await client.request(method, path, {
        body,
        origin: "https://evil.example",
      });
      expectProblem(crossSite, `${method} ${path} cross-site`);
      expect((crossSite.body as { code: string }).code).toBe("csrf_rejected");
      const noOrigin = await client.request(method, path, { body, origin: null });
      expectProblem(noOrigin, `${method} ${path} without Origin`);
      const withBearer = await new Client(server.baseUrl).request(method, path, {
        body,
        headers: bearer(token),
      });
      expectProblem(withBearer, `${method} ${path} with a bearer token`);
      const anonymous = await new Client(server.baseUrl).request(method, path, { body });
      expect(anonymous.status).toBe(401);
    }
    const read = await new Client(server.baseUrl).get("/api/v1/me/sessions", bearer(token));
    expectProblem(read, "list with a bearer token");
    expect(await snapshot()).toEqual(before);
  });
});

describe("invitation routes under hostile input", () => {
  it("made-up, foreign and malformed invitation ids: 4xx problem, nobody joins, nothing withdrawn", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { client: invitee, user } = await signUpUser(server.baseUrl);
    const { client: stranger } = await signUpUser(server.baseUrl);
    const strangerApp = await createApp(stranger);
    const sent = await owner.post<{ invitation: { id: string } }>(
      `/api/v1/applications/${appId}/members`,
      { email: user.email, role: "member" },
    );
    const id = sent.body.invitation.id;
    const pending = async () => (await owner.get(`/api/v1/applications/${appId}/invitations`)).text;
    const before = await pending();
    for (const bad of [
      "x",
      "inv_",
      "inv_00000000000000000000",
      "usr_00000000000000000000",
      "%00",
      "a".repeat(3000),
    ]) {
      for (const res of [
        await invitee.post(`/api/v1/me/invitations/${bad}/accept`),
        await invitee.post(`/api/v1/me/invitations/${bad}/decline`),
        await owner.delete(`/api/v1/applications/${appId}/invitations/${bad}`),
      ]) {
        expectProblem(res, bad);
      }
    }
    // Someone else's: the stranger cannot answer it or withdraw it through their own app.
    for (const res of [
      await stranger.post(`/api/v1/me/invitations/${id}/accept`),
      await stranger.post(`/api/v1/me/invitations/${id}/decline`),
      await stranger.delete(`/api/v1/applications/${strangerApp}/invitations/${id}`),
      await stranger.delete(`/api/v1/applications/${appId}/invitations/${id}`),
      await stranger.get(`/api/v1/applications/${appId}/invitations`),
    ]) {
      expectProblem(res, "foreign");
    }
    // Bad bodies for an invitation change nothing.
    for (const body of [
      { email: user.email },
      { email: user.email, role: "owner" },
      { email: 1, role: "member" },
      { email: "\u0000@x.y", role: "member" },
    ]) {
      expectProblem(
        await owner.request("POST", `/api/v1/applications/${appId}/members`, { body }),
        JSON.stringify(body),
      );
    }
    // Cross-site accept is refused.
    const crossSite = await invitee.request("POST", `/api/v1/me/invitations/${id}/accept`, {
      origin: "https://evil.example",
    });
    expect((crossSite.body as { code: string }).code).toBe("csrf_rejected");
    expect(await pending()).toBe(before);
    expect((await invitee.get(`/api/v1/applications/${appId}`)).status).toBe(404);
    expect((await invitee.post(`/api/v1/me/invitations/${id}/accept`)).status).toBe(201);
  });
});
