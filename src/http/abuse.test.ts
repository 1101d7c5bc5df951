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
  // One proxy hop: X-Forwarded-For plays clients at other addresses.
  TRUST_PROXY: "1",
  SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR: "6",
  SIGNIN_FAILURES_PER_ACCOUNT_AND_ADDRESS_PER_HOUR: "3",
  SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR: "20",
  SIGNUP_PER_ADDRESS_PER_HOUR: "3",
  BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "5",
  TOKEN_CREATIONS_PER_USER_PER_HOUR: "4",
});

const password = "correct horse battery staple";

/** Signs in from a fresh client (no session cookie) at `address`, and answers the status. */
async function signInStatus(
  baseUrl: string,
  email: string,
  attempt: string,
  address = "198.51.100.1",
): Promise<number> {
  return (
    await new Client(baseUrl).request("POST", "/api/v1/auth/signin", {
      body: { email, password: attempt },
      headers: { "x-forwarded-for": address },
    })
  ).status;
}

let accounts = 0;
async function signUpAt(address: string): Promise<string> {
  const email = `abuse${Date.now()}-${accounts++}@example.com`;
  const res = await new Client(server.baseUrl).request("POST", "/api/v1/auth/signup", {
    body: { email, password, name: "A" },
    headers: { "x-forwarded-for": address },
  });
  expect(res.status).toBe(201);
  return email;
}

describe("abuse limits", () => {
  it("failures from one address lock that address out of the account, not the owner elsewhere", async () => {
    const email = await signUpAt("192.0.2.1");
    for (let i = 0; i < 5; i++) {
      expect(await signInStatus(server.baseUrl, email, password, "203.0.113.66")).toBe(200);
    }
    for (let i = 0; i < 3; i++) {
      expect(await signInStatus(server.baseUrl, email, "wrong password", "203.0.113.66")).toBe(401);
    }
    const locked = await new Client(server.baseUrl).request("POST", "/api/v1/auth/signin", {
      body: { email, password },
      headers: { "x-forwarded-for": "203.0.113.66" },
    });
    expect(locked.status).toBe(429);
    expect((locked.body as { code: string }).code).toBe("rate_limited");
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    // The attacker keeps guessing from there: still refused, and it never adds up to the
    // account's limit (6), so the owner at a new address signs in.
    for (let i = 0; i < 10; i++) {
      expect(await signInStatus(server.baseUrl, email, "wrong password", "203.0.113.66")).toBe(429);
    }
    expect(await signInStatus(server.baseUrl, email, password, "198.51.100.200")).toBe(200);
    // Another account from the attacker's address is not affected.
    const other = await signUpAt("192.0.2.2");
    expect(await signInStatus(server.baseUrl, other, password, "203.0.113.66")).toBe(200);
  });

  it("guesses spread over addresses lock the account for new addresses, not for one the owner used", async () => {
    const email = await signUpAt("192.0.2.3");
    // The owner signs in from home once.
    expect(await signInStatus(server.baseUrl, email, password, "198.51.100.7")).toBe(200);
    // Six wrong guesses, two from each of three addresses: under each address's limit (3),
    // at the account's (6).
    for (const address of ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) {
      for (let i = 0; i < 2; i++) {
        expect(await signInStatus(server.baseUrl, email, "guess", address)).toBe(401);
      }
    }
    // A fourth attacker address gets no guess at all, even with the right password...
    expect(await signInStatus(server.baseUrl, email, "guess", "203.0.113.4")).toBe(429);
    expect(await signInStatus(server.baseUrl, email, password, "203.0.113.5")).toBe(429);
    // ...while the owner's known address still signs in.
    expect(await signInStatus(server.baseUrl, email, password, "198.51.100.7")).toBe(200);
    // An unknown email at that limit is answered the same way as a real one.
    const unknown = `nobody${Date.now()}@example.com`;
    for (const address of ["203.0.113.11", "203.0.113.12", "203.0.113.13"]) {
      for (let i = 0; i < 2; i++) {
        expect(await signInStatus(server.baseUrl, unknown, "guess", address)).toBe(401);
      }
    }
    expect(await signInStatus(server.baseUrl, unknown, "guess", "203.0.113.14")).toBe(429);
  });

  it("knows the owner's IPv6 network, not only the address: a device's address changes within its /64", async () => {
    const email = await signUpAt("192.0.2.9");
    // The owner signs in from home, whose address then rotates within the same /64.
    expect(await signInStatus(server.baseUrl, email, password, "2001:db8:70:1::a1")).toBe(200);
    for (const address of ["203.0.113.21", "203.0.113.22", "203.0.113.23"]) {
      for (let i = 0; i < 2; i++) {
        expect(await signInStatus(server.baseUrl, email, "guess", address)).toBe(401);
      }
    }
    expect(await signInStatus(server.baseUrl, email, password, "203.0.113.24")).toBe(429);
    // The next /64 is a new network, locked out like any other...
    expect(await signInStatus(server.baseUrl, email, password, "2001:db8:70:2::a1")).toBe(429);
    // ...while a new address of the owner's own one signs in.
    expect(await signInStatus(server.baseUrl, email, password, "2001:db8:70:1:b0b::7")).toBe(200);
  });

  it("gives guesses sent all at once no more tries than guesses sent one by one", async () => {
    const email = await signUpAt("192.0.2.4");
    // 12 wrong passwords at once from one address: the pair's limit is 3, and none of them
    // has failed (or been counted) when the others are checked.
    const burst = await Promise.all(
      Array.from({ length: 12 }, () =>
        signInStatus(server.baseUrl, email, "guess", "203.0.113.40"),
      ),
    );
    expect(burst.filter((status) => status === 401)).toHaveLength(3);
    expect(burst.filter((status) => status === 429)).toHaveLength(9);
    // Once they have failed, the count holds them back as it holds back guesses one by one.
    expect(await signInStatus(server.baseUrl, email, password, "203.0.113.40")).toBe(429);
    // The owner elsewhere is not affected: 3 counted failures are under the account's 6.
    expect(await signInStatus(server.baseUrl, email, password, "198.51.100.41")).toBe(200);
  });

  it("tells a guess refused only for the guesses still being checked to try again in a second", async () => {
    const email = await signUpAt("192.0.2.7");
    const burst = await Promise.all(
      Array.from({ length: 8 }, () =>
        new Client(server.baseUrl).request("POST", "/api/v1/auth/signin", {
          body: { email, password: "guess" },
          headers: { "x-forwarded-for": "203.0.113.70" },
        }),
      ),
    );
    const refused = burst.filter((res) => res.status === 429);
    expect(refused).toHaveLength(5);
    // Nothing had been counted yet when they were refused: not an hour's wait.
    for (const res of refused) expect(res.headers.get("retry-after")).toBe("1");
  });

  it("a flood from one address locked out of an account does not lock the owner out elsewhere", async () => {
    const email = await signUpAt("192.0.2.8");
    for (let i = 0; i < 3; i++) {
      expect(await signInStatus(server.baseUrl, email, "guess", "203.0.113.80")).toBe(401);
    }
    // The address is over its limit for the account; its refused requests, however many
    // at once, must not count toward the account's limit (6), which would shut out every
    // address the owner has not signed in from.
    const [owner, ...flood] = await Promise.all([
      signInStatus(server.baseUrl, email, password, "198.51.100.81"),
      ...Array.from({ length: 40 }, () =>
        signInStatus(server.baseUrl, email, "guess", "203.0.113.80"),
      ),
    ]);
    expect(flood.every((status) => status === 429)).toBe(true);
    expect(owner).toBe(200);
  });

  it("counts an IPv6 client by its /64: new addresses in it buy no new guesses or sign-ups", async () => {
    const email = await signUpAt("192.0.2.6");
    const inNetwork = (n: number) => `2001:db8:6:7::${n.toString(16)}`;
    for (let n = 1; n <= 3; n++) {
      expect(await signInStatus(server.baseUrl, email, "guess", inNetwork(n))).toBe(401);
    }
    // The pair's limit (3) holds for every address of that /64...
    expect(await signInStatus(server.baseUrl, email, "guess", inNetwork(99))).toBe(429);
    expect(await signInStatus(server.baseUrl, email, password, inNetwork(100))).toBe(429);
    // ...and not for the next /64.
    expect(await signInStatus(server.baseUrl, email, password, "2001:db8:6:8::1")).toBe(200);
    // Sign-ups (3 per address) likewise.
    const signUpFrom = async (address: string) =>
      (
        await new Client(server.baseUrl).request("POST", "/api/v1/auth/signup", {
          body: { email: `v6-${Date.now()}-${accounts++}@example.com`, password, name: "V" },
          headers: { "x-forwarded-for": address },
        })
      ).status;
    const statuses = [];
    for (let n = 1; n <= 4; n++) statuses.push(await signUpFrom(`2001:db8:9:9::${n}`));
    expect(statuses).toEqual([201, 201, 201, 429]);
  });

  it("counts wrong current passwords sent all at once by a signed-in user before they fail", async () => {
    const email = await signUpAt("192.0.2.5");
    const client = new Client(server.baseUrl);
    expect(
      (
        await client.request("POST", "/api/v1/auth/signin", {
          body: { email, password },
          headers: { "x-forwarded-for": "198.51.100.42" },
        })
      ).status,
    ).toBe(200);
    // The limit on wrong current passwords is the account's sign-in limit (6).
    const burst = await Promise.all(
      Array.from(
        { length: 15 },
        async () =>
          (await client.post("/api/v1/auth/reauthenticate", { password: "guess" })).status,
      ),
    );
    expect(burst.filter((status) => status === 401)).toHaveLength(6);
    expect(burst.filter((status) => status === 429)).toHaveLength(9);
    expect((await client.post("/api/v1/auth/reauthenticate", { password })).status).toBe(429);
  });

  it("limits sign-ups per address (429 before any account is made), other addresses unaffected", async () => {
    const address = "192.0.2.50";
    for (let i = 0; i < 3; i++) await signUpAt(address);
    const email = `refused${Date.now()}@example.com`;
    const refused = await new Client(server.baseUrl).request("POST", "/api/v1/auth/signup", {
      body: { email, password, name: "R" },
      headers: { "x-forwarded-for": address },
    });
    expect(refused.status).toBe(429);
    expect((refused.body as { code: string }).code).toBe("rate_limited");
    expect(await signInStatus(server.baseUrl, email, password, "192.0.2.51")).toBe(401);
    await signUpAt("192.0.2.51");
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
      const env = {
        DATABASE_URL: database.url,
        SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR: "4",
        SIGNIN_FAILURES_PER_ACCOUNT_AND_ADDRESS_PER_HOUR: "3",
      };
      const a = await startTestServer(env);
      const b = await startTestServer(env);
      try {
        const email = `shared${Date.now()}@example.com`;
        expect(
          (await new Client(a.baseUrl).post("/api/v1/auth/signup", { email, password, name: "S" }))
            .status,
        ).toBe(201);
        for (const server of [a, b, a]) {
          expect(await signInStatus(server.baseUrl, email, "wrong password")).toBe(401);
        }
        // Two failures on one server, one on the other: only the shared count reaches the
        // limit of 3 for this account from this address.
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
