import { readFileSync } from "node:fs";
import { join } from "node:path";
import parsePrometheusTextFormat, {
  type PrometheusFamily,
  type PrometheusSample,
} from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../test-support/clock.js";
import { bearer, Client, createToken, signUpWithApp } from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { REPO_ROOT } from "../test-support/process.js";
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
    expect(res.text).toMatch(/^keyward_service_key_lookups_total \d+$/m);
    expect(res.text).toMatch(/^keyward_secret_lookups_total \d+$/m);
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

describe("the verification cache's entries", () => {
  // The server's clock is held still, so the entry cannot expire before the test says.
  const clock = new ManualClock();
  const server = setUpTestServer({}, { clock });
  const cacheEntries = async () => {
    const res = await new Client(server.baseUrl).get<string>("/metrics");
    return Number(res.text.match(/^keyward_verify_cache_entries (\d+)$/m)?.[1]);
  };

  it("are swept out once past their maximum age, with no request asking for them", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { token } = await createToken(client, appId, { name: "swept" });
    expect((await new Client(server.baseUrl).get("/api", bearer(token))).status).toBe(200);
    expect(await cacheEntries()).toBe(1);
    // Past the default maximum age (5 s): gone at the next sweep, though nothing asked.
    clock.advance(5001);
    await pollUntil("the expired entry to be swept out", async () => (await cacheEntries()) === 0, {
      timeoutMs: 5000,
      intervalMs: 50,
    });
  });
});

describe("GET /metrics, parsed as Prometheus text", () => {
  const families = async () => {
    const res = await new Client(loopbackOnly.baseUrl).get<string>("/metrics");
    expect(res.status).toBe(200);
    return new Map(parsePrometheusTextFormat(res.text).map((family) => [family.name, family]));
  };
  const sample = (
    family: PrometheusFamily | undefined,
    labels: Record<string, string> = {},
  ): PrometheusSample | undefined =>
    family?.metrics.find((m) =>
      Object.entries(labels).every(([name, value]) => m.labels?.[name] === value),
    );
  const count = (family: PrometheusFamily | undefined, labels?: Record<string, string>) =>
    Number(sample(family, labels)?.value ?? 0);

  it("holds the process's default metrics, typed", async () => {
    const all = await families();
    expect(all.get("nodejs_eventloop_lag_seconds")?.type).toBe("GAUGE");
    expect(all.get("nodejs_heap_size_used_bytes")?.type).toBe("GAUGE");
    expect(all.get("nodejs_gc_duration_seconds")?.type).toBe("HISTOGRAM");
    expect(all.get("nodejs_active_handles_total")?.type).toBe("GAUGE");
    expect(all.get("process_cpu_seconds_total")?.type).toBe("COUNTER");
  });

  it("counts verifications by outcome, cache hits and misses, and requests by route pattern", async () => {
    const { client, appId } = await signUpWithApp(loopbackOnly.baseUrl);
    const { token } = await createToken(client, appId, { name: "metrics" });
    const before = await families();
    const api = new Client(loopbackOnly.baseUrl);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    // Our prefix with a wrong checksum, and something that is no token of ours at all.
    const wrongChecksum = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    expect((await api.get("/api", bearer(wrongChecksum))).status).toBe(401);
    expect((await api.get("/api", bearer("not-a-keyward-token"))).status).toBe(401);
    expect((await api.get(`/api/v1/applications/${appId}`)).status).toBe(401);
    const after = await families();

    const delta = (name: string, labels?: Record<string, string>) =>
      count(after.get(name), labels) - count(before.get(name), labels);
    expect(delta("keyward_verifications_total", { outcome: "ok" })).toBe(2);
    expect(delta("keyward_verifications_total", { outcome: "checksum" })).toBe(1);
    expect(delta("keyward_verifications_total", { outcome: "malformed" })).toBe(1);
    expect(delta("keyward_verify_cache_misses_total")).toBe(1);
    expect(delta("keyward_verify_cache_hits_total")).toBe(1);
    expect(after.get("keyward_verifications_total")?.type).toBe("COUNTER");

    const durations = after.get("keyward_http_request_duration_seconds");
    expect(durations?.type).toBe("HISTOGRAM");
    // The parser folds a labelled histogram's series into one, so the series of one route
    // and status is read from its `_count` line; the parser has checked the text's syntax.
    const text = (await new Client(loopbackOnly.baseUrl).get<string>("/metrics")).text;
    const routed = text.match(
      /^keyward_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/applications\/:appId",status="401"\} (\d+)$/m,
    );
    expect(Number(routed?.[1])).toBeGreaterThanOrEqual(1);
    // Labelled by pattern: no id (nor token) appears in any label.
    const series = text
      .split("\n")
      .filter((line) => line.startsWith("keyward_http_request_duration_seconds"));
    expect(series.length).toBeGreaterThan(0);
    for (const line of series) {
      expect(line).not.toContain(appId);
      expect(line).not.toContain(token);
    }

    for (const name of [
      "keyward_storage_reads_total",
      "keyward_storage_writes_total",
      "keyward_usage_flushes_total",
      "keyward_verify_cache_entries",
      "keyward_usage_unflushed_requests",
      "keyward_revocation_streams_open",
      "keyward_usage_flush_duration_seconds",
    ]) {
      expect(after.has(name), name).toBe(true);
    }
  });

  it("has every metric the Grafana dashboard in docs/ queries", async () => {
    const dashboard = JSON.parse(
      readFileSync(join(REPO_ROOT, "docs", "grafana-dashboard.json"), "utf8"),
    ) as { panels: { title: string; targets: { expr: string }[] }[] };
    // A request first, so the request histogram has a sample.
    await new Client(loopbackOnly.baseUrl).get("/healthz");
    const all = await families();
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        for (const match of target.expr.matchAll(/\b(?:keyward|nodejs|process)_[a-z0-9_]+/g)) {
          queried.add(match[0]);
        }
      }
    }
    expect(queried.size).toBeGreaterThan(10);
    for (const name of queried) {
      const family = name.replace(/_(bucket|sum|count)$/, "");
      expect(all.has(name) || all.get(family)?.type === "HISTOGRAM", name).toBe(true);
    }
  });
});
