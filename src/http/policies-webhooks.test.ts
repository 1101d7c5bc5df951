import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  Application,
  CreatedWebhook,
  IssuedServiceKey,
  ServiceKeyList,
  WebhookDeliveryList,
  WebhookList,
} from "../contract/index.js";
import { DAY_MS } from "../core/policy.js";
import { ManualClock } from "../test-support/clock.js";
import {
  addMember,
  bearer,
  type Client,
  createServiceKey,
  createToken,
  flushUsage,
  inviteAndAccept,
  signUpWithApp,
  startTestServer,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { setUpTestServer } from "../test-support/server-fixture.js";
import { WebhookReceiver } from "../test-support/webhook-receiver.js";

const clock = new ManualClock();
// Tests deliver to a receiver on 127.0.0.1; one test below runs a server without this.
const server = setUpTestServer({ WEBHOOK_ALLOW_PRIVATE: "true" }, { clock });
const receiver = new WebhookReceiver();
let receiverUrl = "";

beforeAll(async () => {
  receiverUrl = await receiver.listen();
});
afterAll(async () => {
  await receiver.close();
});

type Problem = { code: string; status: number; detail: string };
const inDays = (days: number) => new Date(clock.now() + days * DAY_MS).toISOString();

async function registerWebhook(client: Client, appId: string, events: string[], url = receiverUrl) {
  const res = await client.post<CreatedWebhook>(`/api/v1/applications/${appId}/webhooks`, {
    url,
    events,
  });
  expect(res.status).toBe(201);
  return res;
}

async function deliveries(client: Client, appId: string, webhookId: string) {
  const res = await client.get<WebhookDeliveryList>(
    `/api/v1/applications/${appId}/webhooks/${webhookId}/deliveries`,
  );
  expect(res.status).toBe(200);
  return res.body.deliveries;
}

describe("token policies", () => {
  it("an owner sets a policy; GET returns it; out-of-range days and members are refused", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const path = `/api/v1/applications/${owner.appId}`;
    const before = await owner.client.get<Application>(path);
    expect(before.body.policy).toEqual({ maxLifetimeDays: null, revokeUnusedAfterDays: null });

    const set = await owner.client.request("PATCH", path, {
      body: { policy: { maxLifetimeDays: 30 } },
    });
    expect(set.status).toBe(200);
    expect((set.body as Application).policy).toEqual({
      maxLifetimeDays: 30,
      revokeUnusedAfterDays: null,
    });
    // An absent member keeps its value.
    await owner.client.request("PATCH", path, { body: { policy: { revokeUnusedAfterDays: 90 } } });
    expect((await owner.client.get<Application>(path)).body.policy).toEqual({
      maxLifetimeDays: 30,
      revokeUnusedAfterDays: 90,
    });

    for (const bad of [{ maxLifetimeDays: 0 }, { maxLifetimeDays: 3651 }, { other: 1 }]) {
      const res = await owner.client.request("PATCH", path, { body: { policy: bad } });
      expect(res.status).toBe(400);
      expect((res.body as Problem).code).toBe("validation_failed");
    }
    const member = await addMember(owner.client, owner.appId, "member");
    const refused = await member.client.request("PATCH", path, {
      body: { policy: { maxLifetimeDays: null } },
    });
    expect(refused.status).toBe(403);
    expect((await owner.client.get<Application>(path)).body.policy.maxLifetimeDays).toBe(30);
  });

  it("maximum lifetime: new tokens must expire within it, regenerated ones too", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const forever = await createToken(owner.client, owner.appId, { name: "before-policy" });
    await owner.client.request("PATCH", `/api/v1/applications/${owner.appId}`, {
      body: { policy: { maxLifetimeDays: 30 } },
    });
    const tokens = `/api/v1/applications/${owner.appId}/tokens`;
    for (const body of [{ name: "never" }, { name: "too-long", expiresAt: inDays(31) }]) {
      const res = await owner.client.post<Problem>(tokens, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("policy_violation");
      expect(res.body.detail).toContain("30 days");
    }
    const list = await owner.client.get<{ tokens: unknown[] }>(tokens);
    expect(list.body.tokens).toHaveLength(1);
    expect((await owner.client.post(tokens, { name: "ok", expiresAt: inDays(30) })).status).toBe(
      201,
    );
    // A token made before the policy, without expiry, cannot get a new secret under it.
    const regen = await owner.client.post<Problem>(`${tokens}/${forever.id}/regenerate`, {});
    expect(regen.status).toBe(400);
    expect(regen.body.code).toBe("policy_violation");
  });
});

describe("webhooks", () => {
  it("registers with the secret once; deliveries are signed and carry no secret", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const created = await registerWebhook(owner.client, owner.appId, [
      "token.created",
      "token.regenerated",
      "token.revoked",
      "member.added",
      "member.removed",
    ]);
    expect(created.headers.get("cache-control")).toBe("no-store");
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    receiver.secret = created.body.secret;
    const list = await owner.client.get<WebhookList>(
      `/api/v1/applications/${owner.appId}/webhooks`,
    );
    expect(list.body.webhooks.map((w) => w.id)).toEqual([created.body.webhook.id]);
    expect(list.text).not.toContain(created.body.secret);

    const token = await createToken(owner.client, owner.appId, { name: "ci" });
    const regenerated = await owner.client.post<{ token: string }>(
      `/api/v1/applications/${owner.appId}/tokens/${token.id}/regenerate`,
      {},
    );
    await owner.client.delete(`/api/v1/applications/${owner.appId}/tokens/${token.id}`);
    const member = await addMember(owner.client, owner.appId);
    await owner.client.delete(`/api/v1/applications/${owner.appId}/members/${member.user.id}`);

    await pollUntil("five events", () => receiver.received.length >= 5);
    expect(receiver.badSignatures).toBe(0);
    expect(receiver.received.map((d) => d.type)).toEqual([
      "token.created",
      "token.regenerated",
      "token.revoked",
      "member.added",
      "member.removed",
    ]);
    const [createdEvent, , revokedEvent] = receiver.received;
    expect(createdEvent?.data).toMatchObject({
      applicationId: owner.appId,
      tokenId: token.id,
      name: "ci",
      userId: owner.user.id,
    });
    expect(revokedEvent?.data).toMatchObject({ tokenId: token.id, reason: "user" });
    for (const d of receiver.received) {
      expect(d.body).not.toContain(token.token);
      expect(d.body).not.toContain(regenerated.body.token);
      expect(d.id).toMatch(/^msg_/);
    }
    // The receiver holds a message before it answers, and the sender records the answer
    // after: polled until every attempt is recorded.
    const shown = await pollUntil("five deliveries recorded as succeeded", async () => {
      const listed = await deliveries(owner.client, owner.appId, created.body.webhook.id);
      return listed.length === 5 && listed.every((d) => d.status !== "pending") && listed;
    });
    expect(shown.every((d) => d.status === "succeeded" && d.lastStatusCode === 200)).toBe(true);
    receiver.received.length = 0;
  });

  it("retries a failed delivery with backoff and the same webhook-id; redelivers on request", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const created = await registerWebhook(owner.client, owner.appId, ["token.created"]);
    receiver.secret = created.body.secret;
    let failures = 2;
    receiver.respond = () => (failures-- > 0 ? 503 : 200);
    try {
      await createToken(owner.client, owner.appId, { name: "retried" });
      const hook = created.body.webhook.id;
      const first = await pollUntil("a failed attempt", async () => {
        const [d] = await deliveries(owner.client, owner.appId, hook);
        return d?.attempts === 1 && d.lastAttemptAt !== null ? d : undefined;
      });
      expect(first).toMatchObject({ status: "pending", lastStatusCode: 503 });
      // The second attempt waits 5 s, the third 5 min: the clock moves, nobody waits.
      expect(Date.parse(first.nextAttemptAt ?? "") - Date.parse(first.lastAttemptAt ?? "")).toBe(
        5_000,
      );
      clock.advance(5_000);
      await pollUntil("the second attempt", async () => {
        const [d] = await deliveries(owner.client, owner.appId, hook);
        return (
          d?.attempts === 2 && d.status === "pending" && d.lastAttemptAt !== first.lastAttemptAt
        );
      });
      clock.advance(300_000);
      await pollUntil("the delivery", () => receiver.ofType("token.created").length === 1);
      const ids = receiver.attempts.slice(-3).map((a) => a.id);
      expect(new Set(ids).size).toBe(1);
      expect(receiver.attempts.slice(-3).map((a) => a.status)).toEqual([503, 503, 200]);
      const done = await pollUntil("the third attempt recorded", async () => {
        const [d] = await deliveries(owner.client, owner.appId, hook);
        return d?.attempts === 3 && d;
      });
      expect(done).toMatchObject({ status: "succeeded", attempts: 3, lastStatusCode: 200 });

      // Redeliver: the same message again, at once.
      const again = await owner.client.post(
        `/api/v1/applications/${owner.appId}/webhooks/${hook}/deliveries/${done?.id}/redeliver`,
      );
      expect(again.status).toBe(202);
      await pollUntil("the redelivery", () => receiver.ofType("token.created").length === 2);
      expect(receiver.ofType("token.created").map((d) => d.id)).toEqual([done?.id, done?.id]);
    } finally {
      receiver.respond = () => 200;
      receiver.received.length = 0;
    }
  });

  it("name who made each service key and webhook, and show when they are no longer a member or admin", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const admin = await addMember(owner.client, owner.appId, "admin");
    const creator = (role: "admin" | "member" | null) => ({
      id: admin.user.id,
      email: admin.user.email,
      member: role !== null,
      role,
    });
    const adminsKey = await admin.client.post<IssuedServiceKey>(
      `/api/v1/applications/${owner.appId}/service-keys`,
      { name: "set up by the admin" },
    );
    expect(adminsKey.body.serviceKey.createdBy).toEqual(creator("admin"));
    const ownersKey = await createServiceKey(owner.client, owner.appId, "the owner's");
    // An event this test never causes: the shared receiver gets nothing from it.
    const adminsHook = await registerWebhook(admin.client, owner.appId, ["token.leaked"]);
    expect(adminsHook.body.webhook.createdBy).toEqual(creator("admin"));
    const listed = async () => ({
      keys: (
        await owner.client.get<ServiceKeyList>(`/api/v1/applications/${owner.appId}/service-keys`)
      ).body.serviceKeys,
      hooks: (await owner.client.get<WebhookList>(`/api/v1/applications/${owner.appId}/webhooks`))
        .body.webhooks,
    });
    const before = await listed();
    expect(before.keys.map((k) => [k.id, k.createdBy?.email, k.createdBy?.role])).toEqual([
      [ownersKey.id, owner.user.email, "owner"],
      [adminsKey.body.serviceKey.id, admin.user.email, "admin"],
    ]);

    // Removed: what they made stays (the host's backend may run on that key), and says so.
    const removed = await owner.client.delete(
      `/api/v1/applications/${owner.appId}/members/${admin.user.id}`,
    );
    expect(removed.status).toBe(204);
    const after = await listed();
    const adminsKeyAfter = after.keys.find((k) => k.id === adminsKey.body.serviceKey.id);
    expect(adminsKeyAfter).toMatchObject({
      status: "active",
      createdBy: creator(null),
    });
    expect(after.keys.find((k) => k.id === ownersKey.id)?.createdBy).toMatchObject({
      member: true,
      role: "owner",
    });
    expect(after.hooks.map((h) => h.createdBy)).toEqual([creator(null)]);

    // Back as a plain member: a member again, but no longer one who manages what they made.
    await inviteAndAccept(owner.client, owner.appId, admin.client, admin.user.email, "member");
    const back = await listed();
    expect(back.keys.find((k) => k.id === adminsKey.body.serviceKey.id)?.createdBy).toEqual(
      creator("member"),
    );
    expect(back.hooks.map((h) => h.createdBy)).toEqual([creator("member")]);
  });

  it("members cannot manage webhooks; unknown events and bad URLs are refused", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const path = `/api/v1/applications/${owner.appId}/webhooks`;
    const pasted = "kw_pastedIntoTheWrongFieldAbCdEfGhIjKlMn";
    for (const body of [
      { url: receiverUrl, events: ["token.nope"] },
      { url: receiverUrl, events: ["token.created", pasted] },
      { url: "ftp://example.com/x", events: ["token.created"] },
      { url: "https://user:pw@example.com/x", events: ["token.created"] },
    ]) {
      const res = await owner.client.post<Problem>(path, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      // A refusal never quotes what was sent.
      expect(res.text).not.toContain(pasted);
      expect(res.text).not.toContain("token.nope");
      expect(res.text).not.toContain("user:pw");
    }
    const member = await addMember(owner.client, owner.appId);
    expect(
      (await member.client.post(path, { url: receiverUrl, events: ["token.created"] })).status,
    ).toBe(403);
    expect((await owner.client.get<WebhookList>(path)).body.webhooks).toEqual([]);
  });

  it("without WEBHOOK_ALLOW_PRIVATE, a loopback target is refused at delivery", async () => {
    const strict = await startTestServer({});
    try {
      const owner = await signUpWithApp(strict.baseUrl);
      const localhostUrl = receiverUrl.replace("127.0.0.1", "localhost");
      const hooks = [];
      for (const url of [receiverUrl, localhostUrl]) {
        const res = await owner.client.post<CreatedWebhook>(
          `/api/v1/applications/${owner.appId}/webhooks`,
          { url, events: ["token.created"] },
        );
        expect(res.status).toBe(201);
        hooks.push(res.body.webhook.id);
      }
      const before = receiver.attempts.length;
      await createToken(owner.client, owner.appId, { name: "x" });
      for (const hook of hooks) {
        const [d] = await pollUntil("a refused attempt", async () => {
          const list = await deliveries(owner.client, owner.appId, hook);
          return list[0]?.lastAttemptAt ? list : undefined;
        });
        expect(d?.lastError).toContain("refused");
        expect(d?.lastStatusCode).toBeNull();
      }
      expect(receiver.attempts.length).toBe(before);
    } finally {
      await strict.close();
    }
  });
});

describe("token.refused", () => {
  it("is sent at most once per token per hour", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const created = await registerWebhook(owner.client, owner.appId, ["token.refused"]);
    receiver.secret = created.body.secret;
    const token = await createToken(owner.client, owner.appId, { name: "gone" });
    await owner.client.delete(`/api/v1/applications/${owner.appId}/tokens/${token.id}`);
    const present = async () => {
      expect((await fetch(`${server.baseUrl}/api`, { headers: bearer(token.token) })).status).toBe(
        401,
      );
      await flushUsage(server);
    };
    await present();
    await present();
    await pollUntil("the refusal", () => receiver.ofType("token.refused").length === 1);
    await server.keyward.webhooks.drainNow();
    expect(receiver.ofType("token.refused")).toHaveLength(1);
    expect(receiver.ofType("token.refused")[0]?.data).toMatchObject({
      tokenId: token.id,
      name: "gone",
      status: "revoked",
    });
    clock.advance(3_600_000);
    await present();
    await pollUntil("the next hour's refusal", () => receiver.ofType("token.refused").length === 2);
    receiver.received.length = 0;
  });
});

describe("policy sweeper and reminders (controlled clock)", () => {
  it("revokes tokens unused for N days with reason policy, audited, on the stream and to webhooks", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const created = await registerWebhook(owner.client, owner.appId, ["token.revoked"]);
    receiver.secret = created.body.secret;
    await owner.client.request("PATCH", `/api/v1/applications/${owner.appId}`, {
      body: { policy: { revokeUnusedAfterDays: 30 } },
    });
    const idle = await createToken(owner.client, owner.appId, { name: "idle" });
    const used = await createToken(owner.client, owner.appId, { name: "used" });
    expect(await server.keyward.policySweeper.runOnce()).not.toContain(idle.id);
    clock.advance(29 * DAY_MS);
    // One token is used on day 29: its 30 days start again.
    expect((await fetch(`${server.baseUrl}/api`, { headers: bearer(used.token) })).status).toBe(
      200,
    );
    await flushUsage(server);
    clock.advance(1 * DAY_MS + 1000);
    const head = (await server.keyward.store.revocations.bounds()).head;
    const revoked = await server.keyward.policySweeper.runOnce();
    expect(revoked).toContain(idle.id);
    expect(revoked).not.toContain(used.id);

    // (The owner's session has ended meanwhile: the store is read directly.)
    const token = await server.keyward.store.tokens.findToken(owner.appId, idle.id);
    expect(token).toMatchObject({ revokedReason: "policy" });
    expect(token?.revokedAt).not.toBeNull();
    const audit = await server.keyward.store.audit.list({
      applicationId: owner.appId,
      tokenId: idle.id,
      limit: 10,
    });
    expect(audit[0]).toMatchObject({ action: "token.revoked", reason: "policy", actorId: null });
    expect((await fetch(`${server.baseUrl}/api`, { headers: bearer(idle.token) })).status).toBe(
      401,
    );
    const stream = await server.keyward.store.revocations.listAfter(head, 100, owner.appId);
    expect(stream.map((e) => [e.type, e.tokenId])).toEqual([["token.revoked", idle.id]]);
    await pollUntil("the webhook", () => receiver.ofType("token.revoked").length === 1);
    expect(receiver.ofType("token.revoked")[0]?.data).toMatchObject({
      tokenId: idle.id,
      reason: "policy",
    });
    // A second pass finds nothing more.
    expect(await server.keyward.policySweeper.runOnce()).toEqual([]);
    receiver.received.length = 0;
  });

  it("sends token.expiring once, 7 days ahead, however many sweeps and racing writers", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const created = await registerWebhook(owner.client, owner.appId, ["token.expiring"]);
    receiver.secret = created.body.secret;
    const token = await createToken(owner.client, owner.appId, {
      name: "short",
      expiresAt: inDays(8),
    });
    await server.keyward.policySweeper.runOnce();
    clock.advance(1 * DAY_MS + 1000);
    // Two writers at once (as two processes would): one marks the token, one finds it marked.
    const now = clock.now();
    const marked = await Promise.all([
      server.keyward.store.webhooks.queueExpiring(now, now + 7 * DAY_MS, 500),
      server.keyward.store.webhooks.queueExpiring(now, now + 7 * DAY_MS, 500),
    ]);
    expect(marked.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    await server.keyward.policySweeper.runOnce();
    await server.keyward.webhooks.drainNow();
    await pollUntil("the reminder", () => receiver.ofType("token.expiring").length >= 1);
    await server.keyward.webhooks.drainNow();
    const reminders = receiver.ofType("token.expiring").filter((d) => d.data.tokenId === token.id);
    expect(reminders).toHaveLength(1);
    expect(reminders[0]?.data).toMatchObject({ name: "short", expiresAt: expect.any(String) });
    receiver.received.length = 0;
  });
});
