import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StreamSink } from "../services/revocation-stream.js";
import {
  addMember,
  bearer,
  type Client,
  createToken,
  signUpWithApp,
  startTestServer,
  type TestServer,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";

// The stream as a whole Keyward wires it: changes made through the management API reach
// the hub through the same path as cache invalidation. (The HTTP stream itself, with a
// service key, is tested in service-events.test.ts.) Runs on SQLite and on PostgreSQL.

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
    const second = await regenerate(1);
    expect(second.status).toBe(201);
    const graceEnds = Date.now() + 1000;
    // The old secret still works during its grace, and nothing is sent for it yet.
    expect(sink.events).toHaveLength(1);
    const events = await sink.waitFor(2);
    expect(Date.now()).toBeGreaterThanOrEqual(graceEnds - 50);
    expect(events.map((e) => [e.type, e.tokenId])).toEqual([
      ["secret.ended", token.id],
      ["secret.ended", token.id],
    ]);
    // The API still works with the newest secret.
    expect((await owner.get("/api", bearer(second.body.token))).status).toBe(200);
    stream.close();
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
