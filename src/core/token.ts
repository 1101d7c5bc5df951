import * as nodeCrypto from "node:crypto";
import { BASE62_ALPHABET, encodeBase62, isBase62 } from "./base62.js";
import { crc32Ascii } from "./crc32.js";
import { generateRandomString, type RandomSource } from "./random.js";

/**
 * Token format: `<prefix>_<random><checksum>`.
 * 30 base62 characters carry 30 * log2(62) ≈ 178.6 bits, above the 160 the contract asks.
 */
export const TOKEN_RANDOM_LENGTH = 30;
export const TOKEN_CHECKSUM_LENGTH = 6;
/** Prefix rule of the contract: 2-8 lowercase letters or digits. */
export const TOKEN_PREFIX_PATTERN = /^[a-z0-9]{2,8}$/;

export function tokenLength(prefix: string): number {
  return prefix.length + 1 + TOKEN_RANDOM_LENGTH + TOKEN_CHECKSUM_LENGTH;
}

/** The checksum of `<prefix>_<random>`: CRC-32 written as 6 base62 digits. */
export function tokenChecksum(body: string): string {
  return encodeBase62(crc32Ascii(body), TOKEN_CHECKSUM_LENGTH);
}

export function generateToken(random: RandomSource, prefix: string): string {
  const body = `${prefix}_${generateRandomString(random, BASE62_ALPHABET, TOKEN_RANDOM_LENGTH)}`;
  return body + tokenChecksum(body);
}

export type TokenFormatCheck = { ok: true } | { ok: false; reason: "malformed" | "checksum" };

/**
 * Offline check of a presented token: right prefix, right length, base62 body and a
 * matching checksum. It runs before any storage lookup, so a mistyped or made-up
 * token costs no database work.
 */
export function checkTokenFormat(token: string, prefix: string): TokenFormatCheck {
  if (token.length !== tokenLength(prefix)) return { ok: false, reason: "malformed" };
  if (!token.startsWith(prefix) || token.charCodeAt(prefix.length) !== 95 /* _ */) {
    return { ok: false, reason: "malformed" };
  }
  const randomAndChecksum = token.slice(prefix.length + 1);
  if (!isBase62(randomAndChecksum)) return { ok: false, reason: "malformed" };
  const bodyLength = token.length - TOKEN_CHECKSUM_LENGTH;
  if (tokenChecksum(token.slice(0, bodyLength)) !== token.slice(bodyLength)) {
    return { ok: false, reason: "checksum" };
  }
  return { ok: true };
}

/**
 * The only form in which a token is stored: its SHA-256, hex encoded. The token carries
 * 178 bits of randomness, so a fast hash is enough; a slow password hash would only
 * slow down every API request without making a brute-force search any more feasible.
 */
export const hashToken: (token: string) => string =
  // `crypto.hash` (Node 20.12+) skips the Hash object and its OpenSSL context, a cost
  // `createHash` pays per call, and so on every verified request.
  typeof nodeCrypto.hash === "function"
    ? (token) => nodeCrypto.hash("sha256", token, "hex")
    : (token) => nodeCrypto.createHash("sha256").update(token).digest("hex");

/** A short non-secret tail that lets a user tell tokens apart, e.g. `kw_…a1b2`. */
export function tokenHint(token: string, prefix: string): string {
  return `${prefix}_…${token.slice(-4)}`;
}
