import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CreatedWebhook } from "../../src/contract/index.js";
import { Client, createApp, createToken, signUpUser } from "../../src/test-support/harness.js";
import { pollUntil } from "../../src/test-support/poll.js";
import {
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../../src/test-support/postgres.js";
import { startServerProcess } from "../../src/test-support/process.js";
import { WebhookReceiver } from "../../src/test-support/webhook-receiver.js";
import { Cluster, fmt, summarize } from "./cluster.js";

const enabled = postgresAvailable();

describe.skipIf(!enabled)("webhooks across processes on PostgreSQL", () => {
  const cluster = new Cluster();
  const receiver = new WebhookReceiver();
  let receiverUrl = "";
  const databases: TestDatabase[] = [];

  beforeAll(async () => {
    receiverUrl = await receiver.listen();
  });
  afterAll(async () => {
    await cluster.stop();
    await receiver.close();
    for (const db of databases) await db.drop();
  });

  it("two processes share the queue: every event is delivered exactly once", async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const [a, b] = await cluster.start(2, {
      DATABASE_URL: database.url,
      WEBHOOK_ALLOW_PRIVATE: "true",
    });
    const { client } = await signUpUser(a?.baseUrl ?? "");
    const appId = await createApp(client);
    const hook = await client.post<CreatedWebhook>(`/api/v1/applications/${appId}/webhooks`, {
      url: receiverUrl,
      events: ["token.created"],
    });
    expect(hook.status).toBe(201);
    receiver.secret = hook.body.secret;
    // Tokens are created on both processes (the session works on either): both queue,
    // both deliver.
    const other = new Client(b?.baseUrl ?? "");
    other.cookie = client.cookie;
    const count = 40;
    const ids = new Set<string>();
    const committedAt = new Map<string, number>();
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const created = await createToken(i % 2 === 0 ? client : other, appId, { name: `t${i}` });
        ids.add(created.id);
        committedAt.set(created.id, Date.now());
      }),
    );
    await pollUntil("every delivery", () => receiver.received.length >= count, {
      timeoutMs: 20_000,
    });
    // Nothing more arrives: no second process delivers what the first did.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(receiver.badSignatures).toBe(0);
    expect(receiver.attempts).toHaveLength(count);
    expect(new Set(receiver.received.map((d) => d.id)).size).toBe(count);
    expect(new Set(receiver.received.map((d) => d.data.tokenId))).toEqual(ids);
    // From the creation's answer to the receiver (noisy: the machine is shared).
    const latencies = receiver.received.map(
      (d) => d.receivedAt - (committedAt.get(String(d.data.tokenId)) ?? d.receivedAt),
    );
    const { p50, p99, max } = summarize(latencies);
    console.log(
      `webhook delivery, 2 processes, ${count} events: p50 ${fmt(p50)}, p99 ${fmt(p99)}, max ${fmt(max)}`,
    );
    receiver.received.length = 0;
    receiver.attempts.length = 0;
  });

  it("kill -9 while a delivery is in flight loses nothing: the next process sends it, same id", async () => {
    await cluster.stop();
    const database = await createTestDatabase();
    databases.push(database);
    const env = { DATABASE_URL: database.url, WEBHOOK_ALLOW_PRIVATE: "true" };
    const first = await startServerProcess(env);
    const { client } = await signUpUser(first.baseUrl);
    const appId = await createApp(client);
    const hook = await client.post<CreatedWebhook>(`/api/v1/applications/${appId}/webhooks`, {
      url: receiverUrl,
      events: ["token.created"],
    });
    receiver.secret = hook.body.secret;
    const seen: string[] = [];
    // The receiver holds the first attempt open: the change is committed, its delivery is
    // claimed by the process and not done when the process dies.
    receiver.respond = ({ id }) => {
      seen.push(id);
      return seen.length === 1 ? "hang" : 200;
    };
    try {
      const token = await createToken(client, appId, { name: "survives" });
      await pollUntil("the first attempt", () => seen.length === 1);
      await first.stop("SIGKILL");
      const second = await startServerProcess(env);
      try {
        // The dead process's claim lapses (15 s) and the new one sends it.
        await pollUntil("the delivery after the restart", () => receiver.received.length === 1, {
          timeoutMs: 30_000,
        });
        expect(receiver.received[0]?.data.tokenId).toBe(token.id);
        expect(receiver.received[0]?.id).toBe(seen[0]);
        expect(receiver.badSignatures).toBe(0);
      } finally {
        await second.stop();
      }
    } finally {
      receiver.respond = () => 200;
    }
  }, 60_000);
});
