import { BASE62_ALPHABET } from "./base62.js";
import { generateRandomString, type RandomSource } from "./random.js";

/** Public identifiers: a kind prefix and 20 base62 characters (~119 bits), e.g. `tok_4fZ…`; `key_` is a service key. */
export type IdKind = "usr" | "app" | "tok" | "key" | "whk" | "ses" | "inv";

export function generateId(random: RandomSource, kind: IdKind): string {
  return `${kind}_${generateRandomString(random, BASE62_ALPHABET, 20)}`;
}

export const ID_PATTERN = "^(usr|app|tok|key|ses|inv)_[0-9A-Za-z]{20}$";

/** A session secret for the cookie: 43 base62 characters, about 256 bits. */
export function generateSessionSecret(random: RandomSource): string {
  return generateRandomString(random, BASE62_ALPHABET, 43);
}
