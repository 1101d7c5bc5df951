import type { Clock, PasswordHasher, RandomSource, Store, TokenInvalidation } from "./ports.js";

export interface ServiceSettings {
  tokenPrefix: string;
  maxActiveTokensPerUser: number;
  sessionTtlMs: number;
}

/** Everything a use case may touch, passed in so tests can fix the clock and randomness. */
export interface ServiceDeps {
  store: Store;
  clock: Clock;
  random: RandomSource;
  passwordHasher: PasswordHasher;
  invalidation: TokenInvalidation;
  settings: ServiceSettings;
}
