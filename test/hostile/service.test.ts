import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostUserAnswer, PortalSession } from "../../src/contract/index.js";
import {
  createServiceKey,
  createToken,
  serviceClient,
  signUpWithApp,
  startTestServer,
  type TestServer,
} from "../../src/test-support/harness.js";
import { expectServing, problemCode, rawGetApi, rawRequest } from "./support.js";

/**
 * The host's side under attack: service-key headers in every odd form, host ids of any
 * text, portal codes guessed or replayed. Never a 5xx, never a 200 unless the header is a
 * correct Bearer form of a live key, and no secret in any answer.
 */

let server: TestServer;
let key: string;
let appId: string;
let service: ReturnType<typeof serviceClient>;

const USERS = "/api/v1/service/users/probe";

beforeAll(async () => {
  server = await startTestServer();
  const owner = await signUpWithApp(server.baseUrl);
  appId = owner.appId;
  key = (await createServiceKey(owner.client, owner.appId)).key;
  service = serviceClient(server.baseUrl, key);
  await service("PUT", USERS, {});
});
afterAll(async () => {
  await server.close();
});

describe("service-key headers", () => {
  it("reads the header by RFC 6750's rules, like the protected API", async () => {
    const cases: Array<[string, number]> = [
      [`Bearer ${key}`, 200],
      [`bEaReR   ${key}  `, 200],
      [`Bearer\t${key}`, 400],
      [`Bearer ${key} extra`, 400],
      [`Bearer ${key},`, 400],
      ["Bearer", 400],
      [`Basic ${key}`, 401],
      [`Bearer ${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`, 401],
    ];
    for (const [header, status] of cases) {
      const res = await rawRequest(server.baseUrl, rawGetApi(header, USERS), 5000, false);
      expect(res.status, header).toBe(status);
    }
  });

  it("refuses two Authorization headers, in either order", async () => {
    for (const [first, second] of [
      [key, "kwsk_x"],
      ["kwsk_x", key],
    ]) {
      const res = await rawRequest(
        server.baseUrl,
        `GET ${USERS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${first}\r\nAuthorization: Bearer ${second}\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status).toBe(400);
      expect(problemCode(res)).toBe("invalid_request");
    }
  });

  it("never answers 5xx or 200 to random header values", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), async (value) => {
        const header = Buffer.from(value.replace(/[\r\n]/g, " "), "utf8");
        const res = await rawRequest(server.baseUrl, rawGetApi(header, USERS), 5000, false);
        if (res.status === null) return;
        expect(res.status).toBeLessThan(500);
        expect(res.status).not.toBe(200);
        expect(res.text).not.toContain(key);
      }),
      { numRuns: 60 },
    );
    await expectServing(server.baseUrl);
  });
});

describe("host ids", () => {
  it("keep any storable text exactly, refuse control characters, and never 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 60, unit: "grapheme" }), async (id) => {
        // "." and ".." are dot segments to every URL parser, encoded or not: refused (below).
        fc.pre(!/^\.{1,2}$/.test(id));
        const path = `/api/v1/service/users/${encodeURIComponent(id)}`;
        const put = await service<HostUserAnswer>("PUT", path, {});
        expect(put.status).toBeLessThan(500);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule under test
        if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) {
          expect(put.status, JSON.stringify(id)).toBe(400);
          return;
        }
        expect([200, 201], JSON.stringify(id)).toContain(put.status);
        expect(put.body.user.externalId).toBe(id);
        const get = await service<HostUserAnswer>("GET", path);
        expect(get.body.user.externalId).toBe(id);
      }),
      { numRuns: 80 },
    );
  });

  it("refuses the dot segments as ids: no URL client could reach them", async () => {
    for (const id of [".", ".."]) {
      const res = await rawRequest(
        server.baseUrl,
        `PUT /api/v1/service/users/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
        5000,
        false,
      );
      expect(res.status, id).toBe(400);
    }
  });

  it("answers malformed percent-encoding in the id with a 400 problem that does not echo it", async () => {
    for (const raw of ["%", "%zz", "%c0%af", "%ed%a0%80"]) {
      const res = await rawRequest(
        server.baseUrl,
        `GET /api/v1/service/users/${raw}secret-marker HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status, raw).toBe(400);
      expect(res.text).not.toContain("secret-marker");
    }
  });
});

describe("portal codes", () => {
  it("cannot be guessed, replayed or used on another path", async () => {
    const link = await service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "probe",
    });
    const code = link.body.url.split("/portal/")[1] ?? "";
    const open = (path: string) => fetch(`${server.baseUrl}${path}`, { redirect: "manual" });
    // A near miss, a case change, a prefix and the code with a suffix are all strangers.
    for (const guess of [
      `${code.slice(0, -1)}${code.endsWith("A") ? "B" : "A"}`,
      code.toLowerCase() === code ? code.toUpperCase() : code.toLowerCase(),
      code.slice(0, 20),
      `${code}x`,
    ]) {
      const res = await open(`/portal/${guess}`);
      expect(res.status).toBe(410);
      expect(res.headers.get("set-cookie")).toBeNull();
    }
    expect((await open(`/portal/${code}?next=https://evil.example`)).status).toBe(303);
    const replay = await open(`/portal/${code}`);
    expect(replay.status).toBe(410);
    expect(server.logs()).not.toContain(code);
  });

  it("give a session that an API token or a service key cannot borrow", async () => {
    const owner = await signUpWithApp(server.baseUrl);
    const token = await createToken(owner.client, owner.appId, { name: "t" });
    const asToken = await serviceClient(server.baseUrl, token.token)(
      "POST",
      "/api/v1/service/portal-sessions",
      { externalId: "probe" },
    );
    expect(asToken.status).toBe(401);
    const otherKey = (await createServiceKey(owner.client, owner.appId)).key;
    const foreign = await serviceClient(server.baseUrl, otherKey)(
      "POST",
      "/api/v1/service/portal-sessions",
      { externalId: "probe" },
    );
    // `probe` is a user of the first application only.
    expect(foreign.status).toBe(404);
    expect(appId).not.toBe(owner.appId);
  });
});
