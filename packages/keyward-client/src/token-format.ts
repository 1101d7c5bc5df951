// The token format of Keyward, checked offline: `<prefix>_<random><checksum>`, where the
// checksum is the CRC-32 (IEEE, as in zlib) of `<prefix>_<random>` written as 6 base62
// digits. The Keyward server and this client both use this one module, so a token the
// client refuses offline is one the server would refuse too.

/** The one base62 alphabet of the contract: digits, then upper case, then lower case. */
export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Writes a non-negative integer below 2^53 in base62, most significant digit first. */
export function encodeBase62(value: number, width: number): string {
  let remaining = value;
  let digits = "";
  do {
    digits = BASE62_ALPHABET.charAt(remaining % 62) + digits;
    remaining = Math.floor(remaining / 62);
  } while (remaining > 0);
  return digits.padStart(width, "0");
}

/** True when every character of `text` is in the base62 alphabet. */
export function isBase62(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 48 && c <= 57;
    const upper = c >= 65 && c <= 90;
    const lower = c >= 97 && c <= 122;
    if (!digit && !upper && !lower) return false;
  }
  return true;
}

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum zlib computes.
// Written out rather than taken from node:zlib so that it runs on any JavaScript runtime
// and on an ASCII string without allocating a buffer.
const table = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  table[n] = c >>> 0;
}

/** CRC-32 of the bytes of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = (table[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * CRC-32 of the UTF-8 encoding of an ASCII string. Callers check that the text is
 * ASCII first; for ASCII, UTF-8 bytes and UTF-16 code units coincide.
 */
export function crc32Ascii(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = (table[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Token format: `<prefix>_<random><checksum>`.
 * 30 base62 characters carry 30 * log2(62) ≈ 178.6 bits, above the 160 the contract asks.
 */
export const TOKEN_RANDOM_LENGTH = 30;
export const TOKEN_CHECKSUM_LENGTH = 6;
/** Prefix rule of the contract: 2-8 lowercase letters or digits. */
export const TOKEN_PREFIX_PATTERN = /^[a-z0-9]{2,8}$/;

/** The length of every token with this prefix. */
export function tokenLength(prefix: string): number {
  return prefix.length + 1 + TOKEN_RANDOM_LENGTH + TOKEN_CHECKSUM_LENGTH;
}

/** The checksum of `<prefix>_<random>`: CRC-32 written as 6 base62 digits. */
export function tokenChecksum(body: string): string {
  return encodeBase62(crc32Ascii(body), TOKEN_CHECKSUM_LENGTH);
}

export type TokenFormatCheck = { ok: true } | { ok: false; reason: "malformed" | "checksum" };

const WELL_FORMED: TokenFormatCheck = Object.freeze({ ok: true });
const MALFORMED: TokenFormatCheck = Object.freeze({ ok: false, reason: "malformed" });
const BAD_CHECKSUM: TokenFormatCheck = Object.freeze({ ok: false, reason: "checksum" });

/** Each ASCII code unit's value as a base62 digit; -1 for any other. */
const BASE62_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE62_ALPHABET.length; i++) BASE62_VALUE[BASE62_ALPHABET.charCodeAt(i)] = i;

/**
 * Offline check of a presented token: right prefix, right length, base62 body and a
 * matching checksum. It works for any prefix (`kw` for API tokens, `kwsk` for service
 * keys), and costs no I/O, so a mistyped or made-up token costs no lookup.
 *
 * It runs on every verified request (server and client), so it makes no string: one pass
 * checks the alphabet and computes the CRC, and the written checksum is read as a number
 * and compared with it (a width-6 base62 number has one spelling, so this is the same as
 * comparing the two spellings). The answers are shared frozen objects.
 */
export function checkTokenFormat(token: string, prefix: string): TokenFormatCheck {
  const length = tokenLength(prefix);
  if (token.length !== length) return MALFORMED;
  if (!token.startsWith(prefix) || token.charCodeAt(prefix.length) !== 95 /* _ */) {
    return MALFORMED;
  }
  const bodyLength = length - TOKEN_CHECKSUM_LENGTH;
  // The prefix and `_` are ASCII (the prefix rule), so the CRC of their code units is the
  // CRC of their UTF-8 bytes.
  let crc = 0xffffffff;
  for (let i = 0; i <= prefix.length; i++) {
    crc = (table[(crc ^ token.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  }
  let written = 0;
  for (let i = prefix.length + 1; i < length; i++) {
    const c = token.charCodeAt(i);
    const digit = c < 128 ? (BASE62_VALUE[c] as number) : -1;
    if (digit < 0) return MALFORMED;
    if (i < bodyLength) crc = (table[(crc ^ c) & 0xff] as number) ^ (crc >>> 8);
    else written = written * 62 + digit;
  }
  return written === (crc ^ 0xffffffff) >>> 0 ? WELL_FORMED : BAD_CHECKSUM;
}
