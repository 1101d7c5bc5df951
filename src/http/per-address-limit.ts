import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import { AddressWindows } from "../core/address-windows.js";
import { limitAddress } from "./client-address.js";
import { sendProblem } from "./problem.js";

/**
 * An `onRequest` hook that limits a route to `maxPerMinute` requests per client address
 * (an IPv6 client by its /64), in fixed one-minute windows, and answers with the headers
 * GitHub's and @fastify/rate-limit's clients know: `x-ratelimit-limit`,
 * `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds until the window ends) on every
 * answer, 429 `rate_limited` with `retry-after` past the limit. Every request counts, the
 * refused ones too, before its body is read.
 *
 * Synchronous, for the routes a flood drives (public verification): @fastify/rate-limit's
 * asynchronous hook cost that route about a tenth of its CPU (docs/performance.md).
 */
export function perAddressLimit(
  maxPerMinute: number,
  now: () => number,
): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  const windows = new AddressWindows();
  const limit = String(maxPerMinute);
  return (request, reply, done) => {
    const at = now();
    const window = windows.count(limitAddress(request.ip), at);
    const reset = String(Math.ceil((window.end - at) / 1000));
    reply
      .header("x-ratelimit-limit", limit)
      .header("x-ratelimit-remaining", String(Math.max(0, maxPerMinute - window.count)))
      .header("x-ratelimit-reset", reset);
    if (window.count > maxPerMinute) {
      // Answered here; `done` is not called, so the route never runs.
      sendProblem(reply, "rate_limited", "Too many requests; slow down.", { "retry-after": reset });
      return;
    }
    done();
  };
}
