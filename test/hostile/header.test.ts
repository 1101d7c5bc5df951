import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../../src/test-support/harness.js";
import { expectServing, problemCode, rawGetApi, rawRequest } from "./support.js";

/**
 * Hostile Authorization headers over real HTTP, beyond src/http/protected-api.test.ts
 * (which covers the ordinary forms): oversized, non-ASCII and control bytes, extreme
 * whitespace, look-alike schemes, tokens in the URL, duplicates in both orders, and
 * random header values (fast-check). The guarantees: never a 5xx, never a 200 unless the
 * header is a correct Bearer form of a live token, and the process keeps serving.
 */

let server: TestServer;
let token: string;
let api: Client;

beforeAll(async () => {
  server = await startTestServer();
  const { client } = await signUpUser(server.baseUrl);
  const appId = await createApp(client);
  token = (await createToken(client, appId, { name: "header-target" })).token;
  api = new Client(server.baseUrl);
});
afterAll(async () => {
  await server.close();
});

// Node's HTTP parser refuses these before Keyward sees the request, so the answer carries
// only a status (no problem document).
describe("oversized headers", () => {
  it("answers a 20 KiB Authorization header with 431 and keeps serving", async () => {
    const res = await rawRequest(server.baseUrl, rawGetApi(`Bearer ${"A".repeat(20 * 1024)}`));
    expect(res.status).toBe(431);
    await expectServing(server.baseUrl, token);
  });

  it("answers 2000 headers (~60 KiB) with 431 and keeps serving", async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `X-Junk-${i}: ${"v".repeat(20)}\r\n`).join(
      "",
    );
    const res = await rawRequest(
      server.baseUrl,
      `GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n${many}Connection: close\r\n\r\n`,
    );
    expect(res.status).toBe(431);
    await expectServing(server.baseUrl, token);
  });

  it("refuses a 12 KiB b64token that fits the header limit with 401, without a storage read", async () => {
    const before = server.keyward.store.stats.secretLookups;
    const res = await api.get("/api", bearer(`kw_${"a".repeat(12 * 1024)}`));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api", error="invalid_token"');
    expect(server.keyward.store.stats.secretLookups).toBe(before);
  });

  it("answers a 20 KiB URL with 431 (the header size limit counts the request line) and keeps serving", async () => {
    const res = await rawRequest(
      server.baseUrl,
      `GET /api/${"a".repeat(20 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(431);
    await expectServing(server.baseUrl, token);
  });
});

describe("non-ASCII and control bytes over a raw socket", () => {
  // A byte outside the token alphabet makes a malformed Bearer value (400); one glued to
  // the scheme makes a scheme that is not Bearer, so no credentials at all (401).
  it.each([
    [
      "a latin1 byte (0xE9) after the token",
      () => Buffer.from(`Bearer ${token}\u00e9`, "latin1"),
      400,
      "invalid_request",
    ],
    [
      "a no-break space (0xA0) as separator",
      () => Buffer.from(`Bearer\u00a0${token}`, "latin1"),
      401,
      "authentication_required",
    ],
    [
      "UTF-8 fullwidth look-alike letters in the token",
      () => Buffer.from(`Bearer ${token.slice(0, 10)}ＡＢＣ${token.slice(13)}`, "utf8"),
      400,
      "invalid_request",
    ],
    [
      "a UTF-8 BOM before the scheme",
      () => Buffer.from(`\ufeffBearer ${token}`, "utf8"),
      401,
      "authentication_required",
    ],
    [
      "a C1 control byte (0x85) inside the token",
      () => Buffer.from(`Bearer ${token.slice(0, 5)}\u0085${token.slice(5)}`, "latin1"),
      400,
      "invalid_request",
    ],
  ])("answers %s with %i %s and keeps serving", async (_name, value, status, code) => {
    const res = await rawRequest(server.baseUrl, rawGetApi(value()));
    expect(res.status).toBe(status);
    expect(problemCode(res)).toBe(code);
    await expectServing(server.baseUrl, token);
  });

  it.each([
    ["a NUL byte inside the token", () => `Bearer ${token.slice(0, 8)}\u0000${token.slice(8)}`],
    ["a bare CR inside the value", () => `Bearer\r${token}`],
    ["an obs-fold continuation line", () => `Bearer\r\n ${token}`],
    ["a DEL byte (0x7F) after the token", () => `Bearer ${token}\u007f`],
  ])("refuses %s at the HTTP layer with 400 and keeps serving", async (_name, value) => {
    const res = await rawRequest(server.baseUrl, rawGetApi(value()));
    expect(res.status).toBe(400);
    await expectServing(server.baseUrl, token);
  });

  it("answers an empty Authorization value with 400 invalid_request", async () => {
    const res = await rawRequest(server.baseUrl, rawGetApi(""));
    expect(res.status).toBe(400);
    expect(res.text).toContain('error="invalid_request"');
  });

  it.each([
    ["valid first, garbage second", () => [`Bearer ${token}`, "Bearer nope"]],
    ["garbage first, valid second", () => ["Bearer nope", `Bearer ${token}`]],
    ["valid first, Basic second", () => [`Bearer ${token}`, "Basic dXNlcjpwYXNz"]],
  ])(
    "refuses two Authorization headers with different name casing (%s) with 400",
    async (_name, values) => {
      const [first, second] = values();
      const res = await rawRequest(
        server.baseUrl,
        `GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: ${first}\r\nAUTHORIZATION: ${second}\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status).toBe(400);
      expect(res.text).toContain('error="invalid_request"');
    },
  );
});

describe("whitespace and case extremes", () => {
  it.each([
    ["1000 spaces between scheme and token", (t: string) => `Bearer${" ".repeat(1000)}${t}`],
    [
      "1000 spaces around the whole value",
      (t: string) => `${" ".repeat(1000)}Bearer ${t}${" ".repeat(1000)}`,
    ],
    ["tabs around the whole value", (t: string) => `\t\tBearer ${t}\t`],
    ["mixed-case scheme bEaReR", (t: string) => `bEaReR ${t}`],
    ["mixed-case scheme BeArEr", (t: string) => `BeArEr ${t}`],
  ])("accepts %s (the contract's whitespace and case rules)", async (_name, header) => {
    expect((await api.get("/api", { authorization: header(token) })).status).toBe(200);
  });

  it.each([
    ["only spaces after the scheme", () => `Bearer${" ".repeat(500)}`],
    ["a space inside the token", (t: string) => `Bearer ${t.slice(0, 10)} ${t.slice(10)}`],
    ["a tab after several spaces", (t: string) => `Bearer   \t${t}`],
    ["a trailing comma", (t: string) => `Bearer ${t},`],
    ["a quoted token", (t: string) => `Bearer "${t}"`],
    ["a token with an auth-param after it", (t: string) => `Bearer ${t} realm="api"`],
  ])("answers %s with 400 invalid_request", async (_name, header) => {
    const res = await api.get("/api", { authorization: header(token) });
    expect(res.status).toBe(400);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api", error="invalid_request"');
  });

  it.each([
    ["Token scheme", (t: string) => `Token ${t}`],
    ["Bearer: with a colon", (t: string) => `Bearer: ${t}`],
    ["Bearer= with an equals sign", (t: string) => `Bearer=${t}`],
    ["Bearer- glued to the token", (t: string) => `Bearer-${t}`],
    [
      "Basic with the token as user",
      (t: string) => `Basic ${Buffer.from(`${t}:`).toString("base64")}`,
    ],
    ["MAC scheme", (t: string) => `MAC ${t}`],
    ["Bearer misspelled as Baerer", (t: string) => `Baerer ${t}`],
  ])("never accepts the token under %s (401 with a bare challenge)", async (_name, header) => {
    const res = await api.get("/api", { authorization: header(token) });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api"');
  });

  it.each([
    ["Proxy-Authorization", "proxy-authorization"],
    ["X-Api-Key", "x-api-key"],
    ["X-Auth-Token", "x-auth-token"],
  ])("ignores a token sent in %s (401, no credentials)", async (_name, header) => {
    const res = await api.get("/api", { [header]: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api"');
  });
});

describe("tokens in the URL", () => {
  // RFC 6750's access_token parameter is refused as malformed (400, so the integrator
  // learns to move the token); any other parameter is not a credential (401).
  it.each([
    ["?access_token=<token>", (t: string) => `/api?access_token=${t}`, 400, "invalid_request"],
    ["?access_token (no value)", () => "/api?access_token", 400, "invalid_request"],
    [
      "?x=1&access_token=<token>",
      (t: string) => `/api?x=1&access_token=${t}`,
      400,
      "invalid_request",
    ],
    [
      "?access_token twice",
      (t: string) => `/api?access_token=${t}&access_token=${t}`,
      400,
      "invalid_request",
    ],
    ["?access%5Ftoken=<token>", (t: string) => `/api?access%5Ftoken=${t}`, 400, "invalid_request"],
    ["?x=1&%61ccess_tok%65n (no value)", () => "/api?x=1&%61ccess_tok%65n", 400, "invalid_request"],
    [
      "?access_token%3D<token> (the '=' encoded)",
      (t: string) => `/api?access_token%3D${t}`,
      400,
      "invalid_request",
    ],
    [
      "?access_token[]=<token> (an array to PHP, Rails and qs)",
      (t: string) => `/api?access_token[]=${t}`,
      400,
      "invalid_request",
    ],
    [
      "?access_token%5B0%5D=<token>",
      (t: string) => `/api?access_token%5B0%5D=${t}`,
      400,
      "invalid_request",
    ],
    [
      "?ACCESS%5FTOKEN=<token>",
      (t: string) => `/api?ACCESS%5FTOKEN=${t}`,
      401,
      "authentication_required",
    ],
    [
      "?note=access%5Ftoken (a value, not a name)",
      () => "/api?note=access%5Ftoken",
      401,
      "authentication_required",
    ],
    [
      "?ACCESS_TOKEN=<token>",
      (t: string) => `/api?ACCESS_TOKEN=${t}`,
      401,
      "authentication_required",
    ],
    ["?token=<token>", (t: string) => `/api?token=${t}`, 401, "authentication_required"],
    ["?bearer=<token>", (t: string) => `/api?bearer=${t}`, 401, "authentication_required"],
    [
      "?authorization=Bearer%20<token>",
      (t: string) => `/api?authorization=Bearer%20${t}`,
      401,
      "authentication_required",
    ],
    [
      "on a scoped route",
      (t: string) => `/api/scopes/read?access_token=${t}`,
      400,
      "invalid_request",
    ],
  ])("never authenticates %s, and never logs it", async (_name, path, status, code) => {
    const res = await api.get<{ code: string }>(path(token));
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect(res.text).not.toContain(token);
    expect(server.logs()).not.toContain(token);
  });

  it("refuses a form-encoded access_token body on the protected API (RFC 6750 §2.2 is not supported)", async () => {
    const res = await api.request("POST", "/api", {
      body: `access_token=${token}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    // The protected API has no POST route at all, so the body is never read.
    expect(res.status).toBe(404);
    expect((res.body as { code: string }).code).toBe("not_found");
    expect(res.text).not.toContain(token);
  });
});

describe("connections and paths", () => {
  it("does not carry authentication from one pipelined request to the next on a connection", async () => {
    const res = await rawRequest(
      server.baseUrl,
      `GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n` +
        "GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" +
        "GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer kw_nope\r\nConnection: close\r\n\r\n",
    );
    const statuses = [...res.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 401, 401]);
  });

  // Paths are matched as sent (no case folding, slash merging or dot-segment removal),
  // so a variant is another, unknown path; only percent-decoding makes /%61pi the API.
  it.each([
    ["/API", 404, "not_found"],
    ["/api/", 404, "not_found"],
    ["//api", 404, "not_found"],
    ["/api/../api", 404, "not_found"],
    ["/api/./", 404, "not_found"],
    ["/api%2f", 404, "not_found"],
    ["/%61pi", 401, "authentication_required"],
    ["/api;jsessionid=1", 404, "not_found"],
    ["/api/scopes/read/", 404, "not_found"],
    ["/api/v1/../../api", 404, "not_found"],
  ])("answers the path variant %s without a token with %i %s", async (path, status, code) => {
    const res = await rawRequest(
      server.baseUrl,
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(status);
    expect(problemCode(res)).toBe(code);
  });
});

describe("random header values (property-based, over real HTTP)", () => {
  // Pieces an attacker would combine: scheme spellings, separators, the live token and
  // mutations of it, and noise.
  const scheme = fc.constantFrom(
    "Bearer",
    "bearer",
    "BEARER",
    "Basic",
    "Token",
    "",
    "Bearer,",
    "B",
  );
  const separator = fc.constantFrom(" ", "  ", "\t", "", ",", " , ", "=", ":");
  const noise = fc.string({ unit: "binary-ascii", maxLength: 40 });
  const edge = fc.oneof(
    { arbitrary: fc.constantFrom("", " ", "\t", "   "), weight: 3 },
    { arbitrary: noise, weight: 1 },
  );
  const tokenish = fc.oneof(
    { arbitrary: fc.constant("LIVE"), weight: 3 },
    fc.constant("LIVE="),
    fc.constant("LIVE LIVE"),
    fc.integer({ min: 0, max: 38 }).map((n) => `CUT${n}`),
    noise,
  );
  // Sent as latin1 over a raw socket: everything but CR and LF (which end the header) goes
  // on the wire, control bytes included.
  const clean = (value: string) =>
    Array.from(value)
      .filter((c) => {
        const code = c.codePointAt(0) ?? 0;
        return code !== 10 && code !== 13 && code <= 0xff;
      })
      .join("");

  it("never answers 5xx, and answers 200 exactly for the correct Bearer forms of the live token", async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(edge, scheme, separator, tokenish, edge, async (lead, s, sep, t, tail) => {
        const concrete =
          t === "LIVE" || t === "LIVE=" || t === "LIVE LIVE"
            ? t.replaceAll("LIVE", token)
            : t.startsWith("CUT")
              ? token.slice(0, Number(t.slice(3)))
              : t;
        const value = clean(`${lead}${s}${sep}${concrete}${tail}`);
        const res = await rawRequest(server.baseUrl, rawGetApi(value));
        expect(res.status).not.toBeNull();
        expect(res.status).toBeLessThan(500);
        // Bearer (any case), one or more spaces, the live token, optional surrounding
        // spaces or tabs: that gets through, and nothing else does.
        const correct = new RegExp(`^[ \t]*bearer +${token}[ \t]*$`, "i").test(value);
        expect(res.status === 200, JSON.stringify(value)).toBe(correct);
        if (correct) accepted++;
      }),
      {
        numRuns: 150,
        // Accepting forms run every time, besides any the generator finds.
        examples: [
          ["", "Bearer", " ", "LIVE", ""],
          ["\t", "BEARER", "  ", "LIVE", "   "],
          [" ", "bearer", ",", "LIVE", ""],
        ],
      },
    );
    // The oracle is exercised on the accepting side too, so it is not vacuous.
    expect(accepted).toBeGreaterThan(0);
    await expectServing(server.baseUrl, token);
  });

  it("never answers 5xx or 200 to random bytes in the header over a raw socket", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        fc.boolean(),
        async (bytes, withScheme) => {
          // CR and LF would end the header; everything else goes on the wire as is.
          const body = Buffer.from(bytes.filter((b) => b !== 13 && b !== 10));
          const value = withScheme ? Buffer.concat([Buffer.from("Bearer "), body]) : body;
          const res = await rawRequest(server.baseUrl, rawGetApi(value));
          expect(res.status).not.toBeNull();
          expect(res.status).not.toBe(200);
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 100 },
    );
    await expectServing(server.baseUrl, token);
  });
});
