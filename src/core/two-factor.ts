import { timingSafeEqual } from "node:crypto";
import { generateRandomString, type RandomSource } from "./random.js";
import { hashToken } from "./token.js";

/** How many recovery codes an enrollment hands out. */
export const RECOVERY_CODE_COUNT = 10;

/**
 * Recovery codes are drawn from lowercase Crockford base32 (no i, l, o, u: nothing to
 * misread when copied from paper). 16 characters carry 80 bits: far beyond guessing
 * within the sign-in limits, so a fast hash (SHA-256) is enough to store them.
 */
const RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const RECOVERY_CODE_LENGTH = 16;

/** A new recovery code as shown to its user: `xxxx-xxxx-xxxx-xxxx`. */
export function generateRecoveryCode(random: RandomSource): string {
  const raw = generateRandomString(random, RECOVERY_ALPHABET, RECOVERY_CODE_LENGTH);
  return raw.match(/.{4}/g)?.join("-") ?? raw;
}

/** What a typed code is: a 6-digit TOTP code, a recovery code, or neither. */
export type SecondFactorCode =
  | { kind: "totp"; code: string }
  | { kind: "recovery"; code: string }
  | { kind: "malformed" };

/**
 * Reads a typed code: spaces and dashes are ignored (apps show `123 456`, recovery codes
 * are grouped), and case does not matter.
 */
export function parseSecondFactorCode(input: string): SecondFactorCode {
  const compact = input.replace(/[\s-]/g, "").toLowerCase();
  if (/^\d{6}$/.test(compact)) return { kind: "totp", code: compact };
  if (
    compact.length === RECOVERY_CODE_LENGTH &&
    [...compact].every((c) => RECOVERY_ALPHABET.includes(c))
  ) {
    return { kind: "recovery", code: compact };
  }
  return { kind: "malformed" };
}

/** The stored form of a recovery code: SHA-256 (hex) of its compact form. */
export function hashRecoveryCode(code: string): string {
  const parsed = parseSecondFactorCode(code);
  return hashToken(parsed.kind === "recovery" ? parsed.code : code);
}

/**
 * The stored hash among `hashes` that `code` matches, or undefined. Every hash is compared,
 * each in constant time, so the answer's timing says nothing about how much of a stored
 * hash a guess shares.
 */
export function matchRecoveryCode(hashes: readonly string[], code: string): string | undefined {
  const presented = Buffer.from(hashRecoveryCode(code), "hex");
  let found: string | undefined;
  for (const hash of hashes) {
    const stored = Buffer.from(hash, "hex");
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) found = hash;
  }
  return found;
}
