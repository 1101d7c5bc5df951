import { describe, expect, it } from "vitest";
import type { ApiToken, TokenList } from "../contract/index.js";
import { ManualClock } from "../test-support/clock.js";
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

const clock = new ManualClock();
const server = setUpTestServer({ MAX_ACTIVE_TOKENS_PER_USER: "3" }, { clock });

type Problem = { code: string; detail: string };

describe("token names", () => {
  it("trims names and refuses empty or over-long ones", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    for (const name of ["", "   ", "x".repeat(101)]) {
      const res = await client.post<Problem>(`/api/v1/applications/${appId}/tokens`, { name });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const hundred = await client.post<{ apiToken: ApiToken }>(
      `/api/v1/applications/${appId}/tokens`,
      { name: `  ${"é".repeat(100)}  ` },
    );
    expect(hundred.status).toBe(201);
    expect(hundred.body.apiToken.name).toBe("é".repeat(100));
    const list = await client.get<TokenList>(`/api/v1/applications/${appId}/tokens`);
    expect(list.body.tokens).toHaveLength(1);
  });

  it("refuses a name already used by one of the owner's active tokens, and frees it on revoke", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const first = await createToken(client, appId, { name: "deploy" });
    const dup = await client.post<Problem>(`/api/v1/applications/${appId}/tokens`, {
      name: " deploy ",
    });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe("token_name_taken");
    await client.delete(`/api/v1/applications/${appId}/tokens/${first.id}`);
    expect(
      (await client.post(`/api/v1/applications/${appId}/tokens`, { name: "deploy" })).status,
    ).toBe(201);
    // Another user may use the same name.
    const { client: other, user } = await signUpUser(server.baseUrl);
    await inviteAndAccept(client, appId, other, user.email, "member");
    expect(
      (await other.post(`/api/v1/applications/${appId}/tokens`, { name: "deploy" })).status,
    ).toBe(201);
  });

  it("stores names with markup and SQL metacharacters verbatim", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const names = [
      "<img src=x onerror=alert(1)>",
      "'; DROP TABLE tokens; --",
      'quote " and \\ backslash',
    ];
    for (const name of names) await createToken(client, appId, { name });
    const list = await client.get<TokenList>(`/api/v1/applications/${appId}/tokens`);
    expect(list.body.tokens.map((t) => t.name).sort()).toEqual([...names].sort());
  });
});

describe("the per-user cap on active tokens", () => {
  it("refuses past the cap with a clear error, and counts only active tokens", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const ids = [];
    for (const name of ["a", "b", "c"]) ids.push((await createToken(client, appId, { name })).id);
    const over = await client.post<Problem>(`/api/v1/applications/${appId}/tokens`, { name: "d" });
    expect(over.status).toBe(409);
    expect(over.body.code).toBe("token_limit_reached");
    expect(over.body.detail).toMatch(/3 active tokens/);
    await client.delete(`/api/v1/applications/${appId}/tokens/${ids[0]}`);
    expect((await client.post(`/api/v1/applications/${appId}/tokens`, { name: "d" })).status).toBe(
      201,
    );
  });

  it("holds under concurrent creation", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        client.post(`/api/v1/applications/${appId}/tokens`, { name: `t${i}` }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    const list = await client.get<TokenList>(`/api/v1/applications/${appId}/tokens`);
    expect(list.body.tokens).toHaveLength(3);
  });
});

describe("listing and visibility", () => {
  it("lists the caller's own tokens newest first; owners list everyone's with ?all=1", async () => {
    const { client: owner, user: ownerUser, appId } = await signUpWithApp(server.baseUrl);
    const { client: member, user: memberUser } = await addMember(owner, appId);
    await createToken(owner, appId, { name: "first" });
    // A later creation time for certain, so "newest first" has one right order.
    clock.advance(1000);
    await createToken(owner, appId, { name: "second" });
    const mine = await createToken(member, appId, { name: "member's" });

    const own = await owner.get<TokenList>(`/api/v1/applications/${appId}/tokens`);
    expect(own.body.tokens.map((t) => t.name)).toEqual(["second", "first"]);
    expect(own.body.tokens[0]).not.toHaveProperty("owner");
    const all = await owner.get<TokenList>(`/api/v1/applications/${appId}/tokens?all=1`);
    expect(all.body.tokens.map((t) => t.owner?.email)).toEqual([
      memberUser.email,
      ownerUser.email,
      ownerUser.email,
    ]);
    expect(all.text).not.toMatch(/kw_[0-9A-Za-z]{36}/);

    expect((await member.get(`/api/v1/applications/${appId}/tokens?all=1`)).status).toBe(403);
    const memberList = await member.get<TokenList>(`/api/v1/applications/${appId}/tokens`);
    expect(memberList.body.tokens.map((t) => t.name)).toEqual(["member's"]);

    // A member cannot see or revoke the owner's token: it does not exist for them.
    const ownerToken = own.body.tokens[0]?.id;
    expect((await member.get(`/api/v1/applications/${appId}/tokens/${ownerToken}`)).status).toBe(
      404,
    );
    expect((await member.delete(`/api/v1/applications/${appId}/tokens/${ownerToken}`)).status).toBe(
      404,
    );

    // The owner may revoke the member's token, but not regenerate it (the secret would be theirs).
    expect(
      (await owner.post(`/api/v1/applications/${appId}/tokens/${mine.id}/regenerate`)).status,
    ).toBe(403);
    expect((await owner.delete(`/api/v1/applications/${appId}/tokens/${mine.id}`)).status).toBe(
      204,
    );
    expect((await new Client(server.baseUrl).get("/api", bearer(mine.token))).status).toBe(401);
  });

  it("answers 404 for a token of another application", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appA = await createApp(client, "A");
    const appB = await createApp(client, "B");
    const { id } = await createToken(client, appA, { name: "a" });
    expect((await client.get(`/api/v1/applications/${appB}/tokens/${id}`)).status).toBe(404);
    expect((await client.delete(`/api/v1/applications/${appB}/tokens/${id}`)).status).toBe(404);
  });
});

describe("input rules", () => {
  it("refuses unknown fields, past expiry, bad scopes and bad grace periods", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const base = `/api/v1/applications/${appId}/tokens`;
    const cases: unknown[] = [
      { name: "x", userId: "usr_00000000000000000000" },
      { name: "x", expiresAt: "2001-01-01T00:00:00Z" },
      { name: "x", expiresAt: "tomorrow" },
      { name: "x", scopes: ["Not Valid"] },
      { name: 42 },
    ];
    for (const body of cases) {
      const res = await client.post<Problem>(base, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    expect((await client.get<TokenList>(base)).body.tokens).toHaveLength(0);

    const { id } = await createToken(client, appId, {
      name: "ok",
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    for (const graceSeconds of [-1, 86_401, 1.5, "60"]) {
      const res = await client.post(`${base}/${id}/regenerate`, { graceSeconds });
      expect(res.status).toBe(400);
    }
    for (const days of ["0", "367", "abc", "-1"]) {
      expect((await client.get(`${base}/${id}/usage?days=${days}`)).status).toBe(400);
    }
    expect((await client.get(`${base}/tok_bad`)).status).toBe(400);
  });

  it("restricts scopes to those an application declares", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const created = await client.post<{ id: string; scopes: string[] }>("/api/v1/applications", {
      name: "Scoped",
      scopes: ["read", "write"],
    });
    expect(created.body.scopes).toEqual(["read", "write"]);
    const appId = created.body.id;
    expect(
      (await client.post(`/api/v1/applications/${appId}/tokens`, { name: "r", scopes: ["read"] }))
        .status,
    ).toBe(201);
    expect(
      (await client.post(`/api/v1/applications/${appId}/tokens`, { name: "x", scopes: ["admin"] }))
        .status,
    ).toBe(400);
  });

  it("does not regenerate a revoked token", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { id } = await createToken(client, appId, { name: "gone" });
    await client.delete(`/api/v1/applications/${appId}/tokens/${id}`);
    const res = await client.post<Problem>(
      `/api/v1/applications/${appId}/tokens/${id}/regenerate`,
      { graceSeconds: 0 },
    );
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("token_not_active");
  });
});
