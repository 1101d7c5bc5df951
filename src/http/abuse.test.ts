import { describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createToken,
  signUpWithApp,
  startTestServer,
} from "../test-support/harness.js";
import { createTestDatabase, postgresAvailable } from "../test-support/postgres.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const server = setUpTestServer({
  SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR: "3",
  SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR: "20",
  BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "5",
  TOKEN_CREATIONS_PER_USER_PER_HOUR: "4",
});

const password = "correct horse battery staple";

/** Signs in from a fresh client (no session cookie) and answers the status. */
async function signInStatus(baseUrl: string, email: string, attempt: string): Promise<number> {
  return (await new Client(baseUrl).post("/api/v1/auth/signin", { email, password: attempt }))
    .status;
}

describe("abuse limits", () => {
  it("locks sign-in for an account after its failures, without counting successes", async () => {
    const email = `locked${Date.now()}@example.com`;
    await new Client(server.baseUrl).post("/api/v1/auth/signup", { email, password, name: "L" });
    for (let i = 0; i < 5; i++) {
      expect(await signInStatus(server.baseUrl, email, password)).toBe(200);
    }
    for (let i = 0; i < 3; i++) {
      expect(await signInStatus(server.baseUrl, email, "wrong password")).toBe(401);
    }
    const locked = await new Client(server.baseUrl).post<{ code: string }>("/api/v1/auth/signin", {
      email,
      password,
    });
    expect(locked.status).toBe(429);
    expect(locked.body.code).toBe("rate_limited");
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another account is not affected.
    const other = `other${Date.now()}@example.com`;
    await new Client(server.baseUrl).post("/api/v1/auth/signup", {
      email: other,
      password,
      name: "O",
    });
    expect(await signInStatus(server.baseUrl, other, password)).toBe(200);
  });

  it("answers 429 to an address after repeated invalid tokens, with Retry-After", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { token } = await createToken(client, appId, { name: "valid" });
    const api = new Client(server.baseUrl);
    const made = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    for (let i = 0; i < 5; i++) expect((await api.get("/api", bearer(made))).status).toBe(401);
    const blocked = await api.get("/api", bearer(token));
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    // One warning when the address is blocked; each refusal's reason rides on its
    // `request completed` line rather than a line of its own.
    const lines = server
      .logs()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg?: string; res?: { tokenRefused?: string } });
    expect(lines.filter((l) => l.msg?.startsWith("too many invalid bearer tokens"))).toHaveLength(
      1,
    );
    expect(
      lines.filter((l) => l.msg === "request completed" && l.res?.tokenRefused === "checksum"),
    ).toHaveLength(5);
    // Valid traffic keeps working through the verify API (other routes are not blocked).
    expect((await api.post<{ valid: boolean }>("/api/v1/verify", { token })).body.valid).toBe(true);
  });

  it("limits token creation per user", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const statuses = [];
    for (let i = 0; i < 5; i++)
      statuses.push(
        (await client.post(`/api/v1/applications/${appId}/tokens`, { name: `t${i}` })).status,
      );
    expect(statuses).toEqual([201, 201, 201, 201, 429]);
  });
});

describe("abuse limits across processes on PostgreSQL", () => {
  const available = postgresAvailable();

  it.skipIf(!available)(
    "hold failed sign-ins per account across two servers on one database",
    async () => {
      const database = await createTestDatabase();
      const env = { DATABASE_URL: database.url, SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR: "4" };
      const a = await startTestServer(env);
      const b = await startTestServer(env);
      try {
        const email = `shared${Date.now()}@example.com`;
        expect(
          (await new Client(a.baseUrl).post("/api/v1/auth/signup", { email, password, name: "S" }))
            .status,
        ).toBe(201);
        for (const server of [a, b, a, b]) {
          expect(await signInStatus(server.baseUrl, email, "wrong password")).toBe(401);
        }
        // Two failures on each server: only the shared count reaches the limit of 4.
        expect(await signInStatus(b.baseUrl, email, password)).toBe(429);
        expect(await signInStatus(a.baseUrl, email, password)).toBe(429);
      } finally {
        await a.close({ keepData: true });
        await b.close({ keepData: true });
        await database.drop();
      }
    },
  );
});
