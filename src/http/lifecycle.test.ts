import { describe, expect, it } from "vitest";
import type { ApiToken, IssuedToken, TokenList, TokenUsage } from "../contract/index.js";
import { ManualClock } from "../test-support/clock.js";
import { bearer, Client, createToken, signUpWithApp } from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const clock = new ManualClock();
const server = setUpTestServer({}, { clock });

describe("token lifecycle over real HTTP", () => {
  it("creates, uses, lists, regenerates and revokes a token", async () => {
    const { client, user, appId } = await signUpWithApp(server.baseUrl, "Demo");

    const created = await client.post<IssuedToken>(`/api/v1/applications/${appId}/tokens`, {
      name: "  API Testing  ",
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const { token, apiToken } = created.body;
    expect(token).toMatch(/^kw_[0-9A-Za-z]{36}$/);
    expect(apiToken).toMatchObject({
      name: "API Testing",
      status: "active",
      lastUsedAt: null,
      revokedAt: null,
      expiresAt: null,
      scopes: [],
    });
    expect(apiToken.hint).toBe(`kw_…${token.slice(-4)}`);

    const api = new Client(server.baseUrl);
    const ok = await api.get("/api", bearer(token));
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      application: { id: appId, name: "Demo" },
      user: { id: user.id, email: user.email },
      token: { id: apiToken.id, name: "API Testing", scopes: [] },
    });

    // The listing never carries the plaintext, and shows the use within the flush interval.
    // Polled: the periodic flush is what is under test here, so it is not called by hand.
    const listed = await pollUntil("the use to show as lastUsedAt", async () => {
      const res = await client.get<TokenList>(`/api/v1/applications/${appId}/tokens`);
      const row = res.body.tokens[0];
      return row?.lastUsedAt ? res : undefined;
    });
    expect(listed.text).not.toContain(token);
    expect(listed.body.tokens).toHaveLength(1);

    const usage = await client.get<TokenUsage>(
      `/api/v1/applications/${appId}/tokens/${apiToken.id}/usage?days=7`,
    );
    expect(usage.status).toBe(200);
    expect(usage.body.total).toBe(1);
    expect(usage.body.daily).toHaveLength(7);
    expect(usage.body.daily.at(-1)?.requests).toBe(1);

    // Regenerate without grace: same id and name, new secret; the old one is refused at once.
    const regenerated = await client.post<IssuedToken>(
      `/api/v1/applications/${appId}/tokens/${apiToken.id}/regenerate`,
    );
    expect(regenerated.status).toBe(201);
    expect(regenerated.headers.get("cache-control")).toBe("no-store");
    expect(regenerated.body.apiToken.id).toBe(apiToken.id);
    expect(regenerated.body.apiToken.name).toBe("API Testing");
    expect(regenerated.body.token).not.toBe(token);
    expect((await api.get("/api", bearer(token))).status).toBe(401);
    const newToken = regenerated.body.token;
    expect((await api.get("/api", bearer(newToken))).status).toBe(200);

    // Revoke: the very next request is refused; revoking again is still 204.
    expect(
      (await client.delete(`/api/v1/applications/${appId}/tokens/${apiToken.id}`)).status,
    ).toBe(204);
    const refused = await api.get("/api", bearer(newToken));
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe(
      'Bearer realm="api", error="invalid_token"',
    );
    expect(
      (await client.delete(`/api/v1/applications/${appId}/tokens/${apiToken.id}`)).status,
    ).toBe(204);

    const after = await client.get<ApiToken>(`/api/v1/applications/${appId}/tokens/${apiToken.id}`);
    expect(after.body.status).toBe("revoked");
    expect(after.body.revokedAt).not.toBeNull();
  });

  it("keeps the old secret working during a regeneration grace period", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { token, id } = await createToken(client, appId, { name: "ci" });
    const regenerated = await client.post<IssuedToken>(
      `/api/v1/applications/${appId}/tokens/${id}/regenerate`,
      { graceSeconds: 3600 },
    );
    expect(regenerated.status).toBe(201);
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    expect((await api.get("/api", bearer(regenerated.body.token))).status).toBe(200);
    // Revoking the token ends the grace period too.
    await client.delete(`/api/v1/applications/${appId}/tokens/${id}`);
    expect((await api.get("/api", bearer(token))).status).toBe(401);
    expect((await api.get("/api", bearer(regenerated.body.token))).status).toBe(401);
  });

  it("refuses an expired token with the same answer as an unknown one", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const soon = new Date(clock.now() + 60_000).toISOString();
    const { token } = await createToken(client, appId, { name: "short-lived", expiresAt: soon });
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    clock.advance(61_000);
    try {
      const expired = await api.get("/api", bearer(token));
      const unknownToken = `${token.slice(0, 10)}${"A".repeat(26)}`;
      const unknown = await api.get("/api", bearer(unknownToken));
      expect(expired.status).toBe(401);
      expect(expired.text).toBe(unknown.text);
      const list = await client.get<TokenList>(`/api/v1/applications/${appId}/tokens`);
      expect(list.body.tokens[0]?.status).toBe("expired");
    } finally {
      clock.advance(-61_000);
    }
  });
});
