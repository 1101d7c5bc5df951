// What every adapter does, framework aside: read the Authorization header by the rules of
// Keyward's protected API (the same parser the server uses), check the client's address,
// verify the token with the client, and either hand the answer over or refuse exactly as
// the protected API does: same status, same `WWW-Authenticate` challenge, same RFC 9457
// problem body.

import { hasQueryToken, parseBearerHeader } from "./bearer.js";
import type { KeywardClient, VerifiedToken, VerifyOptions } from "./client.js";
import { clientAddressToSend } from "./client-address.js";
import { KeywardError, KeywardUnavailableError, MAX_RETRY_AFTER_SECONDS } from "./errors.js";

export interface KeywardGuardOptions {
  /** The client that verifies tokens (one per process, shared by every route). */
  client: KeywardClient;
  /** Scopes every request must carry; a token without one of them gets 403 insufficient_scope. */
  scopes?: readonly string[];
  /**
   * Called when verification fails for a reason the caller cannot fix (Keyward down, bad
   * service key, a `clientAddress` function that throws), and at most once a minute when the client's
   * address is not an IP address (a KeywardError, code `invalid_client_address`).
   */
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
  /**
   * Reads the address of the client that sent the request (the adapter's `clientAddress`
   * option, or the framework's own): an IP address, or undefined for none. Called once,
   * and only for a request that carries a token; it may throw.
   */
  clientAddress: () => string | undefined;
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

/**
 * Addresses that are not one, reported at most once a minute per guard (with how many
 * came since the last report): a client can send such values at will and would fill the
 * host's logs, yet a host whose proxy setting turns bad later must still hear of it.
 */
const BAD_ADDRESS_REPORT_INTERVAL_MS = 60_000;
const badAddresses = new WeakMap<KeywardGuardOptions, { reportedAt: number; since: number }>();

/** What the host's code returned for an address, for a report: quoted and cut short. */
function describeAddress(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value.slice(0, 100)) : `a ${typeof value}`;
}

/** What to verify the header's token with, or the refusal a request gets before that. */
function verifyOptionsOf(
  request: BearerRequest,
  options: KeywardGuardOptions,
): { verifyOptions: VerifyOptions } | { refusal: Refusal } {
  let given: unknown;
  try {
    given = request.clientAddress();
  } catch (error) {
    // The host's code failed, not the caller's request.
    options.onError?.(
      new KeywardError("client_address_failed", "The clientAddress function threw.", {
        cause: error,
      }),
    );
    return { refusal: INTERNAL };
  }
  // None: Keyward checks the address of the server that asks it.
  if (given === undefined) return { verifyOptions: {} };
  const address = typeof given === "string" ? clientAddressToSend(given) : undefined;
  if (address !== undefined) return { verifyOptions: { clientAddress: address } };
  // Fail closed: a token with an address allowlist could not be checked, and any other
  // token is refused too rather than let the caller choose when the check applies. Never
  // sent: Keyward would refuse it, and each value would be a call of its own.
  // A log's pace, not a verification's: the wall clock is the right one.
  const now = Date.now();
  const seen = badAddresses.get(options);
  if (seen !== undefined && now - seen.reportedAt < BAD_ADDRESS_REPORT_INTERVAL_MS) {
    seen.since++;
  } else {
    const more =
      seen === undefined || seen.since === 0
        ? ""
        : ` (and ${seen.since} more since the last report)`;
    badAddresses.set(options, { reportedAt: now, since: 0 });
    options.onError?.(
      new KeywardError(
        "invalid_client_address",
        `The client's address is ${describeAddress(given)}, not an IP address: the request ` +
          `was refused as an invalid token${more}. Check the clientAddress option or the ` +
          "proxy setting. Reported at most once a minute.",
      ),
    );
  }
  return { refusal: INVALID_TOKEN };
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
 * Authenticates one request: the verified token, or the refusal to send. Synchronous when
 * no call to Keyward is needed (a refused header or address, a cached answer), so that an
 * adapter can answer those without a promise; a promise otherwise.
 */
export function guard(
  request: BearerRequest,
  options: KeywardGuardOptions,
): GuardResult | Promise<GuardResult> {
  const found = tokenOf(request);
  if ("refusal" in found) return { ok: false, refusal: found.refusal };
  const checked = verifyOptionsOf(request, options);
  if ("refusal" in checked) return { ok: false, refusal: checked.refusal };
  const cached = options.client.cachedVerification(found.token, checked.verifyOptions);
  if (cached !== undefined) return decide(cached, options);
  return verifyAndDecide(found.token, checked.verifyOptions, options);
}

async function verifyAndDecide(
  token: string,
  verifyOptions: VerifyOptions,
  options: KeywardGuardOptions,
): Promise<GuardResult> {
  let answer: Awaited<ReturnType<KeywardClient["verify"]>>;
  try {
    answer = await options.client.verify(token, verifyOptions);
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
