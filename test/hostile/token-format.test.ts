import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenChecksum } from "../../src/core/token.js";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../../src/test-support/harness.js";
import { flipAt, pool, randomValidToken } from "./support.js";

/**
 * Hostile token values over real HTTP: mutations of a live token, made-up tokens with a
 * correct checksum, and tokens in the wrong shape. Guarantees: none is accepted; those
 * the checksum or shape rules out cost no storage read (and so are refused the same
 * way with storage closed); the answer is the one uniform 401.
 */

let server: TestServer;
let token: string;
let api: Client;
let invalidBody: string;

beforeAll(async () => {
  server = await startTestServer();
  const { client } = await signUpUser(server.baseUrl);
  const appId = await createApp(client);
  token = (await createToken(client, appId, { name: "format-target" })).token;
  api = new Client(server.baseUrl);
  invalidBody = (await api.get("/api", bearer(randomValidToken()))).text;
});
afterAll(async () => {
  await server.close();
});

/** Sends each value as a bearer token; expects the uniform 401 and no storage read. */
async function expectRefusedOffline(values: string[]): Promise<void> {
  const before = server.keyward.store.stats.secretLookups;
  const answers = await pool(values, 16, (value) => api.get("/api", bearer(value)));
  answers.forEach((res, i) => {
    expect(res.status, values[i]).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api", error="invalid_token"');
    expect(res.text).toBe(invalidBody);
  });
  expect(server.keyward.store.stats.secretLookups, "storage reads").toBe(before);
}

describe("mutations of a live token", () => {
  it("refuses every single-character flip of a live token (all 39 positions) without a storage read", async () => {
    const flips = Array.from({ length: token.length }, (_, i) => flipAt(token, i));
    expect(new Set(flips).size).toBe(token.length);
    await expectRefusedOffline(flips);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
  });

  it("refuses every adjacent transposition of a live token without a storage read", async () => {
    const swaps: string[] = [];
    for (let i = 3; i < token.length - 1; i++) {
      if (token[i] === token[i + 1]) continue;
      swaps.push(token.slice(0, i) + token[i + 1] + token[i] + token.slice(i + 2));
    }
    await expectRefusedOffline(swaps);
  });

  it("refuses every truncation of a live token (400 when empty, else 401) without a storage read", async () => {
    const before = server.keyward.store.stats.secretLookups;
    for (let length = 0; length < token.length; length++) {
      const res = await api.get("/api", bearer(token.slice(0, length)));
      expect(res.status, `length ${length}`).toBe(length === 0 ? 400 : 401);
    }
    // Cut from the front as well.
    await expectRefusedOffline(Array.from({ length: 10 }, (_, i) => token.slice(i + 1)));
    expect(server.keyward.store.stats.secretLookups).toBe(before);
  });

  it.each([
    ["one extra character appended", (t: string) => `${t}A`],
    ["b64token padding appended (=)", (t: string) => `${t}=`],
    ["double padding appended (==)", (t: string) => `${t}==`],
    ["one extra character prepended", (t: string) => `x${t}`],
    ["the token twice", (t: string) => `${t}${t}`],
    ["the checksum repeated", (t: string) => `${t}${t.slice(-6)}`],
  ])("refuses a live token with %s, without a storage read", async (_name, mutate) => {
    await expectRefusedOffline([mutate(token)]);
  });

  it.each([
    ["in upper case", (t: string) => t.toUpperCase()],
    ["in lower case", (t: string) => t.toLowerCase()],
    [
      "with every letter's case swapped",
      (t: string) =>
        Array.from(t, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(""),
    ],
    ["with the prefix upper-cased (KW_)", (t: string) => `KW${t.slice(2)}`],
    ["with a dash instead of the underscore", (t: string) => `kw-${t.slice(3)}`],
  ])("refuses a live token %s, without a storage read", async (_name, mutate) => {
    await expectRefusedOffline([mutate(token)]);
  });

  it.each(["-", ".", "~", "+", "/"])(
    "refuses a token-shaped value with the b64token-only character %s inside, without a storage read",
    async (c) => {
      const head = `kw_${token.slice(3, 20)}${c}${token.slice(21, 33)}`;
      await expectRefusedOffline([head + tokenChecksum(head)]);
    },
  );
});

describe("made-up tokens", () => {
  it("refuses a correct-checksum token of another deployment's prefix without a storage read", async () => {
    for (const prefix of ["gh", "kx", "kwa"]) {
      await expectRefusedOffline([randomValidToken(prefix)]);
    }
  });

  it("never accepts random tokens with a valid checksum (property-based), answering the uniform 401", async () => {
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[0-9A-Za-z]{30}$/), async (random) => {
        const head = `kw_${random}`;
        const res = await api.get("/api", bearer(head + tokenChecksum(head)));
        expect(res.status).toBe(401);
        expect(res.text).toBe(invalidBody);
      }),
      { numRuns: 200 },
    );
  });

  it("does not cache unknown tokens, and refuses them without a storage read (the secret filter)", async () => {
    const made = randomValidToken();
    const entries = server.keyward.verifier.cacheEntries;
    // Secret lookups only: the server's background work (the webhook queue's poll) reads
    // storage at any moment too.
    const before = server.keyward.store.stats.secretLookups;
    for (let i = 0; i < 5; i++) expect((await api.get("/api", bearer(made))).status).toBe(401);
    // The filter of stored secret prefixes refuses it on either database (on PostgreSQL
    // after a fence, a notification to itself, not a lookup).
    expect(server.keyward.store.stats.secretLookups - before).toBe(0);
    expect(server.keyward.verifier.cacheEntries).toBe(entries);
  });

  it("answers the verify endpoint identically for flipped, truncated, made-up and over-long tokens", async () => {
    const values = [
      flipAt(token, 10),
      token.slice(0, 20),
      randomValidToken(),
      `${token}${token}`,
      "",
    ];
    const answers = await Promise.all(values.map((t) => api.post("/api/v1/verify", { token: t })));
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ valid: false, code: "invalid_token" });
    }
  });
});

describe("with storage closed", () => {
  it("answers a bad-checksum token 401 (refused before any lookup), and a valid-checksum one 503", async () => {
    const own = await startTestServer();
    try {
      const { client } = await signUpUser(own.baseUrl);
      const appId = await createApp(client);
      const live = await createToken(client, appId, { name: "closed" });
      await own.keyward.store.close();
      const outside = new Client(own.baseUrl);
      const badChecksum = flipAt(live.token, live.token.length - 1);
      const bad = await outside.get("/api", bearer(badChecksum));
      expect(bad.status).toBe(401);
      expect(bad.headers.get("www-authenticate")).toBe('Bearer realm="api", error="invalid_token"');
      const truncated = await outside.get("/api", bearer(live.token.slice(0, 30)));
      expect(truncated.status).toBe(401);
      // A token that passes the offline check needs storage: fail closed, never 200.
      const made = await outside.get("/api", bearer(randomValidToken()));
      expect(made.status).toBe(503);
      expect(made.headers.get("retry-after")).toBeTruthy();
      const verify = await outside.post("/api/v1/verify", { token: badChecksum });
      expect(verify.status).toBe(200);
      expect(verify.body).toEqual({ valid: false, code: "invalid_token" });
    } finally {
      await own.close();
    }
  });
});
