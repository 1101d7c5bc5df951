import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { metricsRoute } from "../../contract/index.js";
import { parseBearerHeader } from "../../core/bearer.js";
import { isLoopback } from "../bearer-auth.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import type { Metrics } from "../metrics.js";
import { sendProblem } from "../problem.js";

/**
 * `GET /metrics`: Prometheus text format (prom-client), for operators' dashboards and the
 * benchmark (which reads the storage counters before and after each case). Counts only: no
 * token, hash, id, name or address ever appears here, and routes are labelled by pattern. Still not for everyone: loopback clients only,
 * unless `METRICS_TOKEN` is set, and then that bearer token from anywhere.
 */
export function metricsRoutes(
  api: ContractApp,
  metrics: Metrics,
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
      reply.header("cache-control", "no-store").type(metrics.contentType);
      return metrics.exposition();
    },
  });
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
