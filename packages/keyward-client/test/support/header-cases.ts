// One table of requests to a protected route, with what Keyward's protected API answers.
// The adapters' tests run it against each framework; the conformance test runs it against
// Keyward's own GET /api too and compares the answers byte for byte.

export interface HeaderCase {
  name: string;
  /** The path, given the live token (for tokens in the query). */
  path: (token: string) => string;
  /** The Authorization header lines, given the live token. */
  authorization: (token: string) => (string | Buffer)[];
  status: number;
  /** The WWW-Authenticate header, or undefined when there is none. */
  challenge: string | undefined;
  /** The problem's code, for refusals. */
  code: string | undefined;
}

const BARE = 'Bearer realm="api"';
const INVALID_REQUEST = 'Bearer realm="api", error="invalid_request"';
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"';
const INSUFFICIENT_SCOPE = 'Bearer realm="api", error="insufficient_scope"';

const api = () => "/api";

function ok(name: string, authorization: (t: string) => string): HeaderCase {
  return {
    name,
    path: api,
    authorization: (t) => [authorization(t)],
    status: 200,
    challenge: undefined,
    code: undefined,
  };
}

function refused(
  name: string,
  authorization: (t: string) => (string | Buffer)[],
  status: number,
  challenge: string,
  code: string,
  path: (t: string) => string = api,
): HeaderCase {
  return { name, path, authorization, status, challenge, code };
}

/** A well-formed token with a checksum that does not match. */
function badChecksum(token: string): string {
  return `${token.slice(0, -1)}${token.endsWith("0") ? "1" : "0"}`;
}

/** A made-up token with a correct checksum: only Keyward can tell it is not real. */
export type MadeUp = () => string;

export function headerCases(madeUp: MadeUp): HeaderCase[] {
  return [
    ok("Bearer <token>", (t) => `Bearer ${t}`),
    ok("lower-case scheme", (t) => `bearer ${t}`),
    ok("mixed-case scheme bEaReR", (t) => `bEaReR ${t}`),
    ok("1000 spaces between scheme and token", (t) => `Bearer${" ".repeat(1000)}${t}`),
    ok("tabs around the whole value", (t) => `\t\tBearer ${t}\t`),
    ok("spaces around the whole value", (t) => `   Bearer ${t}   `),
    refused("no Authorization header", () => [], 401, BARE, "authentication_required"),
    refused("Basic scheme", () => ["Basic dXNlcjpwYXNz"], 401, BARE, "authentication_required"),
    refused("Token scheme", (t) => [`Token ${t}`], 401, BARE, "authentication_required"),
    refused("Bearer: with a colon", (t) => [`Bearer: ${t}`], 401, BARE, "authentication_required"),
    refused(
      "a no-break space (0xA0) as separator",
      (t) => [Buffer.from(`Bearer\u00a0${t}`, "latin1")],
      401,
      BARE,
      "authentication_required",
    ),
    refused("an empty value", () => [""], 400, INVALID_REQUEST, "invalid_request"),
    refused("only the scheme", () => ["Bearer"], 400, INVALID_REQUEST, "invalid_request"),
    refused(
      "only spaces after the scheme",
      () => [`Bearer${" ".repeat(50)}`],
      400,
      INVALID_REQUEST,
      "invalid_request",
    ),
    refused("a tab separator", (t) => [`Bearer\t${t}`], 400, INVALID_REQUEST, "invalid_request"),
    refused(
      "a tab after several spaces",
      (t) => [`Bearer   \t${t}`],
      400,
      INVALID_REQUEST,
      "invalid_request",
    ),
    refused("a trailing comma", (t) => [`Bearer ${t},`], 400, INVALID_REQUEST, "invalid_request"),
    refused("a quoted token", (t) => [`Bearer "${t}"`], 400, INVALID_REQUEST, "invalid_request"),
    refused(
      "an auth-param after the token",
      (t) => [`Bearer ${t} realm="api"`],
      400,
      INVALID_REQUEST,
      "invalid_request",
    ),
    refused(
      "a space inside the token",
      (t) => [`Bearer ${t.slice(0, 10)} ${t.slice(10)}`],
      400,
      INVALID_REQUEST,
      "invalid_request",
    ),
    refused(
      "a latin1 byte (0xE9) after the token",
      (t) => [Buffer.from(`Bearer ${t}\u00e9`, "latin1")],
      400,
      INVALID_REQUEST,
      "invalid_request",
    ),
    refused(
      "two Authorization headers",
      (t) => [`Bearer ${t}`, `Bearer ${t}`],
      400,
      INVALID_REQUEST,
      "invalid_request",
    ),
    refused(
      "valid first, Basic second",
      (t) => [`Bearer ${t}`, "Basic dXNlcjpwYXNz"],
      400,
      INVALID_REQUEST,
      "invalid_request",
    ),
    refused(
      "?access_token=<token>",
      () => [],
      400,
      INVALID_REQUEST,
      "invalid_request",
      (t) => `/api?access_token=${t}`,
    ),
    refused(
      "?access_token with a header too",
      (t) => [`Bearer ${t}`],
      400,
      INVALID_REQUEST,
      "invalid_request",
      (t) => `/api?x=1&access_token=${t}`,
    ),
    refused(
      "?access%5Ftoken=<token> (the name percent-encoded)",
      () => [],
      400,
      INVALID_REQUEST,
      "invalid_request",
      (t) => `/api?access%5Ftoken=${t}`,
    ),
    refused(
      "?access_token%3D<token> (the '=' encoded)",
      () => [],
      400,
      INVALID_REQUEST,
      "invalid_request",
      (t) => `/api?access_token%3D${t}`,
    ),
    refused(
      "?access_token[]=<token>",
      () => [],
      400,
      INVALID_REQUEST,
      "invalid_request",
      (t) => `/api?access_token[]=${t}`,
    ),
    refused(
      "?token=<token> (not a credential)",
      () => [],
      401,
      BARE,
      "authentication_required",
      (t) => `/api?token=${t}`,
    ),
    refused("a short made-up token", () => ["Bearer x"], 401, INVALID_TOKEN, "invalid_token"),
    refused(
      "a bad checksum",
      (t) => [`Bearer ${badChecksum(t)}`],
      401,
      INVALID_TOKEN,
      "invalid_token",
    ),
    refused(
      "a made-up token with a valid checksum",
      () => [`Bearer ${madeUp()}`],
      401,
      INVALID_TOKEN,
      "invalid_token",
    ),
    refused(
      "a token one character too long",
      (t) => [`Bearer ${t}A`],
      401,
      INVALID_TOKEN,
      "invalid_token",
    ),
    refused(
      "a valid token without the route's scope",
      (t) => [`Bearer ${t}`],
      403,
      INSUFFICIENT_SCOPE,
      "insufficient_scope",
      () => "/api/scopes/write",
    ),
    {
      name: "a valid token with the route's scope",
      path: () => "/api/scopes/read",
      authorization: (t) => [`Bearer ${t}`],
      status: 200,
      challenge: undefined,
      code: undefined,
    },
  ];
}
