// What every adapter does, framework aside: read the Authorization header by the rules of
// Keyward's protected API (the same parser the server uses), verify the token with the
// client, and either hand the answer over or refuse exactly as the protected API does:
// same status, same `WWW-Authenticate` challenge, same RFC 9457 problem body.

import { hasQueryToken, parseBearerHeader } from "./bearer.js";
import type { KeywardClient, VerifiedToken } from "./client.js";
import { KeywardUnavailableError, MAX_RETRY_AFTER_SECONDS } from "./errors.js";

export interface KeywardGuardOptions {
  /** The client that verifies tokens (one per process, shared by every route). */
  client: KeywardClient;
  /** Scopes every request must carry; a token without one of them gets 403 insufficient_scope. */
  scopes?: readonly string[];
  /** Called when verification fails for a reason the caller cannot fix (Keyward down, bad service key). */
  onError?: (error: unknown) => void;
}

/** A refusal, ready to send. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  /** The problem, as JSON text. */
  body: string;
}

export type GuardResult = { ok: true; token: VerifiedToken } | { ok: false; refusal: Refusal };

/** What an adapter reads from its framework's request. */
export interface BearerRequest {
  /** The Authorization header's value (the first, when several). */
  authorization: string | undefined;
  /** How many Authorization headers the request carried. */
  authorizationCount: number;
  /** The request target (path and query), to refuse tokens sent in the URL. */
  url: string;
  /** The address of the client that sent the request. */
  clientAddress: string | undefined;
}

// The titles of Keyward's error codes (its error registry), for the codes an adapter answers.
const TITLES = {
  invalid_request: "The request is malformed",
  authentication_required: "Authentication is required",
  invalid_token: "The access token is invalid",
  insufficient_scope: "The credential does not allow this request",
  internal_error: "Internal server error",
  storage_unavailable: "Storage is unavailable",
} as const;

type Code = keyof typeof TITLES;

const STATUS: Record<Code, number> = {
  invalid_request: 400,
  authentication_required: 401,
  invalid_token: 401,
  insufficient_scope: 403,
  internal_error: 500,
  storage_unavailable: 503,
};

/** The problem body Keyward sends for `code`. */
export function problemText(code: Code, detail: string): string {
  return JSON.stringify({
    type: `urn:keyward:problem:${code}`,
    title: TITLES[code],
    status: STATUS[code],
    detail,
    code,
  });
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8";

function refusal(code: Code, detail: string, headers: Record<string, string>): Refusal {
  return {
    status: STATUS[code],
    headers: { "cache-control": "no-store", ...headers },
    body: problemText(code, detail),
  };
}

const CHALLENGE = 'Bearer realm="api"';
const challenge = (error: string) => ({ "www-authenticate": `${CHALLENGE}, error="${error}"` });

const MISSING = refusal(
  "authentication_required",
  "Send an API token as 'Authorization: Bearer <token>'.",
  { "www-authenticate": CHALLENGE },
);
const INVALID_TOKEN = refusal(
  "invalid_token",
  "The access token is invalid.",
  challenge("invalid_token"),
);
const TOKEN_IN_URL = refusal(
  "invalid_request",
  "Send the token in the Authorization header, never in the URL.",
  challenge("invalid_request"),
);
/** When Keyward gave no usable `Retry-After`. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/**
 * The `Retry-After` to send: whole seconds, at most MAX_RETRY_AFTER_SECONDS. The client's
 * own errors already carry such a number; this keeps any other (an error built elsewhere,
 * by a wrapper of the client) from reaching the header as `1e+30`, `-1` or `2.5`.
 */
function retryAfterHeader(seconds: number | undefined): string {
  if (seconds === undefined || !(seconds >= 0)) return String(DEFAULT_RETRY_AFTER_SECONDS);
  return String(Math.min(Math.ceil(seconds), MAX_RETRY_AFTER_SECONDS));
}

// Keyward unreachable: the host answers as Keyward does when its storage is, fail closed.
const UNAVAILABLE = (retryAfterSeconds: number | undefined): Refusal => ({
  status: 503,
  headers: { "retry-after": retryAfterHeader(retryAfterSeconds), "cache-control": "no-store" },
  body: problemText("storage_unavailable", "Storage is unavailable; try again shortly."),
});
const INTERNAL = refusal("internal_error", "Something went wrong on our side.", {});

/** The header's token, or the refusal a request without a usable one gets. */
function tokenOf(request: BearerRequest): { token: string } | { refusal: Refusal } {
  // Tokens are never accepted in the URL (it ends up in logs, history and Referer).
  if (hasQueryToken(request.url)) return { refusal: TOKEN_IN_URL };
  const parsed = parseBearerHeader(request.authorization, request.authorizationCount);
  switch (parsed.kind) {
    case "missing":
    case "other_scheme":
      return { refusal: MISSING };
    case "malformed":
      return {
        refusal: refusal(
          "invalid_request",
          `Malformed Authorization header: ${parsed.why}.`,
          challenge("invalid_request"),
        ),
      };
    case "token":
      return { token: parsed.token };
  }
}

/** What a verify answer means for a route that needs `scopes`. */
function decide(
  answer: Awaited<ReturnType<KeywardClient["verify"]>>,
  options: KeywardGuardOptions,
): GuardResult {
  if (!answer.valid) return { ok: false, refusal: INVALID_TOKEN };
  for (const scope of options.scopes ?? []) {
    if (!answer.scopes.includes(scope)) {
      return {
        ok: false,
        refusal: refusal(
          "insufficient_scope",
          `This route needs the scope "${scope}".`,
          challenge("insufficient_scope"),
        ),
      };
    }
  }
  return { ok: true, token: answer };
}

/**
 * The answer for a request that needs no call to Keyward (a refused header, a cached
 * token), synchronously; undefined when `guard` must ask.
 */
export function guardCached(
  request: BearerRequest,
  options: KeywardGuardOptions,
): GuardResult | undefined {
  const found = tokenOf(request);
  if ("refusal" in found) return { ok: false, refusal: found.refusal };
  const answer = options.client.cachedVerification(
    found.token,
    request.clientAddress === undefined ? {} : { clientAddress: request.clientAddress },
  );
  return answer === undefined ? undefined : decide(answer, options);
}

/** Authenticates one request: the verified token, or the refusal to send. */
export async function guard(
  request: BearerRequest,
  options: KeywardGuardOptions,
): Promise<GuardResult> {
  const found = tokenOf(request);
  if ("refusal" in found) return { ok: false, refusal: found.refusal };
  let answer: Awaited<ReturnType<KeywardClient["verify"]>>;
  try {
    answer = await options.client.verify(
      found.token,
      request.clientAddress === undefined ? {} : { clientAddress: request.clientAddress },
    );
  } catch (error) {
    options.onError?.(error);
    if (error instanceof KeywardUnavailableError) {
      return { ok: false, refusal: UNAVAILABLE(error.retryAfterSeconds) };
    }
    // A refused service key, a closed client or a bug: the host's fault, not the caller's.
    return { ok: false, refusal: INTERNAL };
  }
  return decide(answer, options);
}

/** Counts the Authorization headers in Node's raw header list ([name, value, ...]). */
export function countAuthorization(rawHeaders: readonly string[] | undefined): number {
  if (!rawHeaders) return 0;
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (
      name.length === 13 &&
      (name === "Authorization" ||
        name === "authorization" ||
        name.toLowerCase() === "authorization")
    )
      count++;
  }
  return count;
}
