import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  assertUiBuilt,
  generateTokenInUi,
  launchBrowser,
  signedInContext,
  TOKEN_PATTERN,
} from "../../e2e/support.js";
import {
  bearer,
  Client,
  createApp,
  createServiceKey,
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
import { SseReader } from "../../src/test-support/sse.js";
import { rawRequest } from "../hostile/support.js";
import { Cluster } from "./cluster.js";
import {
  BALANCER_SOURCE_ADDRESS,
  type Daemon,
  freePort,
  HAPROXY,
  missingPrograms,
  startHaProxy,
} from "./daemons.js";

const enabled =
  postgresAvailable() && missingPrograms("HAProxy scale-out tests", [HAPROXY]).length === 0;

// Three processes behind HAProxy (round robin per request, option forwardfor), each
// trusting X-Forwarded-For only from the balancer's address. Every request of a test may
// reach a different process: sessions, CSRF, show-once, revocation and the revocation
// stream must not care which.
describe.skipIf(!enabled)("three processes behind HAProxy", () => {
  const cluster = new Cluster();
  let database: TestDatabase;
  let haproxy: Daemon;
  let servers: ServerProcess[];
  let balancer: string;
  let owner: Client;
  let appId: string;

  beforeAll(async () => {
    requireBuild();
    database = await createTestDatabase();
    const port = await freePort();
    balancer = `http://127.0.0.1:${port}`;
    servers = await cluster.start(3, {
      DATABASE_URL: database.url,
      TRUST_PROXY: BALANCER_SOURCE_ADDRESS,
      // The origin browsers see: the balancer's (the Host and Origin checks compare to it).
      PUBLIC_ORIGIN: balancer,
      TOKEN_CREATIONS_PER_USER_PER_HOUR: "100000",
    });
    haproxy = await startHaProxy(
      servers.map((s) => new URL(s.baseUrl).host),
      port,
    );
    // Until each health check has passed once, HAProxy may not send to that server.
    await pollUntil("all three servers in rotation", async () => {
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${balancer}/healthz`);
        served.add(res.headers.get("x-served-by") ?? "");
      }
      return served.size === 3;
    });
    ({ client: owner } = await signUpUser(balancer));
    appId = await createApp(owner);
  }, 90_000);
  afterAll(async () => {
    await haproxy?.close();
    await cluster.stop();
    await database?.drop();
  });

  /** Which processes answered `count` requests made by `request`. */
  async function servedBy(count: number, request: () => Promise<Response | { headers: Headers }>) {
    const served = new Set<string>();
    for (let i = 0; i < count; i++) served.add((await request()).headers.get("x-served-by") ?? "");
    return served;
  }

  it("keeps a session whichever process answers", async () => {
    const served = await servedBy(6, async () => {
      const res = await owner.get("/api/v1/me");
      expect(res.status).toBe(200);
      return res;
    });
    expect(served.size).toBe(3);
    // Signed out through one process, the session is gone on all three.
    const { client } = await signUpUser(balancer);
    expect((await client.post("/api/v1/auth/signout", {})).status).toBe(204);
    for (let i = 0; i < 3; i++) expect((await client.get("/api/v1/me")).status).toBe(401);
  });

  it("refuses a cross-site write on every process (CSRF), and takes a same-origin one", async () => {
    for (let i = 0; i < 3; i++) {
      const missing = await owner.request("POST", "/api/v1/applications", {
        body: { name: "no origin" },
        origin: null,
      });
      expect(missing.status).toBe(403);
      expect((missing.body as { code: string }).code).toBe("csrf_rejected");
      const foreign = await owner.request("POST", "/api/v1/applications", {
        body: { name: "evil" },
        origin: "https://evil.example",
      });
      expect(foreign.status).toBe(403);
    }
    expect((await owner.post("/api/v1/applications", { name: "same origin" })).status).toBe(201);
  });

  it("shows a token once, lists it, verifies it everywhere, and refuses it everywhere once revoked", async () => {
    const created = await owner.post<{ token: string; apiToken: { id: string } }>(
      `/api/v1/applications/${appId}/tokens`,
      { name: "balanced" },
    );
    expect(created.status).toBe(201);
    const { token } = created.body;
    const id = created.body.apiToken.id;
    // Shown once: neither the list nor the token's own page, on any process, has it.
    for (let i = 0; i < 3; i++) {
      const list = await owner.get(`/api/v1/applications/${appId}/tokens`);
      expect(list.status).toBe(200);
      expect(list.text).toContain(id);
      expect(list.text).not.toContain(token);
      const one = await owner.get(`/api/v1/applications/${appId}/tokens/${id}`);
      expect(one.status).toBe(200);
      expect(one.text).not.toContain(token);
    }
    const api = new Client(balancer);
    const verified = await servedBy(6, async () => {
      const res = await api.get("/api", bearer(token));
      expect(res.status).toBe(200);
      return res;
    });
    expect(verified.size).toBe(3);
    const checked = await owner.post<{ valid: boolean }>("/api/v1/verify", { token });
    expect(checked.status).toBe(200);
    expect(checked.body.valid).toBe(true);

    expect((await owner.delete(`/api/v1/applications/${appId}/tokens/${id}`)).status).toBe(204);
    // Within the revocation bound, every process refuses it (and keeps refusing).
    await pollUntil(
      "every process to refuse the revoked token",
      async () => {
        const statuses = await Promise.all(
          [1, 2, 3, 4, 5, 6].map(async () => (await api.get("/api", bearer(token))).status),
        );
        return statuses.every((s) => s === 401);
      },
      { timeoutMs: 1000, intervalMs: 5 },
    );
    const refused = await servedBy(6, async () => {
      const res = await api.get("/api", bearer(token));
      expect(res.status).toBe(401);
      return res;
    });
    expect(refused.size).toBe(3);
    const after = await owner.post<{ valid: boolean }>("/api/v1/verify", { token });
    expect(after.body.valid).toBe(false);
  });

  it("puts a revocation made through any process on a stream held through the balancer", async () => {
    const { key } = await createServiceKey(owner, appId, "stream");
    const reader = await SseReader.open(`${balancer}/api/v1/service/events`, {
      authorization: `Bearer ${key}`,
    });
    try {
      expect(reader.status).toBe(200);
      await reader.waitFor("the stream's position", (r) => r.lastId);
      const tokens = await Promise.all(
        [1, 2, 3].map((i) => createToken(owner, appId, { name: `streamed ${i}` })),
      );
      // Three revocations, round robin: each through a different process.
      for (const t of tokens)
        expect((await owner.delete(`/api/v1/applications/${appId}/tokens/${t.id}`)).status).toBe(
          204,
        );
      const events = await reader.waitForEvents(3, 5000);
      expect(events.map((e) => JSON.parse(e.data ?? "").tokenId).sort()).toEqual(
        tokens.map((t) => t.id).sort(),
      );
    } finally {
      reader.close();
    }
  });

  it("creates a token in the browser and shows it once, through the balancer", async () => {
    assertUiBuilt();
    const browser = await launchBrowser();
    try {
      const { context, page, client } = await signedInContext(browser, balancer, "Ada Balanced");
      const browserApp = await createApp(client, "Balanced");
      // Every request of the page (document, scripts, API calls) is balanced round robin.
      const servedTo = new Set<string>();
      page.on("response", (response) => {
        const by = response.headers()["x-served-by"];
        if (by) servedTo.add(by);
      });
      await page.goto(`/app/${browserApp}/account-management`);
      await page.getByRole("heading", { name: "API Tokens" }).waitFor();
      const secret = await generateTokenInUi(page, "from the browser");
      expect(secret).toMatch(TOKEN_PATTERN);
      expect(servedTo.size).toBe(3);
      // The token works on every process, and the page does not show it again on reload.
      expect((await new Client(balancer).get("/api", bearer(secret))).status).toBe(200);
      await page.reload();
      await page.getByRole("heading", { name: "API Tokens" }).waitFor();
      expect(await page.content()).not.toContain(secret);
      await context.close();
    } finally {
      await browser.close();
    }
  });

  it("records the client's address in the audit trail, not the balancer's nor one the client wrote", async () => {
    const spoofing = await owner.request("POST", `/api/v1/applications/${appId}/tokens`, {
      body: { name: "spoofed" },
      headers: { "x-forwarded-for": "203.0.113.7" },
    });
    expect(spoofing.status).toBe(201);
    const tokenId = (spoofing.body as { apiToken: { id: string } }).apiToken.id;
    // Straight to a process, past the balancer (with the public Host, as if the process
    // were reachable): 127.0.0.1 is not the trusted proxy, so the header counts for nothing.
    const body = JSON.stringify({ name: "bypass" });
    const bypass = await rawRequest(
      servers[0]?.baseUrl ?? "",
      [
        `POST /api/v1/applications/${appId}/tokens HTTP/1.1`,
        `Host: ${new URL(balancer).host}`,
        `Origin: ${balancer}`,
        `Cookie: ${owner.cookie}`,
        "X-Forwarded-For: 203.0.113.8",
        "Content-Type: application/json",
        `Content-Length: ${Buffer.byteLength(body)}`,
        "Connection: close",
        "",
        body,
      ].join("\r\n"),
      5000,
      false,
    );
    expect(bypass.status).toBe(201);
    const bypassId = /"apiToken":\{"id":"([^"]+)"/.exec(bypass.text)?.[1] ?? "";
    expect(bypassId).not.toBe("");

    const audit = await owner.get<{
      events: Array<{ action: string; tokenId?: string | null; ip: string | null }>;
    }>(`/api/v1/applications/${appId}/audit`);
    expect(audit.status).toBe(200);
    const ipOf = (id: string) => audit.body.events.find((e) => e.tokenId === id)?.ip;
    // HAProxy appended the address it saw (the test's, 127.0.0.1) to the client's header.
    expect(ipOf(tokenId)).toBe("127.0.0.1");
    expect(ipOf(bypassId)).toBe("127.0.0.1");
    expect(audit.text).not.toContain("203.0.113.");
    expect(audit.text).not.toContain(BALANCER_SOURCE_ADDRESS);
  });
});
