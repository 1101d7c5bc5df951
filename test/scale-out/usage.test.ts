import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenUsage } from "../../src/contract/index.js";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
} from "../../src/test-support/harness.js";
import { pollUntil } from "../../src/test-support/poll.js";
import {
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../../src/test-support/postgres.js";
import { requireBuild, type ServerProcess } from "../../src/test-support/process.js";
import { Cluster } from "./cluster.js";

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
      (await client.get<TokenUsage>(`/api/v1/applications/${appId}/tokens/${id}/usage`)).body;
    const total = async () =>
      (await Promise.all(tokens.map(async (t) => (await usage(t.id)).total))).reduce(
        (a, b) => a + b,
        0,
      );
    await pollUntil(`usage to reach ${N}`, async () => (await total()) >= N, { timeoutMs: 10_000 });
    // A deliberate wait, not a synchronisation: what is tested is that nothing more arrives
    // while both processes flush again (the slow one every 1500 ms), so nothing is counted
    // twice. The servers are separate processes, so their flush timers cannot be driven.
    await new Promise((r) => setTimeout(r, 1700));
    for (const t of tokens) expect((await usage(t.id)).total).toBe(sent.get(t.id));
    expect(await total()).toBe(N);
  });

  it("writes pending counts on SIGTERM, and an older lastUsedAt written last does not move it back", async () => {
    // `leaving` only writes when stopped, so its (older) uses arrive after the fast
    // process has written a newer lastUsedAt.
    const [leaving] = await cluster.start(1, {
      DATABASE_URL: database.url,
      USAGE_FLUSH_INTERVAL_MS: "5000",
    });
    const { client } = await signUpUser(fast.baseUrl);
    const appId = await createApp(client);
    const { id, token } = await createToken(client, appId, { name: "leaving" });
    const usage = async () =>
      (await client.get<TokenUsage>(`/api/v1/applications/${appId}/tokens/${id}/usage`)).body;
    const api = new Client(leaving?.baseUrl ?? "");
    for (let i = 0; i < 7; i++) expect((await api.get("/api", bearer(token))).status).toBe(200);
    // The fast process's use must carry a later millisecond than the leaving one's.
    const lastLeavingUse = Date.now();
    await pollUntil(
      "the clock to pass the leaving process's last use",
      () => Date.now() > lastLeavingUse,
    );
    const newer = Date.now();
    expect((await new Client(fast.baseUrl).get("/api", bearer(token))).status).toBe(200);
    await pollUntil(
      "the fast process's use as lastUsedAt",
      async () => Date.parse((await usage()).lastUsedAt ?? "0") >= newer,
    );

    expect(await leaving?.stop("SIGTERM")).toBe(0);
    const after = await usage();
    expect(after.total).toBe(8);
    expect(Date.parse(after.lastUsedAt ?? "0")).toBeGreaterThanOrEqual(newer);
  });
});
