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
