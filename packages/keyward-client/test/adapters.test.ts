import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeywardClient } from "../src/client.js";
import { problemText } from "../src/protect.js";
import {
  APP_STARTERS,
  type RunningApp,
  startExpressApp,
  startFastifyApp,
  startHonoApp,
} from "./support/apps.js";
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

describe.each([
  ["fastify", startFastifyApp],
  ["express", startExpressApp],
  ["hono", startHonoApp],
] as const)("keyward-client/%s: the client's address", (_name, start) => {
  const header = "x-test-client-address";
  const reported: unknown[] = [];
  const failure = new Error("the host's clientAddress failed");
  const failures: unknown[] = [];
  let fromHeader: RunningApp;
  let throwing: RunningApp;

  beforeAll(async () => {
    fromHeader = await start(client, {
      clientAddressHeader: header,
      onError: (error) => reported.push(error),
    });
    throwing = await start(client, {
      clientAddressError: failure,
      onError: (error) => failures.push(error),
    });
  });
  afterAll(async () => {
    await Promise.all([fromHeader?.close(), throwing?.close()]);
  });

  /** A token the stand-in calls valid, new to the client's cache. */
  function freshToken(): string {
    const fresh = makeToken();
    standIn.tokens.set(fresh, validAnswer("tok_PPPPPPPPPPPPPPPPPPPP"));
    return fresh;
  }

  it("refuses an address that is not an IP address as an invalid token, without asking Keyward, and reports it once", async () => {
    const before = standIn.verifyCalls();
    for (const address of [
      "",
      "not-an-address",
      "198.51.100.7:8080",
      "198.51.100.7, 198.51.100.8",
      "198.51.100.07",
      "[2001:db8::1]",
      "198.51.100.7%eth0",
      "fe80::1%eth0:1",
      "fe80::1%",
      `fe80::1%${"e".repeat(60)}`,
    ]) {
      // A valid token: the address alone decides.
      const res = await fetch(`${fromHeader.url}/api`, {
        headers: { authorization: `Bearer ${token}`, [header]: address },
      });
      expect(res.status, address).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api", error="invalid_token"');
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.text()).toBe(problemText("invalid_token", "The access token is invalid."));
    }
    expect(standIn.verifyCalls()).toBe(before);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ code: "invalid_client_address" });
  });

  it("sends an IPv4 or IPv6 address on (an IPv6 one with its zone), and none when there is none", async () => {
    const sentAddress = async (headers: Record<string, string>) => {
      const res = await fetch(`${fromHeader.url}/api`, {
        headers: { authorization: `Bearer ${freshToken()}`, ...headers },
      });
      expect(res.status).toBe(200);
      const verify = standIn.requests.filter((r) => r.url === "/api/v1/service/verify").at(-1);
      if (verify === undefined) throw new Error("Keyward was not asked.");
      return (verify.body as { clientAddress?: string }).clientAddress;
    };
    for (const address of ["198.51.100.9", "2001:db8::1", "fe80::1%eth0", "::ffff:198.51.100.9"]) {
      expect(await sentAddress({ [header]: address })).toBe(address);
    }
    expect(await sentAddress({})).toBeUndefined();
  });

  it("answers 500 internal_error when clientAddress throws, and reports it", async () => {
    const before = standIn.verifyCalls();
    const answer = await rawRequest(throwing.url, getRequest("/api", [`Bearer ${token}`]));
    expect(answer.status).toBe(500);
    expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(answer.headers["cache-control"]).toBe("no-store");
    expect(answer.body).toBe(problemText("internal_error", "Something went wrong on our side."));
    expect(standIn.verifyCalls()).toBe(before);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: "client_address_failed", cause: failure });
    // A request without a token is refused before the address is read.
    const unauthenticated = await rawRequest(throwing.url, getRequest("/api", []));
    expect(unauthenticated.status).toBe(401);
    expect(failures).toHaveLength(1);
  });
});
