import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeywardClient } from "../packages/keyward-client/src/client.js";
import { APP_STARTERS, type RunningApp } from "../packages/keyward-client/test/support/apps.js";
import { headerCases } from "../packages/keyward-client/test/support/header-cases.js";
import {
  getRequest,
  type RawAnswer,
  rawRequest,
} from "../packages/keyward-client/test/support/raw-http.js";
import { makeToken } from "../packages/keyward-client/test/support/stand-in.js";
import { errorRegistry } from "../src/core/errors.js";
import {
  type Client,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";

// The adapters answer exactly as Keyward's own protected API: the same table of requests
// goes to Keyward's GET /api (and /api/scopes/:scope) and to the same routes behind each
// adapter, whose client verifies against that same Keyward; status, WWW-Authenticate,
// Content-Type, Cache-Control and body must match byte for byte.

let server: TestServer;
let owner: Client;
let client: KeywardClient;
let token: string;
const apps: RunningApp[] = [];

async function post<T>(path: string, body: unknown): Promise<T> {
  const res = await owner.post<T>(path, body);
  if (res.status !== 201) throw new Error(`${path}: ${res.status} ${res.text}`);
  return res.body;
}

beforeAll(async () => {
  server = await startTestServer();
  owner = (await signUpUser(server.baseUrl)).client;
  const app = await post<{ id: string }>("/api/v1/applications", {
    name: "Host",
    scopes: ["read", "write"],
  });
  token = (
    await post<{ token: string }>(`/api/v1/applications/${app.id}/tokens`, {
      name: "conformance",
      scopes: ["read"],
    })
  ).token;
  const { key } = await post<{ key: string }>(`/api/v1/applications/${app.id}/service-keys`, {
    name: "adapters",
  });
  client = new KeywardClient({ url: server.baseUrl, serviceKey: key });
  for (const start of APP_STARTERS) apps.push(await start(client));
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await client?.close();
  await server?.close();
});

/** What must be identical; the Date and connection headers naturally differ. */
function comparable(answer: RawAnswer) {
  return {
    status: answer.status,
    wwwAuthenticate: answer.headers["www-authenticate"],
    contentType: answer.status === 200 ? undefined : answer.headers["content-type"],
    cacheControl: answer.status === 200 ? undefined : answer.headers["cache-control"],
    retryAfter: answer.headers["retry-after"],
    body: answer.status === 200 ? undefined : answer.body,
  };
}

describe.each(["fastify", "express", "hono"])(
  "keyward-client/%s against Keyward's GET /api",
  (name) => {
    it.each(headerCases(() => makeToken()).map((c) => [c.name, c] as const))(
      "%s: same answer",
      async (_n, c) => {
        const app = apps.find((a) => a.name === name) as RunningApp;
        const path = c.path(token);
        const headers = c.authorization(token);
        const keyward = await rawRequest(server.baseUrl, getRequest(path, headers));
        const adapter = await rawRequest(app.url, getRequest(path, headers));
        expect(keyward.status).toBe(c.status);
        expect(keyward.headers["www-authenticate"]).toBe(c.challenge);
        expect(comparable(adapter)).toEqual(comparable(keyward));
      },
    );
  },
);

it("uses the titles of Keyward's error registry", async () => {
  const { problemText } = await import("../packages/keyward-client/src/protect.js");
  for (const code of [
    "invalid_request",
    "authentication_required",
    "invalid_token",
    "insufficient_scope",
    "internal_error",
    "storage_unavailable",
  ] as const) {
    const body = JSON.parse(problemText(code, "x")) as { title: string; status: number };
    expect(body).toMatchObject({
      title: errorRegistry[code].title,
      status: errorRegistry[code].status,
    });
  }
});
