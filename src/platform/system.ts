import { randomFillSync } from "node:crypto";
import { hash, verify } from "@node-rs/argon2";
import type { Clock, PasswordHasher, RandomSource } from "../services/ports.js";

export const systemClock: Clock = { now: () => Date.now() };

/** The operating system's CSPRNG. */
export const cryptoRandom: RandomSource = {
  bytes: (length) => randomFillSync(new Uint8Array(length)),
};

/**
 * Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane). The native
 * library runs the hash on libuv's thread pool, off the event loop, so sign-ins do
 * not stall token verification.
 */
export const argon2PasswordHasher: PasswordHasher = {
  hash: (password) =>
    // The library's default algorithm is Argon2id.
    hash(password, { memoryCost: 19_456, timeCost: 2, parallelism: 1 }),
  verify: async (stored, password) => {
    try {
      return await verify(stored, password);
    } catch {
      return false;
    }
  },
};
