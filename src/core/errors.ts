/**
 * The one registry of error codes. Each code is a stable snake_case string that
 * clients may branch on; `status` is its HTTP answer and `title` its short,
 * human summary. docs/errors.md documents every code, and a test fails when the
 * two disagree.
 */
export const errorRegistry = {
  validation_failed: { status: 400, title: "The request is not valid" },
  invalid_json: { status: 400, title: "The request body is not valid JSON" },
  invalid_request: { status: 400, title: "The request is malformed" },
  policy_violation: { status: 400, title: "The application's token policy does not allow this" },
  authentication_required: { status: 401, title: "Authentication is required" },
  invalid_token: { status: 401, title: "The access token is invalid" },
  invalid_credentials: { status: 401, title: "The email or password is incorrect" },
  invalid_signature: { status: 401, title: "The request's signature does not verify" },
  weak_password: { status: 400, title: "That password is too common or too short" },
  two_factor_required: {
    status: 401,
    title: "Enter the code from your authenticator app (or a recovery code)",
  },
  invalid_two_factor_code: {
    status: 401,
    title: "The two-factor code is not right or was already used",
  },
  reauthentication_required: {
    status: 403,
    title: "Enter your password again to do this",
  },
  email_not_confirmed: {
    status: 403,
    title: "Confirm your email address first",
  },
  csrf_rejected: { status: 403, title: "Cross-site request rejected" },
  insufficient_scope: { status: 403, title: "The credential does not allow this request" },
  https_required: { status: 403, title: "API tokens must be sent over HTTPS" },
  forbidden: { status: 403, title: "Your role does not allow this action" },
  not_found: { status: 404, title: "Not found" },
  user_not_found: { status: 404, title: "No such user" },
  email_taken: { status: 409, title: "An account with that email already exists" },
  token_name_taken: { status: 409, title: "You already have an active token with that name" },
  token_limit_reached: { status: 409, title: "You have reached the limit of active tokens" },
  token_not_active: { status: 409, title: "The token is revoked or expired" },
  two_factor_already_enabled: { status: 409, title: "Two-factor authentication is already on" },
  already_member: { status: 409, title: "The user is already a member" },
  cannot_remove_owner: { status: 409, title: "The owner cannot be removed" },
  user_disabled: { status: 409, title: "The user is disabled" },
  link_expired: { status: 410, title: "The link has expired or was already used" },
  request_timeout: { status: 408, title: "The request did not arrive in time" },
  payload_too_large: { status: 413, title: "The request body is too large" },
  expectation_failed: { status: 417, title: "The request's Expect header cannot be met" },
  misdirected_request: { status: 421, title: "This server does not answer for that host" },
  unsupported_media_type: { status: 415, title: "The request body must be application/json" },
  rate_limited: { status: 429, title: "Too many requests" },
  headers_too_large: { status: 431, title: "The request line or headers are too large" },
  too_many_streams: { status: 429, title: "Too many open event streams for this key" },
  internal_error: { status: 500, title: "Internal server error" },
  storage_unavailable: { status: 503, title: "Storage is unavailable" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorRegistry;

/**
 * The command line's exit codes (sysexits.h where one fits), and below, which one each
 * error code gets: the CLI's counterpart of the HTTP status above. docs/operations.md
 * lists them.
 */
export const EXIT_CODES = {
  ok: 0,
  /** A failure without a better code; `keyward scan` found a token. */
  failure: 1,
  /** Bad arguments or options. */
  usage: 64,
  /** The input is not valid (a value, a file to import), or the change conflicts. */
  data: 65,
  /** What the command names does not exist. */
  notFound: 66,
  /** Storage cannot be reached or is locked. */
  unavailable: 69,
  internal: 70,
  /** Not allowed. */
  noPermission: 77,
  /** The configuration (environment variables) is invalid. */
  config: 78,
} as const;

export function exitCodeOf(code: ErrorCode): number {
  const status: number = errorRegistry[code].status;
  if (status === 404) return EXIT_CODES.notFound;
  if (status === 401 || status === 403) return EXIT_CODES.noPermission;
  if (status === 503 || status === 429) return EXIT_CODES.unavailable;
  if (status >= 500) return EXIT_CODES.internal;
  return EXIT_CODES.data;
}

export const errorCodes = Object.keys(errorRegistry) as ErrorCode[];

/**
 * A fault or a refusal with a stable code. `detail` is shown to the client, so it
 * must never contain a secret, SQL or a stack trace.
 */
export class KeywardError extends Error {
  readonly code: ErrorCode;
  readonly detail: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    detail?: string,
    options?: { headers?: Record<string, string>; cause?: unknown },
  ) {
    super(detail ?? errorRegistry[code].title, { cause: options?.cause });
    this.name = "KeywardError";
    this.code = code;
    this.detail = detail ?? errorRegistry[code].title;
    this.headers = options?.headers ?? {};
  }

  get status(): number {
    return errorRegistry[this.code].status;
  }
}

/** Raised by storage when the store cannot be reached or is locked; answered with 503. */
export class StorageUnavailableError extends KeywardError {
  constructor(cause?: unknown) {
    super("storage_unavailable", "Storage is unavailable; try again shortly.", {
      headers: { "retry-after": "5" },
      cause,
    });
    this.name = "StorageUnavailableError";
  }
}
