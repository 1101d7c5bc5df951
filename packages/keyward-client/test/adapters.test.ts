import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeywardClient } from "../src/client.js";
import { problemText } from "../src/protect.js";
import { APP_STARTERS, type RunningApp } from "./support/apps.js";
import { headerCases } from "./support/header-cases.js";
import { getRequest, rawRequest } from "./support/raw-http.js";
import { makeToken, type StandIn, startStandIn, validAnswer } from "./support/stand-in.js";

// Each adapter in its real framework over real HTTP, against a stand-in of Keyward's
// service API; test/client-conformance.test.ts compares them with Keyward's own answers.

let standIn: StandIn;
let client: KeywardClient;
let down: KeywardClient;
let token: string;
const apps: RunningApp[] = [];
const downApps: RunningApp[] = [];

beforeAll(async () => {
  standIn = await startStandIn();
  client = new KeywardClient({ url: standIn.url, serviceKey: standIn.serviceKey });
  down = new KeywardClient({
    url: "http://127.0.0.1:9",
    serviceKey: standIn.serviceKey,
    revocationStream: false,
  });
  token = makeToken();
  standIn.tokens.set(token, validAnswer("tok_AAAAAAAAAAAAAAAAAAAA", ["read"]));
  for (const start of APP_STARTERS) {
    apps.push(await start(client));
    downApps.push(await start(down));
  }
});
afterAll(async () => {
  await Promise.all([...apps, ...downApps].map((a) => a.close()));
  await client.close();
  await down.close();
  await standIn.close();
});

const cases = headerCases(() => makeToken());
const frameworks = ["fastify", "express", "hono"];

describe.each(frameworks)("keyward-client/%s", (name) => {
  const app = () => apps.find((a) => a.name === name) as RunningApp;

  it.each(cases.map((c) => [c.name, c] as const))("answers %s as Keyward does", async (_n, c) => {
    const answer = await rawRequest(app().url, getRequest(c.path(token), c.authorization(token)));
    expect(answer.status).toBe(c.status);
    expect(answer.headers["www-authenticate"]).toBe(c.challenge);
    if (c.code === undefined) return;
    expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(answer.headers["cache-control"]).toBe("no-store");
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      type: `urn:keyward:problem:${c.code}`,
      status: c.status,
      code: c.code,
    });
    expect(Object.keys(body)).toEqual(["type", "title", "status", "detail", "code"]);
  });

  it("gives the handler the verify answer and passes the client's address", async () => {
    const res = await fetch(`${app().url}/api`, { headers: { authorization: `Bearer ${token}` } });
    expect(await res.json()).toEqual({ tokenId: "tok_AAAAAAAAAAAAAAAAAAAA" });
    const verify = standIn.requests.filter((r) => r.url === "/api/v1/service/verify");
    expect(
      verify.every((r) =>
        (r.body as { clientAddress?: string }).clientAddress?.includes("127.0.0.1"),
      ),
    ).toBe(true);
  });

  it("answers 503 with Retry-After when Keyward is unreachable, never 200", async () => {
    const downApp = downApps.find((a) => a.name === name) as RunningApp;
    const answer = await rawRequest(downApp.url, getRequest("/api", [`Bearer ${makeToken()}`]));
    expect(answer.status).toBe(503);
    expect(answer.headers["retry-after"]).toBe("5");
    expect(answer.headers["cache-control"]).toBe("no-store");
    expect(answer.body).toBe(
      problemText("storage_unavailable", "Storage is unavailable; try again shortly."),
    );
  });

  it.each([
    ["99999999999999999999", "3600"],
    ["9".repeat(40), "3600"],
    ["30", "30"],
    ["soon", "5"],
  ])(
    "sends Keyward's Retry-After %s on as %s: whole seconds, at most an hour",
    async (given, sent) => {
      standIn.verifyFault = { status: 429, headers: { "retry-after": given } };
      try {
        const answer = await rawRequest(app().url, getRequest("/api", [`Bearer ${makeToken()}`]));
        expect(answer.status).toBe(503);
        expect(answer.headers["retry-after"]).toBe(sent);
      } finally {
        standIn.verifyFault = null;
      }
    },
  );
});

it("refuses made-up tokens through every adapter with zero calls to Keyward for bad checksums", async () => {
  const before = standIn.verifyCalls();
  for (const app of apps) {
    for (let i = 0; i < 20; i++) {
      const fake = makeToken();
      const bad = `${fake.slice(0, -1)}${fake.endsWith("0") ? "1" : "0"}`;
      const res = await fetch(`${app.url}/api`, { headers: { authorization: `Bearer ${bad}` } });
      expect(res.status).toBe(401);
    }
  }
  expect(standIn.verifyCalls()).toBe(before);
});
