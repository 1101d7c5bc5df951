import type {
  Clock,
  CommonPasswords,
  PasswordHasher,
  RandomSource,
  Store,
  TokenInvalidation,
  Totp,
} from "./ports.js";
import type { ServiceKeyCache } from "./service-key-cache.js";

export interface ServiceSettings {
  tokenPrefix: string;
  maxActiveTokensPerUser: number;
  sessionTtlMs: number;
  /** A session unused this long ends (SESSION_IDLE_HOURS). */
  sessionIdleMs: number;
  /**
   * SMTP is configured: Keyward sends email, and an account must confirm its address
   * before accepting an invitation. Absent or false: no email, and nothing waits for one.
   */
  mailEnabled?: boolean;
}

/** Everything a use case may touch, passed in so tests can fix the clock and randomness. */
export interface ServiceDeps {
  store: Store;
  clock: Clock;
  random: RandomSource;
  passwordHasher: PasswordHasher;
  commonPasswords: CommonPasswords;
  /** Two-factor codes (RFC 6238); the library stays behind this port. */
  totp: Totp;
  invalidation: TokenInvalidation;
  settings: ServiceSettings;
  /**
   * Valid service keys, kept by the server and emptied through `invalidation`'s channel.
   * Absent (the command line, or the verification cache switched off): every call reads
   * storage.
   */
  serviceKeyCache?: ServiceKeyCache;
}
