import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Client,
  createApp,
  createServiceKey,
  createToken,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../../../src/test-support/harness.js";
import { pollUntil } from "../../../src/test-support/poll.js";
import { KeywardClient } from "../src/client.js";
import { type RunningApp, startExpressApp, startFastifyApp, startHonoApp } from "./support/apps.js";
import { type HoldingProxy, startHoldingProxy } from "./support/holding-proxy.js";

// The client against a real Keyward, where what is tested depends on the real server's
// answers: a revocation the stream reports while a verify answer is on its way, and
// address allowlists checked against the address an adapter passes on.

let server: TestServer;
let owner: Client;
let appId: string;
let serviceKey: string;

beforeAll(async () => {
  server = await startTestServer();
  owner = (await signUpUser(server.baseUrl)).client;
  appId = await createApp(owner, "Host");
  serviceKey = (await createServiceKey(owner, appId)).key;
});
afterAll(async () => {
  await server?.close();
});

describe("a verify answer on its way when the stream reports its token revoked", () => {
  let proxy: HoldingProxy;
  let client: KeywardClient | undefined;

  beforeAll(async () => {
    proxy = await startHoldingProxy(server.baseUrl);
  });
  afterAll(async () => {
    await client?.close();
    await proxy?.close();
  });

  it("goes to the caller who asked before; a caller who asks after gets Keyward's new answer", async () => {
    // The clock stands still, so a cached answer leaves only on the stream's event: its
    // leaving is how the test knows the client has heard the revocation.
    const now = Date.now();
    client = new KeywardClient({ url: proxy.url, serviceKey, now: () => now });
    const { token, id } = await createToken(owner, appId, { name: "in flight" });
    const witness = { clientAddress: "198.51.100.1" };
    expect((await client.verify(token, witness)).valid).toBe(true);
    await pollUntil("the stream", () => client?.streamState === "connected");

    proxy.hold();
    const askedBefore = client.verify(token);
    await pollUntil("Keyward's answer, held on its way", () => proxy.held() === 1);
    expect((await owner.delete(`/api/v1/applications/${appId}/tokens/${id}`)).status).toBe(204);
    await pollUntil(
      "the client to hear the revocation",
      () => client?.cachedVerification(token, witness) === undefined,
    );

    const askedAfter = client.verify(token);
    proxy.release();
    expect((await askedBefore).valid).toBe(true);
    expect(await askedAfter).toEqual({ valid: false, code: "invalid_token" });
    expect(await client.verify(token)).toEqual({ valid: false, code: "invalid_token" });
  });
});

describe("an address allowlist behind the adapters", () => {
  const ALLOWED = "198.51.100.7";
  /** Link-local IPv6, which Node gives with its interface: `fe80::1%eth0`. */
  const ALLOWED_NETWORK = "fe80::/10";
  const header = "x-test-client-address";
  let client: KeywardClient;
  let token: string;
  const apps: RunningApp[] = [];

  beforeAll(async () => {
    client = new KeywardClient({ url: server.baseUrl, serviceKey, revocationStream: false });
    token = (
      await createToken(owner, appId, {
        name: "allowlisted",
        allowedAddresses: [ALLOWED, ALLOWED_NETWORK],
      })
    ).token;
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await client?.close();
  });

  /** The status of GET /api with the token, and these headers. */
  async function statusOf(app: RunningApp, headers: Record<string, string>): Promise<number> {
    const res = await fetch(`${app.url}/api`, {
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
    await res.arrayBuffer();
    return res.status;
  }

  it.each([
    ["hono", startHonoApp],
    ["express", startExpressApp],
    ["fastify", startFastifyApp],
  ] as const)(
    "%s: checks the address the clientAddress option returns, not the connection's",
    async (_name, start) => {
      const app = await start(client, { clientAddressHeader: header });
      apps.push(app);
      expect(await statusOf(app, { [header]: ALLOWED })).toBe(200);
      expect(await statusOf(app, { [header]: "198.51.100.8" })).toBe(401);
      expect(await statusOf(app, { [header]: "fe80::1%eth0" })).toBe(200);
      // Nothing returned: no address is sent, and Keyward checks the host server's own.
      expect(await statusOf(app, {})).toBe(401);
      // Not an address (Keyward would refuse it with a 400): refused, never a 500.
      for (const notAnAddress of ["", "198.51.100.7,", "198.51.100.7:443", "fe80::1%eth0:1"]) {
        expect(await statusOf(app, { [header]: notAnAddress }), notAnAddress).toBe(401);
      }
    },
  );

  it.each([
    ["express", startExpressApp],
    ["fastify", startFastifyApp],
  ] as const)(
    "%s: checks the address a trusted proxy forwarded, by the framework's own setting",
    async (_name, start) => {
      const app = await start(client, { trustLoopbackProxy: true });
      apps.push(app);
      expect(await statusOf(app, { "x-forwarded-for": ALLOWED })).toBe(200);
      expect(await statusOf(app, { "x-forwarded-for": `${ALLOWED}, 198.51.100.8` })).toBe(401);
      expect(await statusOf(app, {})).toBe(401);
      // The framework skips empty entries but gives one that is not an address as it is:
      // refused (Keyward would answer it with a 400), never a 500.
      expect(await statusOf(app, { "x-forwarded-for": `${ALLOWED}, nobody` })).toBe(401);
    },
  );
});
