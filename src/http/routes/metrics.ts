import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { metricsRoute } from "../../contract/index.js";
import { parseBearerHeader } from "../../core/bearer.js";
import type { StoreStats } from "../../services/ports.js";
import type { TokenVerifier } from "../../services/verifier.js";
import { isLoopback } from "../bearer-auth.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { sendProblem } from "../problem.js";

/**
 * `GET /metrics`: Prometheus text format, for operators and the benchmark (which reads
 * the storage counters before and after each case). Counts only: no token, hash, id,
 * name or address ever appears here. Still not for everyone: loopback clients only,
 * unless `METRICS_TOKEN` is set, and then that bearer token from anywhere.
 */
export function metricsRoutes(
  api: ContractApp,
  stats: StoreStats,
  verifier: TokenVerifier,
  options: { token: string | undefined },
) {
  const allowed = scrapeCheck(options.token);
  api.route({
    ...routeOptions(metricsRoute),
    handler: async (request, reply) => {
      if (!allowed(request)) {
        return sendProblem(
          reply,
          "authentication_required",
          options.token === undefined
            ? "GET /metrics answers direct loopback clients only; set METRICS_TOKEN to scrape it from elsewhere."
            : "Send METRICS_TOKEN as 'Authorization: Bearer <token>'.",
          { "www-authenticate": 'Bearer realm="metrics"' },
        );
      }
      const usage = verifier.usage;
      reply.header("cache-control", "no-store").type("text/plain; version=0.0.4; charset=utf-8");
      return exposition([
        [
          "keyward_storage_reads_total",
          "counter",
          "Storage statements that read, since start.",
          stats.reads,
        ],
        [
          "keyward_storage_writes_total",
          "counter",
          "Storage statements that write, since start.",
          stats.writes,
        ],
        [
          "keyward_verify_cache_entries",
          "gauge",
          "Verification results held in memory.",
          verifier.cacheEntries,
        ],
        [
          "keyward_usage_unflushed_requests",
          "gauge",
          "Accepted requests counted, not yet written.",
          usage.unflushedRequests,
        ],
        [
          "keyward_usage_flushes_total",
          "counter",
          "Usage flushes that wrote a batch, since start.",
          usage.flushes,
        ],
      ]);
    },
  });
}

type Metric = [name: string, type: "counter" | "gauge", help: string, value: number];

/** Prometheus text exposition format, version 0.0.4. */
function exposition(metrics: readonly Metric[]): string {
  const lines = metrics.flatMap(([name, type, help, value]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    `${name} ${value}`,
  ]);
  return `${lines.join("\n")}\n`;
}

function scrapeCheck(token: string | undefined): (request: FastifyRequest) => boolean {
  if (token === undefined) {
    // The connection's own address, not `request.ip`: with TRUST_PROXY that one comes from
    // X-Forwarded-For, which a client writes. A request relayed by a proxy on this host
    // comes from loopback too, so anything carrying forwarding headers is refused.
    return (request) =>
      isLoopback(request.raw.socket.remoteAddress ?? "") &&
      request.headers["x-forwarded-for"] === undefined &&
      request.headers.forwarded === undefined;
  }
  // Compared as digests: equal lengths for timingSafeEqual, and no early exit on a prefix.
  const expected = createHash("sha256").update(token).digest();
  return (request) => {
    const parsed = parseBearerHeader(request.headers.authorization, 1);
    if (parsed.kind !== "token") return false;
    return timingSafeEqual(createHash("sha256").update(parsed.token).digest(), expected);
  };
}
