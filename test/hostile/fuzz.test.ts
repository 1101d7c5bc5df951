import { beforeAll, describe, expect, it } from "vitest";
import { contractRoutes } from "../../src/contract/index.js";
import { createServiceKey, createToken, signUpWithApp } from "../../src/test-support/harness.js";
import { setUpTestServer } from "../../src/test-support/server-fixture.js";
import { type RawResponse, rawRequest } from "./support.js";

/**
 * A fuzz pass over every route's path and query (issue "Hardening"): malformed
 * percent-encoding, NUL (encoded and raw), overlong UTF-8 (encoded and raw bytes), path
 * traversal and over-long segments, in every path parameter of every contract route and
 * of the pages, and in the query string. Whatever the route and the credential: never a
 * 5xx, every refusal problem+json, nothing of the input echoed, and at most one log line
 * per request, none at error level.
 */

const server = setUpTestServer();

// Every hostile piece carries this marker, so an answer that quotes the input is caught.
// It is not a plain field name: an unknown field named like one (letters only) is named in
// the problem's detail on purpose (docs/security.md), a token never looks like that.
const MARK = "FUZZ_MARK_7";

/** Path segments, as they go on the wire (latin1: one character per byte). */
const SEGMENTS = [
  `${MARK}%`,
  `${MARK}%zz`,
  `${MARK}%4`,
  `${MARK}%c0%af`, // overlong "/"
  `${MARK}%e0%80%af`, // overlong "/", three bytes
  `${MARK}%c0%ae%c0%ae`, // overlong ".."
  `${MARK}%ff%fe`,
  `${MARK}%00`,
  `${MARK}\u0000`, // a raw NUL in the request line
  `${MARK}\u00c0\u00af`, // raw overlong bytes
  `${MARK}\u00e9`, // a raw non-ASCII byte
  `..%2f..%2f${MARK}`,
  `%2e%2e%2f${MARK}`,
  `%252e%252e%252f${MARK}`,
  `..\\..\\${MARK}`,
  `${MARK}${"A".repeat(400)}`,
  `${MARK}%0d%0aSet-Cookie:%20x=1`,
];

/** Query strings, after the `?`. */
const QUERIES = [
  `${MARK}=%zz`,
  `%${MARK}`,
  `access_token=${MARK}%00`,
  `a=%c0%af&${MARK}`,
  `${MARK}=\u0000`,
  `${MARK}[]=1&${MARK}[a]=2`,
  `cursor=..%2f..%2f${MARK}&limit=%ff`,
];

/** The pages and other routes outside the contract. */
const PAGE_ROUTES = [
  "/",
  "/signin",
  "/app/:appId/account-management",
  "/app/:appId/account-management/tokens/:tokenId",
  "/app/:appId/settings",
  "/portal/:code",
  "/assets/:file",
  "/docs/:page",
  "/openapi.json",
];

let cookie = "";
let token = "";
let serviceKey = "";
let appId = "";
let tokenId = "";

beforeAll(async () => {
  const owner = await signUpWithApp(server.baseUrl);
  cookie = owner.client.cookie;
  appId = owner.appId;
  const created = await createToken(owner.client, appId, { name: "fuzz" });
  token = created.token;
  tokenId = created.id;
  serviceKey = (await createServiceKey(owner.client, appId)).key;
});

function credentialHeaders(auth: string, method: string, port: string): string {
  if (auth === "session") {
    return `Cookie: ${cookie}\r\n${method === "GET" ? "" : `Origin: http://127.0.0.1:${port}\r\n`}`;
  }
  if (auth === "bearer") return `Authorization: Bearer ${token}\r\n`;
  if (auth === "service") return `Authorization: Bearer ${serviceKey}\r\n`;
  return "";
}

async function send(method: string, target: string, extraHeaders: string): Promise<RawResponse> {
  const port = new URL(server.baseUrl).port;
  const body = method === "GET" || method === "DELETE" ? "" : "{}";
  const head =
    `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extraHeaders}` +
    (body ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : "") +
    "Connection: close\r\n\r\n";
  return rawRequest(server.baseUrl, Buffer.from(head + body, "latin1"), 5000, false);
}

interface Failure {
  request: string;
  why: string;
}

function judge(request: string, res: RawResponse, page: boolean): Failure[] {
  const failures: Failure[] = [];
  const headEnd = res.text.indexOf("\r\n\r\n");
  const head = res.text.slice(0, headEnd);
  const type = /\r\ncontent-type: ([^\r]*)/i.exec(head)?.[1] ?? "";
  if (res.status === null) failures.push({ request, why: "no answer" });
  else if (res.status >= 500) failures.push({ request, why: `status ${res.status}` });
  else if (res.status >= 400 && !type.startsWith("application/problem+json")) {
    // The one page that refuses in HTML whatever the client accepts: a portal link, which
    // only a browser ever opens ("this link has expired", 410). Everything else answers a
    // client that does not ask for HTML with a problem.
    if (!(page && type.startsWith("text/html") && request.includes('"/portal/'))) {
      failures.push({ request, why: `${res.status} answered as ${type || "no content type"}` });
    }
  } else if (res.status < 300 && res.status !== 204 && !page && !type.startsWith("application/")) {
    failures.push({ request, why: `${res.status} answered as ${type}` });
  }
  // A success may hold what the request stored (a host's user id is any text); a refusal
  // never quotes the request.
  if (res.status !== null && res.status >= 400 && res.text.includes(MARK)) {
    failures.push({ request, why: "the refusal quotes the input" });
  }
  if (/\r\nset-cookie: x=1/i.test(head)) failures.push({ request, why: "header injection" });
  return failures;
}

/** Fills a route's parameters: the hostile segment in one, well-formed ids elsewhere. */
function fill(url: string, hostile: string | undefined, index: number): string {
  let n = 0;
  return url.replace(/:([A-Za-z]+)/g, (_match, name: string) => {
    const mine = n++ === index;
    if (mine && hostile !== undefined) return hostile;
    if (name === "appId") return appId;
    if (name === "tokenId") return tokenId;
    return "probe";
  });
}

describe("the fuzz pass over every route's path and query", () => {
  it("never answers 5xx, always problem+json, never echoes, logs at most one line", async () => {
    const requests: Array<{ method: string; target: string; headers: string; page: boolean }> = [];
    const port = new URL(server.baseUrl).port;
    const routes = [
      ...contractRoutes.map((route) => ({
        method: route.method,
        url: route.url,
        auth: route.auth,
        stream: route.produces === "text/event-stream",
      })),
      ...PAGE_ROUTES.map((url) => ({
        method: "GET" as const,
        url,
        auth: "none" as const,
        stream: false,
      })),
    ];
    for (const route of routes) {
      const params = (route.url.match(/:[A-Za-z]+/g) ?? []).length;
      const headers = credentialHeaders(route.auth, route.method, port);
      const page = !route.url.startsWith("/api");
      for (const segment of SEGMENTS) {
        for (let i = 0; i < params; i++) {
          requests.push({
            method: route.method,
            target: fill(route.url, segment, i),
            headers,
            page,
          });
        }
        // A route without parameters gets the hostile piece as one more path segment.
        if (params === 0) {
          const base = route.url === "/" ? "" : route.url;
          requests.push({ method: route.method, target: `${base}/${segment}`, headers, page });
        }
      }
      // Queries on reads only: a write with real ids could succeed and change the data
      // the rest of the pass relies on.
      if (route.method === "GET") {
        for (const query of QUERIES) {
          const target = `${fill(route.url, undefined, -1)}?${query}`;
          // With its credential the revocation stream would open and stay open: a stream
          // ignores the query, so only the refusal without one is judged there.
          if (!route.stream) requests.push({ method: route.method, target, headers, page });
          requests.push({ method: route.method, target, headers: "", page });
        }
      }
    }

    const logLinesBefore = server.logs().split("\n").filter(Boolean).length;
    const failures: Failure[] = [];
    for (const request of requests) {
      const res = await send(request.method, request.target, request.headers);
      failures.push(
        ...judge(`${request.method} ${JSON.stringify(request.target)}`, res, request.page),
      );
    }
    expect(failures.slice(0, 20)).toEqual([]);
    expect(requests.length).toBeGreaterThan(1000);

    // The log: at most one line per request, none at error level or above, and no
    // access_token value written out.
    const lines = server.logs().split("\n").filter(Boolean).slice(logLinesBefore);
    expect(lines.length).toBeLessThanOrEqual(requests.length);
    const loud = lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(loud).toEqual([]);
    expect(lines.filter((line) => line.includes(`access_token=${MARK}`))).toEqual([]);
  }, 240_000);
});
