import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  KeywardAuthError,
  KeywardClient,
  KeywardRequestError,
} from "../packages/keyward-client/src/index.js";
import { makeToken } from "../packages/keyward-client/test/support/stand-in.js";
import {
  type Client,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";

// keyward-client against the real server: the service API, verify and its cache.

let server: TestServer;
let owner: Client;
let appId: string;
let serviceKey: string;
let keyId: string;
let client: KeywardClient;
let calls = 0;

beforeAll(async () => {
  server = await startTestServer();
  owner = (await signUpUser(server.baseUrl)).client;
  const app = await owner.post<{ id: string }>("/api/v1/applications", {
    name: "Host",
    scopes: ["read", "write"],
  });
  appId = app.body.id;
  const created = await owner.post<{ key: string; serviceKey: { id: string } }>(
    `/api/v1/applications/${appId}/service-keys`,
    { name: "integration" },
  );
  expect(created.status).toBe(201);
  serviceKey = created.body.key;
  keyId = created.body.serviceKey.id;
  client = new KeywardClient({
    url: server.baseUrl,
    serviceKey,
    fetch: (input, init) => {
      if (String(input).endsWith("/verify")) calls++;
      return fetch(input, init);
    },
  });
});
afterAll(async () => {
  await client?.close();
  await server?.close();
});

describe("keyward-client against Keyward", () => {
  const externalId = "host user/ü 1?";

  it("creates, reads and updates a host user with an externalId that needs encoding", async () => {
    const first = await client.users.upsert(externalId, { email: "host@example.com", name: "H" });
    expect(first.created).toBe(true);
    expect(first.user).toMatchObject({ externalId, email: "host@example.com", name: "H" });
    const again = await client.users.upsert(externalId, { name: "Host" });
    expect(again).toMatchObject({
      created: false,
      user: { name: "Host", email: "host@example.com" },
    });
    expect(await client.users.get(externalId)).toEqual(again.user);
    expect(await client.users.get("nobody-here")).toBeNull();
  });

  it("creates a token for the host user, verifies it (cached), revokes it and refuses it", async () => {
    const issued = await client.tokens.create(externalId, { name: "CI", scopes: ["read"] });
    expect(issued.apiToken).toMatchObject({ name: "CI", scopes: ["read"], status: "active" });
    expect((await client.tokens.list(externalId)).map((t) => t.id)).toEqual([issued.apiToken.id]);

    const before = calls;
    const answer = await client.verify(issued.token, { clientAddress: "203.0.113.7" });
    expect(answer).toMatchObject({
      valid: true,
      applicationId: appId,
      tokenId: issued.apiToken.id,
      scopes: ["read"],
      externalId,
    });
    await client.verify(issued.token, { clientAddress: "203.0.113.7" });
    expect(calls - before).toBe(1);

    await client.tokens.revoke(issued.apiToken.id);
    expect(await client.verify(issued.token, { clientAddress: "203.0.113.7" })).toEqual({
      valid: false,
      code: "invalid_token",
    });
  });

  it("refuses made-up tokens offline and unknown well-formed ones through Keyward", async () => {
    const before = calls;
    expect((await client.verify("kw_nope")).valid).toBe(false);
    expect(calls).toBe(before);
    expect((await client.verify(makeToken())).valid).toBe(false);
    expect(calls).toBe(before + 1);
  });

  it("creates a portal session link, and reports a refused returnUrl as a request error", async () => {
    const session = await client.portal.createSession({ externalId });
    expect(session.url).toMatch(new RegExp(`^${server.baseUrl}/portal/`));
    const error = await client.portal
      .createSession({ externalId, returnUrl: "https://elsewhere.example/" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeywardRequestError);
    expect((error as KeywardRequestError).code).toBe("validation_failed");
  });

  it("removes the host user (idempotent)", async () => {
    await client.users.remove(externalId);
    await client.users.remove(externalId);
    expect(await client.users.get(externalId)).toBeNull();
  });

  it("throws KeywardAuthError once the service key is revoked", async () => {
    const revoked = await owner.delete(`/api/v1/applications/${appId}/service-keys/${keyId}`);
    expect(revoked.status).toBe(204);
    await expect(client.verify(makeToken())).rejects.toBeInstanceOf(KeywardAuthError);
    await expect(client.users.get("x")).rejects.toBeInstanceOf(KeywardAuthError);
  });
});
