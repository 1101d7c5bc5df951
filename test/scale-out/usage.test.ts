import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenUsageResponse } from "../../src/http/wire.js";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
} from "../../src/test-support/harness.js";
import {
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../../src/test-support/postgres.js";
import { requireBuild, type ServerProcess } from "../../src/test-support/process.js";
import { Cluster, waitUntil } from "./cluster.js";

const enabled = postgresAvailable();

describe.skipIf(!enabled)("usage counting across processes on PostgreSQL", () => {
  const cluster = new Cluster();
  let database: TestDatabase;
  let fast: ServerProcess;
  let slow: ServerProcess;

  beforeAll(async () => {
    requireBuild();
    database = await createTestDatabase();
    // Two flush intervals, so the process with the older uses writes last.
    [fast, slow] = (await cluster.start(2, { DATABASE_URL: database.url }, [
      { USAGE_FLUSH_INTERVAL_MS: "100" },
      { USAGE_FLUSH_INTERVAL_MS: "1500" },
    ])) as [ServerProcess, ServerProcess];
  });
  afterAll(async () => {
    await cluster.stop();
    await database?.drop();
  });

  it("shows exactly N after the flush for N requests split over two processes", async () => {
    const { client } = await signUpUser(fast.baseUrl);
    const appId = await createApp(client);
    const tokens = [
      await createToken(client, appId, { name: "one" }),
      await createToken(client, appId, { name: "two" }),
    ];
    const servers = [new Client(fast.baseUrl), new Client(slow.baseUrl)];
    const N = 400;
    const sent = new Map(tokens.map((t) => [t.id, 0]));
    // Interleaved and concurrent (8 at a time), as a load balancer would spread them.
    for (let i = 0; i < N; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, N - i) }, async (_, j) => {
          const k = i + j;
          const token = tokens[k % 2] as { id: string; token: string };
          const server = servers[Math.floor(k / 2) % 2] as Client;
          expect((await server.get("/api", bearer(token.token))).status).toBe(200);
          sent.set(token.id, (sent.get(token.id) ?? 0) + 1);
        }),
      );
    }
    const usage = async (id: string) =>
      (await client.get<TokenUsageResponse>(`/api/v1/applications/${appId}/tokens/${id}/usage`))
        .body;
    const total = async () =>
      (await Promise.all(tokens.map(async (t) => (await usage(t.id)).total))).reduce(
        (a, b) => a + b,
        0,
      );
    await waitUntil(async () => (await total()) >= N, 10_000, "usage did not reach N");
    // Wait out both flush intervals more: nothing is counted twice.
    await new Promise((r) => setTimeout(r, 1700));
    for (const t of tokens) expect((await usage(t.id)).total).toBe(sent.get(t.id));
    expect(await total()).toBe(N);
  });

  it("moves lastUsedAt forward only, whichever process flushes last", async () => {
    const { client } = await signUpUser(fast.baseUrl);
    const appId = await createApp(client);
    const { id, token } = await createToken(client, appId, { name: "order" });
    const usage = async () =>
      (await client.get<TokenUsageResponse>(`/api/v1/applications/${appId}/tokens/${id}/usage`))
        .body;

    // The slow-flushing process sees the token first, the fast one later; the fast one's
    // (newer) lastUsedAt is written first, then the slow one's older value arrives.
    expect((await new Client(slow.baseUrl).get("/api", bearer(token))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const newer = Date.now();
    expect((await new Client(fast.baseUrl).get("/api", bearer(token))).status).toBe(200);

    const seen: number[] = [];
    await waitUntil(
      async () => {
        const u = await usage();
        if (u.lastUsedAt !== null) seen.push(Date.parse(u.lastUsedAt));
        return u.total === 2;
      },
      10_000,
      "both uses were not flushed",
    );
    const final = Date.parse((await usage()).lastUsedAt ?? "");
    expect(final).toBeGreaterThanOrEqual(newer);
    expect(seen.length).toBeGreaterThan(0);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] as number);
    }
  });
});
