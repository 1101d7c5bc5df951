import type { FastifyInstance } from "fastify";
import type { StoreStats } from "../../services/ports.js";
import type { TokenVerifier } from "../../services/verifier.js";

/**
 * `GET /metrics`: Prometheus text format, for operators and the benchmark (which reads
 * the storage counters before and after each case). Counts only: no token, hash, id,
 * name or address ever appears here.
 */
export function metricsRoutes(app: FastifyInstance, stats: StoreStats, verifier: TokenVerifier) {
  app.get("/metrics", async (_request, reply) => {
    const usage = verifier.usage;
    reply.header("cache-control", "no-store").type("text/plain; version=0.0.4; charset=utf-8");
    return [
      "# HELP keyward_storage_reads_total Storage statements that read, since start.",
      "# TYPE keyward_storage_reads_total counter",
      `keyward_storage_reads_total ${stats.reads}`,
      "# HELP keyward_storage_writes_total Storage statements that write, since start.",
      "# TYPE keyward_storage_writes_total counter",
      `keyward_storage_writes_total ${stats.writes}`,
      "# HELP keyward_verify_cache_entries Verification results held in memory.",
      "# TYPE keyward_verify_cache_entries gauge",
      `keyward_verify_cache_entries ${verifier.cacheEntries}`,
      "# HELP keyward_usage_unflushed_requests Accepted requests counted, not yet written.",
      "# TYPE keyward_usage_unflushed_requests gauge",
      `keyward_usage_unflushed_requests ${usage.unflushedRequests}`,
      "# HELP keyward_usage_flushes_total Usage flushes that wrote a batch, since start.",
      "# TYPE keyward_usage_flushes_total counter",
      `keyward_usage_flushes_total ${usage.flushes}`,
      "",
    ].join("\n");
  });
}
