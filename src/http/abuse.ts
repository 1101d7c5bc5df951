import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { FastifyRateLimitStore } from "@fastify/rate-limit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { KeywardError } from "../core/errors.js";
import type { CounterStore } from "../services/ports.js";
import { InvalidTokenLimiter } from "./invalid-token-limiter.js";

export interface AbuseLimits {
  signinFailuresPerAccountPerHour: number;
  /** Below the per-account limit, so one address alone never reaches it. */
  signinFailuresPerAccountAndAddressPerHour: number;
  signupsPerAddressPerHour: number;
  signinFailuresPerAddressPerHour: number;
  bearerFailuresPerAddressPerMinute: number;
  tokenCreationsPerUserPerHour: number;
}

const HOUR_MS = 3_600_000;

type Limiter = ReturnType<FastifyInstance["createRateLimit"]>;

type StoreCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;
interface RateLimitStore {
  incr(key: string, callback: StoreCallback, timeWindow: number, max: number): void;
  read(key: string, callback: StoreCallback, timeWindow: number, max: number): void;
  child(options: RateLimitParams): RateLimitStore;
}
interface RateLimitParams {
  continueExceeding?: boolean;
  exponentialBackoff?: boolean;
  cache?: number;
}

// The library's own in-memory store, for the counters that stay per process.
const LocalStore = createRequire(import.meta.url)(
  "@fastify/rate-limit/store/LocalStore.js",
) as new (
  continueExceeding: boolean | undefined,
  exponentialBackoff: boolean | undefined,
  cache: number | undefined,
) => RateLimitStore;

/** Counter keys kept in the shared store when there is one: low-volume, security-relevant. */
const SHARED_KEY_PREFIXES = ["account:", "signin:", "create:", "pair:", "signup:", "mail:"];

/** Emails with a link (reset, confirmation) sent to one address per hour, at most. */
export const LINK_EMAILS_PER_ADDRESS_PER_HOUR = 5;

/**
 * A store for @fastify/rate-limit that keeps failed sign-ins and token creations in
 * storage shared by every process (PostgreSQL), so those limits hold across processes,
 * and everything else (invalid bearer tokens, verify and leak calls, which can come in
 * floods) in the library's in-memory store, so a flood costs no storage write.
 */
export function rateLimitStoreFor(shared: CounterStore | undefined) {
  return class KeywardRateLimitStore implements FastifyRateLimitStore {
    private readonly local: RateLimitStore;

    constructor(private readonly params: RateLimitParams) {
      this.local = new LocalStore(
        params.continueExceeding,
        params.exponentialBackoff,
        params.cache,
      );
    }

    incr(key: string, callback: StoreCallback, timeWindow: number, max: number): void {
      if (!shared || !isShared(key)) {
        this.local.incr(key, callback, timeWindow, max);
        return;
      }
      const now = Date.now();
      shared.increment(key, timeWindow, now).then(
        (r) => callback(null, { current: r.count, ttl: r.windowStart + timeWindow - now }),
        (error: Error) => callback(error),
      );
    }

    read(key: string, callback: StoreCallback, timeWindow: number, max: number): void {
      if (!shared || !isShared(key)) {
        this.local.read(key, callback, timeWindow, max);
        return;
      }
      const now = Date.now();
      shared.read(key, timeWindow, now).then(
        (r) =>
          callback(null, {
            current: r.count,
            ttl: r.count === 0 ? 0 : r.windowStart + timeWindow - now,
          }),
        (error: Error) => callback(error),
      );
    }

    // The library passes the merged limiter options; only the LocalStore settings matter here.
    child(options: Parameters<FastifyRateLimitStore["child"]>[0]): KeywardRateLimitStore {
      return new KeywardRateLimitStore({ ...this.params, ...(options as RateLimitParams) });
    }
  };
}

function isShared(key: string): boolean {
  return SHARED_KEY_PREFIXES.some((prefix) => key.startsWith(prefix));
}

type LimiterState = Awaited<ReturnType<Limiter>>;

/** The limit is reached: the state of a read that did not count (so `remaining` is 0). */
function isOver(state: LimiterState): state is Extract<LimiterState, { isAllowed: false }> {
  return !state.isAllowed && state.remaining === 0 && state.ttl > 0;
}

function tooMany(ttlMs: number, what: string): KeywardError {
  const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
  return new KeywardError("rate_limited", `Too many ${what}; try again in ${seconds} s.`, {
    headers: { "retry-after": String(seconds) },
  });
}

/**
 * Counters for abuse: failed sign-ins per account and per address, failed bearer
 * attempts per address, token creations per user. Counting is @fastify/rate-limit's,
 * but for invalid bearer tokens (see InvalidTokenLimiter); only failures are counted where that is what matters, so a user's own successful
 * traffic never locks them out.
 */
export class AbuseGuard {
  private readonly signinByAccount: Limiter;
  private readonly signinByPair: Limiter;
  private readonly signinByAddress: Limiter;
  private readonly signupsByAddress: Limiter;
  /** Invalid bearer tokens per address; read first on the protected API. */
  readonly invalidTokens: InvalidTokenLimiter;
  private readonly creationsByUser: Limiter;
  /** Wrong current passwords typed by a signed-in user (password change, reauthentication). */
  private readonly confirmationsByUser: Limiter;
  /** Emails with a link asked for one email address: a mailbox cannot be flooded. */
  private readonly linkEmailsByAddress: Limiter;

  constructor(app: FastifyInstance, limits: AbuseLimits) {
    this.signinByAccount = app.createRateLimit({
      max: limits.signinFailuresPerAccountPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `account:${signinEmail(request)}`,
    });
    this.signinByPair = app.createRateLimit({
      max: limits.signinFailuresPerAccountAndAddressPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `pair:${signinEmail(request)}:${request.ip}`,
    });
    this.signupsByAddress = app.createRateLimit({
      max: limits.signupsPerAddressPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `signup:${request.ip}`,
    });
    this.signinByAddress = app.createRateLimit({
      max: limits.signinFailuresPerAddressPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `signin:${request.ip}`,
    });
    this.confirmationsByUser = app.createRateLimit({
      max: limits.signinFailuresPerAccountPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `account:user:${request.user?.id ?? request.ip}`,
    });
    this.linkEmailsByAddress = app.createRateLimit({
      max: LINK_EMAILS_PER_ADDRESS_PER_HOUR,
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `mail:${linkEmailKey(request)}`,
    });
    this.invalidTokens = new InvalidTokenLimiter(limits.bearerFailuresPerAddressPerMinute);
    this.creationsByUser = app.createRateLimit({
      max: limits.tokenCreationsPerUserPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `create:${request.user?.id ?? request.ip}`,
    });
  }

  /**
   * Throws 429 when this address, or this account from this address, has failed to sign in
   * too often; and when the account has, summed over every address, unless this address
   * signed in to it successfully before (`isKnownAddress`, asked only then). One address
   * alone stays under the account's limit (its own, lower, limit stops it first), so it can
   * never lock the owner out elsewhere; guesses spread over many addresses lock the account
   * for every address it has not been used from.
   */
  async checkSignin(
    request: FastifyRequest,
    isKnownAddress: () => Promise<boolean>,
  ): Promise<void> {
    for (const limiter of [this.signinByAddress, this.signinByPair]) {
      const state = await limiter(request, { increment: false });
      if (isOver(state)) throw tooMany(state.ttl, "failed sign-ins");
    }
    const account = await this.signinByAccount(request, { increment: false });
    if (isOver(account) && !(await isKnownAddress())) throw tooMany(account.ttl, "failed sign-ins");
  }

  /** Counts a sign-up from this address; throws 429 past the limit (before any hashing). */
  async checkSignup(request: FastifyRequest): Promise<void> {
    const state = await this.signupsByAddress(request);
    if (!state.isAllowed && state.isExceeded) throw tooMany(state.ttl, "sign-ups");
  }

  /**
   * A password reset request: counted against the client address with sign-ups (429 past
   * it), then against the email address. False past the email's limit: the caller answers
   * as usual and sends nothing, so the answer never depends on the account.
   */
  async checkPasswordResetRequest(request: FastifyRequest): Promise<boolean> {
    await this.checkSignup(request);
    const state = await this.linkEmailsByAddress(request);
    return !(!state.isAllowed && state.isExceeded);
  }

  /** Throws 429 past the email limit of the signed-in account's address (a resend). */
  async checkLinkEmail(request: FastifyRequest): Promise<void> {
    const state = await this.linkEmailsByAddress(request);
    if (!state.isAllowed && state.isExceeded) throw tooMany(state.ttl, "emails asked for");
  }

  /** Throws 429 when the signed-in user typed a wrong current password too often. */
  async checkPasswordConfirmation(request: FastifyRequest): Promise<void> {
    const state = await this.confirmationsByUser(request, { increment: false });
    if (isOver(state)) throw tooMany(state.ttl, "wrong passwords");
  }

  async recordPasswordConfirmationFailure(request: FastifyRequest): Promise<void> {
    await this.confirmationsByUser(request);
  }

  async recordSigninFailure(request: FastifyRequest): Promise<void> {
    await this.signinByAccount(request);
    await this.signinByPair(request);
    await this.signinByAddress(request);
  }

  /** Counts a token creation by the signed-in user; throws 429 past the limit. */
  async checkTokenCreation(request: FastifyRequest): Promise<void> {
    const state = await this.creationsByUser(request);
    if (!state.isAllowed && state.isExceeded) throw tooMany(state.ttl, "tokens created");
  }
}

/**
 * The account a sign-in is for, as a hash: counters may be stored in the database, and
 * neither an email (personal data) nor whatever bytes an attacker typed belong there.
 */
function signinEmail(request: FastifyRequest): string {
  const body = request.body as { email?: unknown } | undefined;
  const email = typeof body?.email === "string" ? body.email.trim().toLowerCase() : "";
  return createHash("sha256").update(email).digest("hex");
}

/** The email address a link email goes to (the signed-in account's, or the body's), hashed. */
function linkEmailKey(request: FastifyRequest): string {
  // A reset request names its address in the body, whoever is signed in; a resend is for
  // the signed-in account's own.
  const body = request.body as { email?: unknown } | undefined;
  if (typeof body?.email === "string" || !request.user) return signinEmail(request);
  return createHash("sha256").update(request.user.email).digest("hex");
}
