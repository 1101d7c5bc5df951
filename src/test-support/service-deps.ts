import { cryptoRandom } from "../platform/system.js";
import type { ServiceDeps } from "../services/deps.js";
import type { Clock, Store, TokenInvalidation } from "../services/ports.js";

const DAY = 86_400_000;

/**
 * Use-case dependencies over a real store for tests of one service: passwords compared as
 * written, no common-password list, no two-factor, the default settings. `rest` adds what
 * the test is about (a service-key cache, other settings).
 */
export function serviceDepsForTest(
  store: Store,
  clock: Clock,
  invalidation: TokenInvalidation,
  rest: Partial<ServiceDeps> = {},
): ServiceDeps {
  return {
    store,
    clock,
    random: cryptoRandom,
    passwordHasher: { hash: async (p) => p, verify: async (h, p) => h === p },
    commonPasswords: { isCommon: () => false, size: () => 0 },
    totp: { encodeSecret: () => "", otpauthUrl: () => "", matchStep: () => null },
    invalidation,
    settings: {
      tokenPrefix: "kw",
      maxActiveTokensPerUser: 100,
      sessionTtlMs: DAY,
      sessionIdleMs: DAY,
    },
    ...rest,
  };
}
