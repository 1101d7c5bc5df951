import { describe, expect, it } from "vitest";
import { bearer, Client } from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const METRICS_TOKEN = "scrape-me-0123456789abcdefghijklmnopq";
// TRUST_PROXY lets a test play a remote client through X-Forwarded-For.
const loopbackOnly = setUpTestServer({ TRUST_PROXY: "true" });
const withToken = setUpTestServer({ TRUST_PROXY: "true", METRICS_TOKEN });

const remote = { "x-forwarded-for": "203.0.113.9" };

describe("GET /metrics", () => {
  it("answers a loopback client with counts in Prometheus text", async () => {
    const res = await new Client(loopbackOnly.baseUrl).get<string>("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(res.text).toMatch(/^keyward_storage_writes_total \d+$/m);
    expect(res.text).toMatch(/^keyward_verify_cache_entries \d+$/m);
  });

  it("refuses a client behind a proxy, or one claiming to be loopback, when no METRICS_TOKEN is set", async () => {
    const api = new Client(loopbackOnly.baseUrl);
    for (const forwarded of [
      remote,
      { "x-forwarded-for": "127.0.0.1" },
      { forwarded: "for=127.0.0.1" },
    ]) {
      const res = await api.get<{ code: string }>("/metrics", forwarded);
      expect(res.status, JSON.stringify(forwarded)).toBe(401);
      expect(res.body.code).toBe("authentication_required");
      expect(res.text).not.toContain("keyward_storage");
    }
  });

  it("asks everyone for METRICS_TOKEN when it is set, loopback included", async () => {
    const api = new Client(withToken.baseUrl);
    expect((await api.get("/metrics")).status).toBe(401);
    expect((await api.get("/metrics", { ...remote, ...bearer(`${METRICS_TOKEN}x`) })).status).toBe(
      401,
    );
    const ok = await api.get<string>("/metrics", { ...remote, ...bearer(METRICS_TOKEN) });
    expect(ok.status).toBe(200);
    expect(ok.text).toMatch(/^keyward_storage_reads_total \d+$/m);
  });
});
