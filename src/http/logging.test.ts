import { describe, expect, it } from "vitest";
import { bearer, Client, createToken, signUpWithApp } from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

/** Sends a token every way a client might: header, URL path and query, request body. */
async function presentTokenEveryWay(baseUrl: string): Promise<string> {
  const { client, appId } = await signUpWithApp(baseUrl);
  const { token } = await createToken(client, appId, { name: "logged" });
  const api = new Client(baseUrl);
  expect((await api.get("/api", bearer(token))).status).toBe(200);
  expect((await api.get("/api", bearer(`${token}x`))).status).toBe(401);
  await api.get(`/api/scopes/${token}?token=${token}`, bearer(token));
  await api.request("POST", "/api/v1/verify", { body: { token }, origin: null });
  return token;
}

describe("LOG_FORMAT=json", () => {
  const server = setUpTestServer({ LOG_FORMAT: "json" });

  it("writes one JSON object per line, with the request line's fields and no token", async () => {
    const token = await presentTokenEveryWay(server.baseUrl);
    const lines = server.logs().trim().split("\n");
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const completed = parsed.filter((line) => line.msg === "request completed");
    expect(completed.length).toBeGreaterThanOrEqual(4);
    expect(completed.some((line) => (line.req as { url: string }).url === "/api")).toBe(true);
    expect(server.logs()).not.toContain(token);
    expect(server.logs()).not.toContain(token.slice(-30));
  });
});

describe("LOG_FORMAT=pretty", () => {
  const server = setUpTestServer({ LOG_FORMAT: "pretty" });

  it("writes one readable line per request (time, level, method, path, status), not JSON, and no token", async () => {
    const token = await presentTokenEveryWay(server.baseUrl);
    const lines = server.logs().trim().split("\n");
    for (const line of lines) expect(() => JSON.parse(line), line).toThrow();
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: GET \/api 200 [\d.]+ms request completed$/,
      ),
    );
    // A refused token is said on its request's line, by reason only.
    expect(lines).toContainEqual(
      expect.stringMatching(/GET \/api 401 [\d.]+ms token refused \(\w+\) request completed$/),
    );
    // No colour codes when the log is not a terminal, even when pretty is asked for.
    expect(server.logs()).not.toContain("\u001b[");
    expect(server.logs()).not.toContain(token);
    expect(server.logs()).not.toContain(token.slice(-30));
  });
});
