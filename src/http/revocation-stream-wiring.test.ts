import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StreamSink } from "../services/revocation-stream.js";
import {
  addMember,
  bearer,
  type Client,
  createServiceKey,
  createToken,
  signUpWithApp,
  startTestServer,
  type TestServer,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { SseReader } from "../test-support/sse.js";

// The stream as a whole Keyward wires it: GET /api/v1/service/events with a real service
// key, and changes made through the management and service APIs reaching the hub through
// the same path as cache invalidation. (The stream's finer points are tested on a bare
// app in service-events.test.ts.) Runs on SQLite and on PostgreSQL.

/** A stream's text, as the hub writes it, parsed into events. */
class CollectingSink implements StreamSink {
  text = "";
  ended = false;
  write(text: string): boolean {
    this.text += text;
    return true;
  }
  onDrain(): void {}
  end(): void {
    this.ended = true;
  }
  abort(): void {
    this.ended = true;
  }
  get events(): Array<{ type: string; tokenId: string; at: string }> {
    return [...this.text.matchAll(/event: (\S+)\ndata: (.*)\n/g)].map((m) => ({
      type: m[1] ?? "",
      ...(JSON.parse(m[2] ?? "{}") as { tokenId: string; at: string }),
    }));
  }
  waitFor(count: number) {
    return pollUntil(`${count} events (have ${this.events.length})`, () =>
      this.events.length >= count ? this.events : undefined,
    );
  }
}

describe("revocation stream wiring", () => {
  let server: TestServer;
  let owner: Client;
  let appId: string;

  beforeAll(async () => {
    server = await startTestServer();
    ({ client: owner, appId } = await signUpWithApp(server.baseUrl));
  });
  afterAll(async () => {
    await server?.close();
  });

  async function subscribe() {
    const sink = new CollectingSink();
    const stream = await server.keyward.revocationStream.open({
      applicationId: appId,
      keyId: `key_${Math.random()}`,
      lastEventId: undefined,
      sink,
    });
    return { sink, stream };
  }

  it("sends a revocation, a member removal and a leak report as token.revoked", async () => {
    const { sink, stream } = await subscribe();
    const revoked = await createToken(owner, appId, { name: "revoked" });
    expect((await owner.delete(`/api/v1/applications/${appId}/tokens/${revoked.id}`)).status).toBe(
      204,
    );
    const { client: member, user } = await addMember(owner, appId);
    const membersToken = await createToken(member, appId, { name: "member's" });
    expect((await owner.delete(`/api/v1/applications/${appId}/members/${user.id}`)).status).toBe(
      204,
    );
    const leaked = await createToken(owner, appId, { name: "leaked" });
    expect((await owner.post("/api/v1/leaks", { tokens: [leaked.token] })).status).toBe(202);

    const events = await sink.waitFor(3);
    expect(events.map((e) => [e.type, e.tokenId])).toEqual([
      ["token.revoked", revoked.id],
      ["token.revoked", membersToken.id],
      ["token.revoked", leaked.id],
    ]);
    stream.close();
  });

  it("sends secret.ended at once without grace, and at the end of a grace period", async () => {
    const { sink, stream } = await subscribe();
    const token = await createToken(owner, appId, { name: "regenerated" });
    const regenerate = (graceSeconds: number) =>
      owner.post<{ token: string }>(`/api/v1/applications/${appId}/tokens/${token.id}/regenerate`, {
        graceSeconds,
      });
    expect((await regenerate(0)).status).toBe(201);
    await sink.waitFor(1);
    // The server reads its clock for the grace after this: the grace ends at this plus
    // 1 s at the earliest, however long the answer takes to arrive.
    const sentAt = Date.now();
    const second = await regenerate(1);
    expect(second.status).toBe(201);
    const graceEnds = sentAt + 1000;
    // The old secret still works during its grace, and nothing is sent for it yet.
    expect(sink.events).toHaveLength(1);
    const events = await sink.waitFor(2);
    expect(Date.now()).toBeGreaterThanOrEqual(graceEnds);
    expect(events.map((e) => [e.type, e.tokenId])).toEqual([
      ["secret.ended", token.id],
      ["secret.ended", token.id],
    ]);
    // The API still works with the newest secret.
    expect((await owner.get("/api", bearer(second.body.token))).status).toBe(200);
    stream.close();
  });

  describe("over HTTP with a service key", () => {
    const events = (path = "/api/v1/service/events", headers: Record<string, string> = {}) =>
      SseReader.open(`${server.baseUrl}${path}`, headers);

    it("streams the key's application's revocations, by the service API too", async () => {
      const { key } = await createServiceKey(owner, appId);
      const reader = await events(undefined, bearer(key));
      expect(reader.status).toBe(200);
      expect(reader.response.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
      expect(reader.response.headers["cache-control"]).toBe("no-store");
      await reader.waitFor("the position", (r) => r.lastId);
      const token = await createToken(owner, appId, { name: "over http" });
      const byService = await createToken(owner, appId, { name: "by service" });
      expect((await owner.delete(`/api/v1/applications/${appId}/tokens/${token.id}`)).status).toBe(
        204,
      );
      const revoke = await fetch(`${server.baseUrl}/api/v1/service/tokens/${byService.id}`, {
        method: "DELETE",
        headers: bearer(key),
      });
      expect(revoke.status).toBe(204);
      const got = await reader.waitForEvents(2);
      expect(got.map((e) => [e.event, JSON.parse(e.data ?? "").tokenId])).toEqual([
        ["token.revoked", token.id],
        ["token.revoked", byService.id],
      ]);
      // Reconnecting from the first event replays the second.
      const again = await events(undefined, { ...bearer(key), "last-event-id": got[0]?.id ?? "" });
      const replayed = await again.waitForEvents(1);
      expect(JSON.parse(replayed[0]?.data ?? "").tokenId).toBe(byService.id);
      reader.close();
      again.close();
    });

    it("refuses no key, an API token and a revoked key, as every service route does", async () => {
      const missing = await events();
      expect(missing.status).toBe(401);
      const token = await createToken(owner, appId, { name: "not a service key" });
      const apiToken = await events(undefined, bearer(token.token));
      expect(apiToken.status).toBe(401);
      await apiToken.waitFor("the body", (r) => r.ended);
      expect(JSON.parse(apiToken.body)).toMatchObject({ code: "invalid_token" });
      const { key, id } = await createServiceKey(owner, appId, "revoked");
      expect((await owner.delete(`/api/v1/applications/${appId}/service-keys/${id}`)).status).toBe(
        204,
      );
      expect((await events(undefined, bearer(key))).status).toBe(401);
    });

    it("holds at most 10 streams per key: the 11th is 429 too_many_streams", async () => {
      const { key } = await createServiceKey(owner, appId, "greedy");
      const open: SseReader[] = [];
      for (let i = 0; i < 10; i++) {
        const reader = await events(undefined, bearer(key));
        expect(reader.status).toBe(200);
        open.push(reader);
      }
      const refused = await events(undefined, bearer(key));
      expect(refused.status).toBe(429);
      await refused.waitFor("the body", (r) => r.ended);
      expect(JSON.parse(refused.body)).toMatchObject({ code: "too_many_streams", status: 429 });
      for (const reader of open) reader.close();
    });
  });

  it("ends open streams when Keyward closes", async () => {
    const other = await startTestServer();
    const sink = new CollectingSink();
    await other.keyward.revocationStream.open({
      applicationId: "app_x",
      keyId: "k",
      lastEventId: undefined,
      sink,
    });
    await other.close();
    expect(sink.ended).toBe(true);
  });
});
