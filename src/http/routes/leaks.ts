import type { FastifyInstance, FastifyRequest } from "fastify";
import { reportGitHubLeaksRoute, reportLeaksRoute } from "../../contract/index.js";
import type { ServiceDeps } from "../../services/deps.js";
import { reportGitHubMatches, reportLeakedTokens } from "../../services/leaks.js";
import { compressedBodyRefusal } from "../content-encoding.js";
import { type ContractApp, contractApp, routeOptions } from "../contract-route.js";
import { type GitHubKeys, verifyGitHubSignature } from "../github-secret-scanning.js";
import { sendProblem } from "../problem.js";

export interface LeakRouteOptions {
  rateLimitPerMinute: number;
  /** GitHub's secret-scanning keys; the GitHub route answers 404 without them. */
  githubKeys?: GitHubKeys | undefined;
}

/**
 * `POST /api/v1/leaks/github`: GitHub's secret-scanning partner format. In a scope of its
 * own, whose JSON parser keeps the raw body: the signature covers the bytes as sent.
 */
export async function githubLeakRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  options: LeakRouteOptions,
): Promise<void> {
  await app.register(async (scope) => {
    const rawBodies = new WeakMap<FastifyRequest, string>();
    const parseJson = scope.getDefaultJsonParser("error", "error");
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
      const refusal = compressedBodyRefusal(request);
      if (refusal) {
        done(refusal);
        return;
      }
      rawBodies.set(request, body as string);
      // Fastify's own JSON parser (prototype-poisoning checks included) answers through
      // `done`, synchronously; its typing allows a promise, hence `void`.
      void parseJson(request, body as string, done);
    });
    contractApp(scope).route({
      ...routeOptions(reportGitHubLeaksRoute),
      config: { rateLimit: { max: options.rateLimitPerMinute, timeWindow: 60_000 } },
      bodyLimit: 300_000,
      handler: async (request, reply) => {
        const keys = options.githubKeys;
        if (keys === undefined) {
          return sendProblem(
            reply,
            "not_found",
            "GitHub secret scanning is not configured on this server (GITHUB_SECRET_SCANNING_KEYS_FILE).",
          );
        }
        const verified = verifyGitHubSignature(
          keys,
          request.headers["github-public-key-identifier"],
          request.headers["github-public-key-signature"],
          rawBodies.get(request) ?? "",
        );
        if (!verified) {
          return sendProblem(
            reply,
            "invalid_signature",
            "Send Github-Public-Key-Identifier and Github-Public-Key-Signature: an ECDSA P-256 signature of the raw body by a configured GitHub key.",
          );
        }
        const labels = await reportGitHubMatches(deps, request.body, { ip: request.ip });
        return reply.code(200).header("cache-control", "no-store").send(labels);
      },
    });
  });
}

/**
 * `POST /api/v1/leaks`: anyone (a secret scanner, a user who found a token in a
 * public repository) reports tokens; valid ones are revoked. Public, rate-limited,
 * and the same answer whatever the tokens were.
 */
export function leakRoutes(api: ContractApp, deps: ServiceDeps, options: LeakRouteOptions): void {
  api.route({
    ...routeOptions(reportLeaksRoute),
    config: { rateLimit: { max: options.rateLimitPerMinute, timeWindow: 60_000 } },
    // Room for a full report of the longest tokens the schema accepts.
    bodyLimit: 300_000,
    handler: async (request, reply) => {
      const result = await reportLeakedTokens(deps, request.body.tokens, { ip: request.ip });
      return reply.code(202).header("cache-control", "no-store").send(result);
    },
  });
}
