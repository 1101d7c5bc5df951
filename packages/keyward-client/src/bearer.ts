/**
 * Reading an `Authorization` header as RFC 6750 asks, with the contract's rules:
 * the scheme is matched case-insensitively, one or more spaces separate it from the
 * token, surrounding whitespace is ignored; anything else that is not a single
 * b64token is a malformed request.
 */
export type BearerHeader =
  | { kind: "missing" }
  | { kind: "other_scheme" }
  | { kind: "malformed"; why: string }
  | { kind: "token"; token: string };

const MISSING: BearerHeader = { kind: "missing" };
const OTHER_SCHEME: BearerHeader = { kind: "other_scheme" };

// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="  (RFC 6750 §2.1)
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * @param value the header value, or undefined when absent
 * @param headerCount how many `Authorization` headers the request carried; Node keeps
 *   only the first, so the caller counts the raw headers.
 */
export function parseBearerHeader(value: string | undefined, headerCount: number): BearerHeader {
  if (headerCount > 1) return { kind: "malformed", why: "several Authorization headers" };
  if (value === undefined) return MISSING;
  // The form nearly every client sends, "Bearer <token>", read without copying the scheme.
  if (value.startsWith("Bearer ") && value.length > 7 && !isSpaceOrTab(value.charCodeAt(7))) {
    const token = value.slice(7);
    if (B64TOKEN.test(token)) return { kind: "token", token };
  }
  const trimmed = trimSpaces(value);
  if (trimmed.length === 0) return { kind: "malformed", why: "empty header" };

  let schemeEnd = 0;
  while (schemeEnd < trimmed.length) {
    const c = trimmed.charCodeAt(schemeEnd);
    if (c === 32 || c === 9) break;
    schemeEnd++;
  }
  const scheme = trimmed.slice(0, schemeEnd);
  if (scheme.length !== 6 || scheme.toLowerCase() !== "bearer") return OTHER_SCHEME;
  if (schemeEnd === trimmed.length) return { kind: "malformed", why: "empty token" };

  let tokenStart = schemeEnd;
  while (tokenStart < trimmed.length) {
    const c = trimmed.charCodeAt(tokenStart);
    if (c === 9) return { kind: "malformed", why: "tab separator" };
    if (c !== 32) break;
    tokenStart++;
  }
  const token = trimmed.slice(tokenStart);
  if (!B64TOKEN.test(token)) {
    return {
      kind: "malformed",
      why: "not a single b64token (extra words, commas or bad characters)",
    };
  }
  return { kind: "token", token };
}

// Surrounding whitespace means spaces and tabs around the whole value (HTTP OWS).
function trimSpaces(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isSpaceOrTab(value.charCodeAt(start))) start++;
  while (end > start && isSpaceOrTab(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isSpaceOrTab(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * True when a request target (path and query) carries a token in the URL: an
 * `access_token` query parameter (RFC 6750 §2.3, which the contract refuses), whatever its
 * spelling to a query parser.
 */
export function hasQueryToken(url: string): boolean {
  // `access_token[]=` and `access_token[0]=` are the same parameter to the query parsers
  // of PHP, Rails and qs, so a proxy or host in front may read them as one.
  if (
    url.includes("access_token=") ||
    url.includes("access_token&") ||
    url.includes("access_token[") ||
    url.endsWith("access_token")
  ) {
    return true;
  }
  // The same name with any of its characters percent-encoded (access%5Ftoken) is the same
  // parameter to whatever reads the query, and access_token%3D<token> a token in the URL
  // all the same; decoded only when the query has a '%' at all.
  const query = url.indexOf("?");
  if (query === -1 || !url.includes("%", query)) return false;
  for (const name of new URLSearchParams(url.slice(query + 1)).keys()) {
    if (
      name === "access_token" ||
      name.startsWith("access_token=") ||
      name.startsWith("access_token[")
    ) {
      return true;
    }
  }
  return false;
}
