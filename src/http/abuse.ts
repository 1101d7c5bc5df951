import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { FastifyRateLimitStore } from "@fastify/rate-limit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { KeywardError } from "../core/errors.js";
import type { CounterStore } from "../services/ports.js";
import { limitAddress } from "./client-address.js";
import { InvalidTokenLimiter } from "./invalid-token-limiter.js";
import { ReadWriteLock } from "./read-write-lock.js";

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
/** Retry-After for a refusal caused by attempts still under way, not by counted failures. */
const SHORT_WAIT_MS = 1000;

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
  private readonly inFlight = new AttemptsInFlight();
  /**
   * Checks read counts under it together; recording a failure takes it alone. One lock
   * for every key: it is held for a few storage statements, far less than the password
   * hash each attempt costs.
   */
  private readonly counting = new ReadWriteLock();

  constructor(app: FastifyInstance, limits: AbuseLimits) {
    this.signinByAccount = app.createRateLimit({
      max: limits.signinFailuresPerAccountPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: signinAccountKey,
    });
    this.signinByPair = app.createRateLimit({
      max: limits.signinFailuresPerAccountAndAddressPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: signinPairKey,
    });
    this.signupsByAddress = app.createRateLimit({
      max: limits.signupsPerAddressPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: (request) => `signup:${limitAddress(request.ip)}`,
    });
    this.signinByAddress = app.createRateLimit({
      max: limits.signinFailuresPerAddressPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: signinAddressKey,
    });
    this.confirmationsByUser = app.createRateLimit({
      max: limits.signinFailuresPerAccountPerHour,
      timeWindow: HOUR_MS,
      keyGenerator: confirmationKey,
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
      keyGenerator: (request) => `create:${request.user?.id ?? limitAddress(request.ip)}`,
    });
  }

  /**
   * Starts a sign-in attempt: throws 429 when this address, or this account from this
   * address, has failed to sign in too often; and when the account has, summed over every
   * address, unless this address signed in to it successfully before (`isKnownAddress`,
   * asked only then). One address alone stays under the account's limit (its own, lower,
   * limit stops it first), so it can never lock the owner out elsewhere; guesses spread
   * over many addresses lock the account for every address it has not been used from.
   * Attempts under way count as failures until they end, so guesses sent all at once get
   * no more tries than guesses sent one by one (see `AttemptsInFlight`).
   */
  async startSignin(
    request: FastifyRequest,
    isKnownAddress: () => Promise<boolean>,
  ): Promise<Attempt> {
    const keys = [signinAddressKey(request), signinPairKey(request), signinAccountKey(request)];
    return this.counting.read(async () => {
      // Every read first; then the checks and the entry with no await between them, so two
      // attempts never both pass on the same count, and a refused one never counts.
      const [byAddress, byPair, byAccount] = [
        await this.signinByAddress(request, { increment: false }),
        await this.signinByPair(request, { increment: false }),
        await this.signinByAccount(request, { increment: false }),
      ];
      const checkAddress = () => {
        for (const state of [byAddress, byPair]) {
          const over = this.overLimit(state);
          if (over !== undefined) throw tooMany(over, "failed sign-ins");
        }
      };
      checkAddress();
      if (this.overLimit(byAccount) !== undefined && !(await isKnownAddress())) {
        // Asked again: attempts may have started or ended while the trail was read.
        const over = this.overLimit(byAccount);
        if (over !== undefined) throw tooMany(over, "failed sign-ins");
      }
      checkAddress();
      return this.attempt(keys, async () => {
        await this.signinByAccount(request);
        await this.signinByPair(request);
        await this.signinByAddress(request);
      });
    });
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
    return this.countLinkEmail(request);
  }

  /**
   * Counts an email with a link that nobody asked for by name (the confirmation a sign-up
   * sends); false past the address's limit, when it is not sent.
   */
  async countLinkEmail(request: FastifyRequest): Promise<boolean> {
    const state = await this.linkEmailsByAddress(request);
    return !(!state.isAllowed && state.isExceeded);
  }

  /** Throws 429 past the email limit of the signed-in account's address (a resend). */
  async checkLinkEmail(request: FastifyRequest): Promise<void> {
    const state = await this.linkEmailsByAddress(request);
    if (!state.isAllowed && state.isExceeded) throw tooMany(state.ttl, "emails asked for");
  }

  /**
   * Starts a check of the signed-in user's current password or second-factor code: throws
   * 429 when they were wrong too often, counting the checks under way as wrong ones.
   */
  async startPasswordConfirmation(request: FastifyRequest): Promise<Attempt> {
    return this.counting.read(async () => {
      const state = await this.confirmationsByUser(request, { increment: false });
      const over = this.overLimit(state);
      if (over !== undefined) throw tooMany(over, "wrong passwords");
      return this.attempt([confirmationKey(request)], () => this.confirmationsByUser(request));
    });
  }

  /**
   * Enters an attempt under `keys` (at once, after its checks); `count` records a failure.
   * A failure is counted and leaves the attempts under way with no check reading between
   * the two (`counting`): a check that read the count before it was recorded, and then
   * missed the attempt under way, would let one more guess through.
   */
  private attempt(keys: readonly string[], count: () => Promise<unknown>): Attempt {
    const end = this.inFlight.enter(keys);
    return {
      failed: () =>
        this.counting.write(async () => {
          try {
            await count();
          } finally {
            end();
          }
        }),
      end,
    };
  }

  /**
   * The milliseconds to wait when the failures counted, plus the attempts under way in this
   * process, plus this one, exceed the limit; undefined when within it.
   */
  private overLimit(state: LimiterState): number | undefined {
    if (state.isAllowed) return undefined;
    // The limit is reached by what was counted alone (a read that did not count).
    if (state.remaining === 0 && state.ttl > 0) return state.ttl;
    const counted = state.max - state.remaining;
    if (counted + this.inFlight.count(state.key) + 1 <= state.max) return undefined;
    // Over only with the attempts under way, which end in moments (right ones count
    // nothing): worth trying again shortly, not after the window.
    return SHORT_WAIT_MS;
  }

  /** Counts a token creation by the signed-in user; throws 429 past the limit. */
  async checkTokenCreation(request: FastifyRequest): Promise<void> {
    const state = await this.creationsByUser(request);
    if (!state.isAllowed && state.isExceeded) throw tooMany(state.ttl, "tokens created");
  }
}

/** A guess under way (a password or a code), counted against its limits until it ends. */
export interface Attempt {
  /** It was wrong: counts it as a failure, and ends it. */
  failed(): Promise<void>;
  /** It ended any other way (right, or refused for another reason). Later calls do nothing. */
  end(): void;
}

/**
 * Attempts under way in this process, by limiter key. Failures are counted when they are
 * known, after a password hash or a code check; without this, guesses sent all at once
 * would each read the count before any of them had failed, and all be let through. A
 * burst across several processes gets at most the limit on each; the counts they record
 * then hold on all of them.
 */
class AttemptsInFlight {
  private readonly counts = new Map<string, number>();

  /** Counts one attempt under each key, at once; returns the function that ends it. */
  enter(keys: readonly string[]): () => void {
    for (const key of keys) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      for (const key of keys) {
        const left = (this.counts.get(key) ?? 1) - 1;
        if (left > 0) this.counts.set(key, left);
        else this.counts.delete(key);
      }
    };
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

const signinAccountKey = (request: FastifyRequest) => `account:${signinEmail(request)}`;
const signinPairKey = (request: FastifyRequest) =>
  `pair:${signinEmail(request)}:${limitAddress(request.ip)}`;
const signinAddressKey = (request: FastifyRequest) => `signin:${limitAddress(request.ip)}`;
const confirmationKey = (request: FastifyRequest) =>
  `account:user:${request.user?.id ?? limitAddress(request.ip)}`;

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
  return createHash("sha256").update(request.user.email.trim().toLowerCase()).digest("hex");
}
