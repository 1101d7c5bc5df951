import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/test-support/clock.js";
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
import { pollUntil } from "../../src/test-support/poll.js";
import { fastPasswordHasher } from "./support.js";

/**
 * Revocation and lifecycle races over real HTTP. The guarantees: a revocation (or
 * regeneration, member removal, sign-out) answered to its caller holds for every request
 * that starts afterwards; concurrent changes to one token settle into one consistent
 * state; nobody reaches a token that is not theirs, and trying does not harm it.
 */

let server: TestServer;
const clock = new ManualClock();
const password = "correct horse battery staple";

beforeAll(async () => {
  server = await startTestServer({}, { clock, passwordHasher: fastPasswordHasher });
});
afterAll(async () => {
  await server.close();
});

type Sample = { startedAt: number; status: number };

/**
 * Keeps `lanes` loops of GET /api with `token` running until `stop()` is awaited; every
 * request is recorded with the moment it started.
 */
function hammer(token: string, lanes = 6) {
  const samples: Sample[] = [];
  let running = true;
  const api = new Client(server.baseUrl);
  const loops = Array.from({ length: lanes }, async () => {
    for (let i = 0; i < 2000 && running; i++) {
      const startedAt = performance.now();
      const res = await api.get("/api", bearer(token));
      samples.push({ startedAt, status: res.status });
    }
  });
  return {
    samples,
    /** Resolves once the token has been accepted at least once under load. */
    accepted: () => pollUntil("a 200 under load", () => samples.some((s) => s.status === 200)),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Waits until `count` requests that started after `moment` have been answered. */
function startedAfter(samples: Sample[], moment: number, count: number) {
  return pollUntil(
    `${count} answers to requests started after the acknowledgement`,
    () => samples.filter((s) => s.startedAt > moment).length >= count,
  );
}

async function signIn(email: string): Promise<Client> {
  const client = new Client(server.baseUrl);
  const res = await client.post("/api/v1/auth/signin", { email, password });
  if (res.status !== 200) throw new Error(`signin ${res.status}`);
  return client;
}

describe("revocation races", () => {
  it("answers 204 to eight parallel revokes of one token from different sessions, with one revocation", async () => {
    const { client: owner, user: ownerUser } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { client: admin, user: adminUser } = await signUpUser(server.baseUrl);
    await inviteAndAccept(owner, appId, admin, adminUser.email, "admin");
    const target = await createToken(owner, appId, { name: "contested" });
    const sessions = [
      owner,
      await signIn(ownerUser.email),
      await signIn(ownerUser.email),
      await signIn(ownerUser.email),
      admin,
      await signIn(adminUser.email),
      await signIn(adminUser.email),
      await signIn(adminUser.email),
    ];
    const path = `/api/v1/applications/${appId}/tokens/${target.id}`;
    const answers = await Promise.all(sessions.map((s) => s.delete(path)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(204));
    expect((await new Client(server.baseUrl).get("/api", bearer(target.token))).status).toBe(401);

    const first = await owner.get<{ revokedAt: string; status: string }>(path);
    expect(first.body.status).toBe("revoked");
    expect((await admin.delete(path)).status).toBe(204);
    const again = await owner.get<{ revokedAt: string }>(path);
    expect(again.body.revokedAt).toBe(first.body.revokedAt);

    const audit = await owner.get<{ events: Array<{ action: string }> }>(
      `/api/v1/applications/${appId}/audit?tokenId=${target.id}&action=token.revoked`,
    );
    expect(audit.status).toBe(200);
    expect(audit.body.events).toHaveLength(1);
  });

  it("refuses every request that starts after the revoke's 204, while requests are in flight", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    const { token, id } = await createToken(client, appId, { name: "in-flight" });
    const load = hammer(token);
    await load.accepted();
    const res = await client.delete(`/api/v1/applications/${appId}/tokens/${id}`);
    const acknowledgedAt = performance.now();
    expect(res.status).toBe(204);
    await startedAfter(load.samples, acknowledgedAt, 11);
    await load.stop();
    const before = load.samples.filter((s) => s.startedAt < acknowledgedAt);
    const after = load.samples.filter((s) => s.startedAt > acknowledgedAt);
    expect(before.some((s) => s.status === 200)).toBe(true);
    expect(after.length).toBeGreaterThan(10);
    expect(after.filter((s) => s.status !== 401)).toEqual([]);
    // Nothing but 200 and 401 along the way: no 5xx from the race.
    expect(load.samples.filter((s) => s.status !== 200 && s.status !== 401)).toEqual([]);
  });

  it("refuses a cached token on the very next request after its revoke, for 20 tokens revoked in parallel", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    const api = new Client(server.baseUrl);
    const tokens = [];
    for (let i = 0; i < 20; i++) tokens.push(await createToken(client, appId, { name: `c${i}` }));
    // Warm the verifier's cache.
    for (const t of tokens) expect((await api.get("/api", bearer(t.token))).status).toBe(200);
    await Promise.all(
      tokens.map(async (t) => {
        expect((await client.delete(`/api/v1/applications/${appId}/tokens/${t.id}`)).status).toBe(
          204,
        );
        expect((await api.get("/api", bearer(t.token))).status).toBe(401);
      }),
    );
  });

  it("leaves no secret working when a revoke races a regeneration", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    const api = new Client(server.baseUrl);
    for (let round = 0; round < 5; round++) {
      const { token, id } = await createToken(client, appId, { name: `rr${round}` });
      const base = `/api/v1/applications/${appId}/tokens/${id}`;
      const [regen, revoke] = await Promise.all([
        client.post<{ token: string }>(`${base}/regenerate`, { graceSeconds: 3600 }),
        client.delete(base),
      ]);
      expect(revoke.status).toBe(204);
      expect([201, 409]).toContain(regen.status);
      expect((await api.get("/api", bearer(token))).status).toBe(401);
      if (regen.status === 201)
        expect((await api.get("/api", bearer(regen.body.token))).status).toBe(401);
    }
  });
});

describe("regeneration races", () => {
  it("refuses the old secret on every request that starts after the regeneration's 201", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    const { token, id } = await createToken(client, appId, { name: "rotating" });
    const load = hammer(token);
    await load.accepted();
    const res = await client.post<{ token: string }>(
      `/api/v1/applications/${appId}/tokens/${id}/regenerate`,
    );
    const acknowledgedAt = performance.now();
    expect(res.status).toBe(201);
    await startedAfter(load.samples, acknowledgedAt, 11);
    await load.stop();
    const after = load.samples.filter((s) => s.startedAt > acknowledgedAt);
    expect(after.length).toBeGreaterThan(10);
    expect(after.filter((s) => s.status !== 401)).toEqual([]);
    expect((await new Client(server.baseUrl).get("/api", bearer(res.body.token))).status).toBe(200);
  });

  it("leaves exactly one working secret after six parallel regenerations", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    const { token, id } = await createToken(client, appId, { name: "many" });
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        client.post<{ token: string }>(`/api/v1/applications/${appId}/tokens/${id}/regenerate`),
      ),
    );
    const api = new Client(server.baseUrl);
    const secrets = answers.filter((a) => a.status === 201).map((a) => a.body.token);
    expect(secrets.length).toBeGreaterThan(0);
    const working = [];
    for (const secret of [token, ...secrets])
      if ((await api.get("/api", bearer(secret))).status === 200) working.push(secret);
    expect(working).toHaveLength(1);
    expect(working[0]).not.toBe(token);
  });
});

describe("other people's tokens", () => {
  it("answers 404 to a stranger naming a token id under their own application, and the token still works", async () => {
    const { client: victim } = await signUpUser(server.baseUrl);
    const victimApp = await createApp(victim);
    const target = await createToken(victim, victimApp, { name: "victim" });
    const { client: stranger } = await signUpUser(server.baseUrl);
    const strangerApp = await createApp(stranger);
    const base = `/api/v1/applications/${strangerApp}/tokens/${target.id}`;
    for (const res of [
      await stranger.get(base),
      await stranger.delete(base),
      await stranger.post(`${base}/regenerate`),
      await stranger.get(`${base}/usage`),
    ]) {
      expect(res.status).toBe(404);
      expect(res.text).not.toContain(target.id);
    }
    expect((await new Client(server.baseUrl).get("/api", bearer(target.token))).status).toBe(200);
    const view = await victim.get<{ status: string }>(
      `/api/v1/applications/${victimApp}/tokens/${target.id}`,
    );
    expect(view.body.status).toBe("active");
  });

  it("answers 404 to a fellow member regenerating or reading the usage of someone else's token, and it still works", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { client: member, user: memberUser } = await signUpUser(server.baseUrl);
    await inviteAndAccept(owner, appId, member, memberUser.email, "member");
    const target = await createToken(owner, appId, { name: "owner's" });
    const base = `/api/v1/applications/${appId}/tokens/${target.id}`;
    expect((await member.post(`${base}/regenerate`)).status).toBe(404);
    expect((await member.get(`${base}/usage`)).status).toBe(404);
    expect((await member.delete(base)).status).toBe(404);
    expect((await new Client(server.baseUrl).get("/api", bearer(target.token))).status).toBe(200);
  });

  it("gives a stranger the same 404 for a real token id as for a made-up one", async () => {
    const { client: victim } = await signUpUser(server.baseUrl);
    const victimApp = await createApp(victim);
    const target = await createToken(victim, victimApp, { name: "probe" });
    const { client: stranger } = await signUpUser(server.baseUrl);
    const strangerApp = await createApp(stranger);
    const real = await stranger.delete(`/api/v1/applications/${strangerApp}/tokens/${target.id}`);
    const fake = await stranger.delete(
      `/api/v1/applications/${strangerApp}/tokens/tok_00000000000000000000`,
    );
    expect(real.status).toBe(404);
    expect(real.text).toBe(fake.text.replaceAll("tok_00000000000000000000", target.id));
  });
});

describe("membership, names, sessions and expiry under concurrency", () => {
  it("leaves no working token when a member is removed while creating tokens in parallel", async () => {
    const { client: owner } = await signUpUser(server.baseUrl);
    const appId = await createApp(owner);
    const { client: member, user: memberUser } = await signUpUser(server.baseUrl);
    await inviteAndAccept(owner, appId, member, memberUser.email, "member");
    const issued: string[] = [];
    let removed = false;
    const creators = Array.from({ length: 4 }, async (_, lane) => {
      for (let i = 0; i < 40; i++) {
        const res = await member.post<{ token: string }>(`/api/v1/applications/${appId}/tokens`, {
          name: `m${lane}-${i}`,
        });
        if (res.status === 201) issued.push(res.body.token);
        else {
          expect(res.status).toBe(404);
          if (removed) return;
        }
      }
    });
    await pollUntil("a token issued before the removal", () => issued.length > 0);
    const removal = await owner.delete(`/api/v1/applications/${appId}/members/${memberUser.id}`);
    removed = true;
    expect(removal.status).toBe(204);
    await Promise.all(creators);
    expect(issued.length).toBeGreaterThan(0);
    const api = new Client(server.baseUrl);
    for (const token of issued) expect((await api.get("/api", bearer(token))).status).toBe(401);
  });

  it("creates exactly one token when eight parallel creates use the same name", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        client.post(`/api/v1/applications/${appId}/tokens`, { name: "same" }),
      ),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(7);
    const list = await client.get<{ tokens: unknown[] }>(`/api/v1/applications/${appId}/tokens`);
    expect(list.body.tokens).toHaveLength(1);
  });

  it("refuses the session on every request that starts after sign-out's 204", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const stolen = new Client(server.baseUrl);
    stolen.cookie = client.cookie;
    const samples: Sample[] = [];
    let running = true;
    const loops = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 1000 && running; i++) {
        const startedAt = performance.now();
        const res = await stolen.request("GET", "/api/v1/me");
        samples.push({ startedAt, status: res.status });
      }
    });
    await pollUntil("the stolen session to be accepted", () =>
      samples.some((s) => s.status === 200),
    );
    expect((await client.post("/api/v1/auth/signout")).status).toBe(204);
    const acknowledgedAt = performance.now();
    await startedAfter(samples, acknowledgedAt, 6);
    running = false;
    await Promise.all(loops);
    const after = samples.filter((s) => s.startedAt > acknowledgedAt);
    expect(after.length).toBeGreaterThan(5);
    expect(after.filter((s) => s.status !== 401)).toEqual([]);
  });

  it("refuses a cached token as soon as the clock passes its expiry, with no invalidation", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    const expiresAt = new Date(clock.now() + 60_000).toISOString();
    const { token, id } = await createToken(client, appId, { name: "short-lived", expiresAt });
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    clock.advance(61_000);
    try {
      expect((await api.get("/api", bearer(token))).status).toBe(401);
      const view = await client.get<{ status: string }>(
        `/api/v1/applications/${appId}/tokens/${id}`,
      );
      expect(view.body.status).toBe("expired");
    } finally {
      clock.advance(-61_000);
    }
  });
});
