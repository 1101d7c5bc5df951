import type { FastifyReply, FastifyRequest } from "fastify";
import { PROBLEM_MEDIA_TYPE } from "../contract/index.js";
import { hasQueryToken, parseBearerHeader } from "../core/bearer.js";
import type { SecretRecord } from "../core/model.js";
import type { TokenVerifier, VerifyResult } from "../services/verifier.js";
import type { AbuseGuard } from "./abuse.js";
import { limitAddress } from "./client-address.js";
import { problemBody } from "./problem.js";

const CHALLENGE = 'Bearer realm="api"';
const INVALID_REQUEST = 'Bearer realm="api", error="invalid_request"';
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"';
const INSUFFICIENT_SCOPE = 'Bearer realm="api", error="insufficient_scope"';

// One body for every kind of invalid token, built once: a caller learns nothing about
// why its token was refused. The reason is logged server-side instead.
const INVALID_TOKEN_BODY = JSON.stringify(
  problemBody("invalid_token", "The access token is invalid."),
);
const MISSING_BODY = JSON.stringify(
  problemBody("authentication_required", "Send an API token as 'Authorization: Bearer <token>'."),
);

const TOO_MANY_FAILURES_BODY = JSON.stringify(
  problemBody("rate_limited", "Too many invalid tokens from this address; try again later."),
);

/**
 * The query string of a request's target, `?` included, or "" when it has none: where a
 * token in the URL is looked for. Not the path, whose segments (a scope's name, a host's
 * user id) may be anything, `access_token` included.
 */
export function queryOf(url: string | undefined): string {
  const start = url === undefined ? -1 : url.indexOf("?");
  return start === -1 || url === undefined ? "" : url.slice(start);
}

export function countAuthorizationHeaders(request: FastifyRequest): number {
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === "authorization") count++;
  }
  return count;
}

function send(reply: FastifyReply, status: number, challenge: string, body: string): undefined {
  reply
    .code(status)
    .header("www-authenticate", challenge)
    .header("cache-control", "no-store")
    .type(PROBLEM_MEDIA_TYPE)
    .send(body);
  return undefined;
}

/** What the protected API needs besides the verifier. */
export interface BearerPolicy {
  abuse: AbuseGuard;
  /** Refuse bearer tokens that arrive over plain HTTP from a non-loopback client. */
  requireHttps: boolean;
  /** Called once per request that sent a valid token in the clear. */
  onExposed(token: SecretRecord, request: FastifyRequest): Promise<void>;
}

const HTTPS_REQUIRED_BODY = JSON.stringify(
  problemBody(
    "https_required",
    "API tokens must be sent over HTTPS. If this token was valid, regenerate it.",
  ),
);

export function isLoopback(ip: string): boolean {
  return ip.startsWith("127.") || ip === "::1" || ip.startsWith("::ffff:127.");
}

/**
 * Authenticates a request to the protected API by its bearer token, answering as
 * RFC 6750 and the contract say when it cannot. Returns the token's record, or
 * undefined once the refusal has been sent: at once when memory decides (a cached token,
 * a malformed one), as a promise when storage is read (see `TokenVerifier.verifyNow`).
 */
export function authenticateBearer(
  request: FastifyRequest,
  reply: FastifyReply,
  verifier: TokenVerifier,
  policy: BearerPolicy,
): SecretRecord | undefined | Promise<SecretRecord | undefined> {
  const abuse = policy.abuse;
  const blockedMs = abuse.invalidTokens.blockedFor(limitAddress(request.ip), Date.now());
  if (blockedMs > 0) {
    reply.header("retry-after", String(Math.ceil(blockedMs / 1000)));
    return send(reply, 429, CHALLENGE, TOO_MANY_FAILURES_BODY);
  }
  // Tokens are never accepted in the URL (it ends up in logs, history and Referer).
  if (hasQueryToken(queryOf(request.raw.url))) {
    return send(
      reply,
      400,
      INVALID_REQUEST,
      JSON.stringify(
        problemBody(
          "invalid_request",
          "Send the token in the Authorization header, never in the URL.",
        ),
      ),
    );
  }
  const parsed = parseBearerHeader(
    request.headers.authorization,
    countAuthorizationHeaders(request),
  );
  switch (parsed.kind) {
    case "missing":
    case "other_scheme":
      return send(reply, 401, CHALLENGE, MISSING_BODY);
    case "malformed":
      return send(
        reply,
        400,
        INVALID_REQUEST,
        JSON.stringify(
          problemBody("invalid_request", `Malformed Authorization header: ${parsed.why}.`),
        ),
      );
    case "token": {
      const result = verifier.verifyNow(parsed.token, request.ip);
      return result instanceof Promise
        ? result.then((settled) => concludeBearer(settled, request, reply, policy))
        : concludeBearer(result, request, reply, policy);
    }
  }
}

/** What a verified presentation gets: its record, or a refusal sent. */
function concludeBearer(
  result: VerifyResult,
  request: FastifyRequest,
  reply: FastifyReply,
  policy: BearerPolicy,
): SecretRecord | undefined | Promise<SecretRecord | undefined> {
  if (policy.requireHttps && request.protocol !== "https" && !isLoopback(request.ip)) {
    // The token crossed the network in the clear: refuse it whatever it is, and if it
    // was valid, tell its owner it may have been read on the way.
    if (!result.ok) return send(reply, 403, INVALID_REQUEST, HTTPS_REQUIRED_BODY);
    return policy
      .onExposed(result.token, request)
      .then(() => send(reply, 403, INVALID_REQUEST, HTTPS_REQUIRED_BODY));
  }
  if (result.ok) return result.token;
  reply.tokenRefusal = { reason: result.reason, tokenId: result.tokenId };
  if (policy.abuse.invalidTokens.recordFailure(limitAddress(request.ip), Date.now())) {
    request.log.warn(
      { blockedAddress: request.ip },
      "too many invalid bearer tokens: address refused for a while",
    );
  }
  return send(reply, 401, INVALID_TOKEN, INVALID_TOKEN_BODY);
}

export function refuseInsufficientScope(reply: FastifyReply, scope: string): undefined {
  return send(
    reply,
    403,
    INSUFFICIENT_SCOPE,
    JSON.stringify(problemBody("insufficient_scope", `This route needs the scope "${scope}".`)),
  );
}
