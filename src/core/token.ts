import * as nodeCrypto from "node:crypto";
import { BASE62_ALPHABET, TOKEN_RANDOM_LENGTH, tokenChecksum } from "keyward-client/token-format";
import { generateRandomString, type RandomSource } from "./random.js";

// The format itself (length, base62, checksum, the offline check) is one implementation,
// shared with the client library: keyward-client/token-format.
export {
  checkTokenFormat,
  TOKEN_CHECKSUM_LENGTH,
  TOKEN_PREFIX_PATTERN,
  TOKEN_RANDOM_LENGTH,
  type TokenFormatCheck,
  tokenChecksum,
  tokenLength,
} from "keyward-client/token-format";

export function generateToken(random: RandomSource, prefix: string): string {
  const body = `${prefix}_${generateRandomString(random, BASE62_ALPHABET, TOKEN_RANDOM_LENGTH)}`;
  return body + tokenChecksum(body);
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

/**
 * The same SHA-256 as `hashToken`, as a 32-character binary (latin1) string: half the
 * memory of the hex form, for keys held in memory by the thousand (the verifier's cache).
 */
export const hashTokenBinary: (token: string) => string =
  typeof nodeCrypto.hash === "function"
    ? (token) => nodeCrypto.hash("sha256", token, "binary")
    : (token) => nodeCrypto.createHash("sha256").update(token).digest("binary");

/** The first 32 bits of a binary hash (one byte a character), as an unsigned number. */
export function prefixOfBinaryHash(binaryHash: string): number {
  return (
    ((binaryHash.charCodeAt(0) << 24) |
      (binaryHash.charCodeAt(1) << 16) |
      (binaryHash.charCodeAt(2) << 8) |
      binaryHash.charCodeAt(3)) >>>
    0
  );
}

/** `hashTokenBinary`'s result as `hashToken` gives it: the form storage keeps. */
export function hexOfBinaryHash(binaryHash: string): string {
  return Buffer.from(binaryHash, "latin1").toString("hex");
}

/** A short non-secret tail that lets a user tell tokens apart, e.g. `kw_…a1b2`. */
export function tokenHint(token: string, prefix: string): string {
  return `${prefix}_…${token.slice(-4)}`;
}
