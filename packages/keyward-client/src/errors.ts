import type { Problem } from "./generated/contract.js";

/** Every error keyward-client throws. `code` is a stable snake_case string. */
export class KeywardError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KeywardError";
    this.code = code;
  }
}

/**
 * The longest wait a KeywardUnavailableError reports, and the adapters send on, in
 * seconds: a `Retry-After` of days (a proxy's mistake, a bad clock) would have the host's
 * callers stay away that long.
 */
export const MAX_RETRY_AFTER_SECONDS = 3600;

/**
 * Keyward could not be asked: a network failure, a timeout, a 5xx answer or an answer
 * that is not what the contract says. A verification that throws this never means valid.
 */
export class KeywardUnavailableError extends KeywardError {
  /** The HTTP status when Keyward answered (5xx), undefined for network failures. */
  readonly status: number | undefined;
  /**
   * Whole seconds Keyward asked to wait (its `Retry-After`, in seconds or as a date), at
   * most MAX_RETRY_AFTER_SECONDS, when it said.
   */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    message: string,
    options: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super("keyward_unavailable", message, { cause: options.cause });
    this.name = "KeywardUnavailableError";
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Keyward refused the service key (401): it is wrong, revoked or not a service key. */
export class KeywardAuthError extends KeywardError {
  readonly status = 401;
  readonly problem: Problem | undefined;

  constructor(problem: Problem | undefined) {
    super(
      problem?.code ?? "invalid_token",
      "Keyward refused the service key: check that it is a current service key of this application.",
    );
    this.name = "KeywardAuthError";
    this.problem = problem;
  }
}

/** Keyward refused the request itself (a 4xx problem other than 401), e.g. `user_not_found`. */
export class KeywardRequestError extends KeywardError {
  readonly status: number;
  readonly detail: string;
  readonly problem: Problem | undefined;

  constructor(status: number, problem: Problem | undefined) {
    const code = problem?.code ?? `http_${status}`;
    const detail = problem?.detail ?? `Keyward answered ${status}.`;
    super(code, detail);
    this.name = "KeywardRequestError";
    this.status = status;
    this.detail = detail;
    this.problem = problem;
  }
}
