import { describe, expect, it } from "vitest";
import type { ApiToken, AuditPage } from "../contract/index.js";
import {
  addMember,
  bearer,
  Client,
  createToken,
  flushUsage,
  signUpUser,
  signUpWithApp,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const server = setUpTestServer();

describe("audit trail", () => {
  it("records token creation, regeneration and revocation with who and why, and no secret", async () => {
    const { client: owner, user: ownerUser, appId } = await signUpWithApp(server.baseUrl);
    const { client: member, user: memberUser } = await addMember(owner, appId);
    const own = await createToken(owner, appId, { name: "owner's" });
    const theirs = await createToken(member, appId, { name: "member's" });
    const regenerated = await member.post<{ token: string }>(
      `/api/v1/applications/${appId}/tokens/${theirs.id}/regenerate`,
      { graceSeconds: 60 },
    );
    await owner.delete(`/api/v1/applications/${appId}/tokens/${theirs.id}`);
    await owner.delete(`/api/v1/applications/${appId}/tokens/${theirs.id}`); // idempotent: one event

    const trail = await owner.get<AuditPage>(`/api/v1/applications/${appId}/audit`);
    expect(trail.status).toBe(200);
    const actions = trail.body.events.map((e) => [
      e.action,
      e.reason,
      e.actor?.email ?? null,
      e.tokenName,
    ]);
    expect(actions).toEqual([
      ["token.revoked", "admin", ownerUser.email, "member's"],
      ["token.regenerated", null, memberUser.email, "member's"],
      ["token.created", null, memberUser.email, "member's"],
      ["token.created", null, ownerUser.email, "owner's"],
      // Added by accepting the invitation: the inviter is the actor of both events.
      ["member.added", null, ownerUser.email, null],
      ["member.invited", null, ownerUser.email, null],
    ]);
    expect(trail.body.events[0]?.ip).toBe("127.0.0.1");
    for (const secret of [own.token, theirs.token, regenerated.body.token])
      expect(trail.text).not.toContain(secret);
    expect(trail.text).not.toMatch(/[0-9a-f]{64}/);

    // A member reads only the events of their own tokens.
    const memberTrail = await member.get<AuditPage>(`/api/v1/applications/${appId}/audit`);
    expect(new Set(memberTrail.body.events.map((e) => e.tokenId))).toEqual(new Set([theirs.id]));
    // With the address of their own actions only: where the owner was is not theirs to see.
    const addresses = memberTrail.body.events.map((e) => [e.action, e.ip]);
    expect(addresses).toEqual([
      ["token.revoked", null],
      ["token.regenerated", "127.0.0.1"],
      ["token.created", "127.0.0.1"],
    ]);

    // Filters and pagination.
    const created = await owner.get<AuditPage>(
      `/api/v1/applications/${appId}/audit?action=token.created`,
    );
    expect(created.body.events).toHaveLength(2);
    const byToken = await owner.get<AuditPage>(
      `/api/v1/applications/${appId}/audit?tokenId=${own.id}`,
    );
    expect(byToken.body.events.map((e) => e.action)).toEqual(["token.created"]);
    const first = await owner.get<AuditPage>(`/api/v1/applications/${appId}/audit?limit=2`);
    expect(first.body.events).toHaveLength(2);
    expect(first.body.nextBefore).not.toBeNull();
    const second = await owner.get<AuditPage>(
      `/api/v1/applications/${appId}/audit?limit=2&before=${first.body.nextBefore}`,
    );
    expect(second.body.events[0]?.id).toBe(trail.body.events[2]?.id);
    expect((await owner.get(`/api/v1/applications/${appId}/audit?limit=5000`)).status).toBe(200);
    expect((await owner.get(`/api/v1/applications/${appId}/audit?before=garbage`)).status).toBe(
      400,
    );
    // Where their token was presented from is theirs to see (here from outside its
    // allowlist; likewise a token sent in the clear); whoever reported a leak is not.
    const fenced = await createToken(member, appId, {
      name: "fenced",
      allowedAddresses: ["10.0.0.0/8"],
    });
    expect((await new Client(server.baseUrl).get("/api", bearer(fenced.token))).status).toBe(401);
    const report = await new Client(server.baseUrl).post("/api/v1/leaks", {
      tokens: [fenced.token],
    });
    expect(report.status).toBe(202);
    const fencedTrail = await pollUntil("the refusal in the trail", async () => {
      const trail = await member.get<AuditPage>(
        `/api/v1/applications/${appId}/audit?tokenId=${fenced.id}`,
      );
      return trail.body.events.length === 3 && trail.body.events;
    });
    expect(fencedTrail.map((e) => [e.action, e.reason, e.ip])).toEqual([
      ["token.revoked", "leaked", null],
      ["token.refused", "address", "127.0.0.1"],
      ["token.created", null, "127.0.0.1"],
    ]);
    // Non-members: 404.
    const { client: stranger } = await signUpUser(server.baseUrl);
    expect((await stranger.get(`/api/v1/applications/${appId}/audit`)).status).toBe(404);
  });

  it("records member removal and each token it revoked", async () => {
    const { client: owner, appId } = await signUpWithApp(server.baseUrl);
    const { client: member, user: memberUser } = await addMember(owner, appId);
    await createToken(member, appId, { name: "a" });
    await owner.delete(`/api/v1/applications/${appId}/members/${memberUser.id}`);
    const trail = await owner.get<AuditPage>(`/api/v1/applications/${appId}/audit`);
    const reasons = trail.body.events.map((e) => `${e.action}:${e.reason ?? ""}`);
    expect(reasons).toContain("member.removed:removed");
    expect(reasons).toContain("token.revoked:member_removed");
    const removed = trail.body.events.find((e) => e.action === "member.removed");
    expect(removed?.detail).toMatchObject({
      email: memberUser.email,
      role: "member",
      revokedTokens: 1,
    });
    const list = await owner.get<{ tokens: ApiToken[] }>(
      `/api/v1/applications/${appId}/tokens?all=1`,
    );
    expect(list.body.tokens[0]?.revokedReason).toBe("member_removed");
  });

  it("records sign-ins, failed ones included, for the account's owner to read", async () => {
    const signup = new Client(server.baseUrl);
    const email = `audited${Date.now()}@example.com`;
    await signup.post("/api/v1/auth/signup", {
      email,
      password: "correct horse battery staple",
      name: "A",
    });
    await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email,
      password: "wrong password here",
    });
    const client = new Client(server.baseUrl);
    await client.post("/api/v1/auth/signin", { email, password: "correct horse battery staple" });
    const mine = await client.get<AuditPage>("/api/v1/me/audit");
    expect(mine.body.events.map((e) => `${e.action}:${e.reason ?? ""}`)).toEqual([
      "signin.succeeded:",
      "signin.failed:wrong_password",
      "signup:",
    ]);
    expect(mine.text).not.toContain("wrong password here");
    expect(mine.text).not.toContain("correct horse");
  });
});

describe("leak reports", () => {
  it("revokes each valid reported token with reason leaked, with one answer whatever was sent", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const leaked = await createToken(client, appId, { name: "leaked" });
    const safe = await createToken(client, appId, { name: "safe" });
    const reporter = new Client(server.baseUrl);
    const report = await reporter.post("/api/v1/leaks", {
      tokens: [leaked.token, "kw_not_a_token", leaked.token],
    });
    const nothing = await reporter.post("/api/v1/leaks", { tokens: ["kw_not_a_token", "x", "y"] });
    expect(report.status).toBe(202);
    expect(report.text).toBe(nothing.text);
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(leaked.token))).status).toBe(401);
    expect((await api.get("/api", bearer(safe.token))).status).toBe(200);
    const token = await client.get<ApiToken>(`/api/v1/applications/${appId}/tokens/${leaked.id}`);
    expect(token.body).toMatchObject({ status: "revoked", revokedReason: "leaked" });
    const trail = await client.get<AuditPage>(
      `/api/v1/applications/${appId}/audit?tokenId=${leaked.id}`,
    );
    expect(trail.body.events[0]).toMatchObject({
      action: "token.revoked",
      reason: "leaked",
      actor: null,
    });
  });

  it("refuses more than 1000 tokens, and non-JSON", async () => {
    const reporter = new Client(server.baseUrl);
    expect(
      (await reporter.post("/api/v1/leaks", { tokens: Array.from({ length: 1001 }, () => "x") }))
        .status,
    ).toBe(400);
    expect((await reporter.post("/api/v1/leaks", { tokens: [] })).status).toBe(400);
    expect(
      (
        await reporter.request("POST", "/api/v1/leaks", {
          body: "kw_x",
          headers: { "content-type": "text/plain" },
        })
      ).status,
    ).toBe(415);
  });

  it("shows the owner how often a revoked token is still presented, and when last", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { token, id } = await createToken(client, appId, { name: "forgotten" });
    await client.delete(`/api/v1/applications/${appId}/tokens/${id}`);
    const api = new Client(server.baseUrl);
    for (let i = 0; i < 3; i++) expect((await api.get("/api", bearer(token))).status).toBe(401);
    await flushUsage(server);
    const seen = await client.get<ApiToken>(`/api/v1/applications/${appId}/tokens/${id}`);
    expect(seen.body.refusedCount).toBe(3);
    expect(seen.body.lastRefusedAt).not.toBeNull();
  });
});
