/** A source of uniformly random bytes. Production passes the CSPRNG; tests pass a fixed sequence. */
export interface RandomSource {
  bytes(length: number): Uint8Array;
}

/**
 * A string of `length` characters drawn uniformly from `alphabet`.
 * Rejection sampling keeps the distribution uniform: a byte is used only when it
 * falls below the largest multiple of the alphabet size, so no character is favoured.
 */
export function generateRandomString(
  random: RandomSource,
  alphabet: string,
  length: number,
): string {
  if (alphabet.length < 2 || alphabet.length > 256) {
    throw new RangeError("alphabet must have 2 to 256 characters");
  }
  const limit = 256 - (256 % alphabet.length);
  let result = "";
  while (result.length < length) {
    const chunk = random.bytes(Math.ceil((length - result.length) * 1.3) + 4);
    for (let i = 0; i < chunk.length && result.length < length; i++) {
      const byte = chunk[i] as number;
      if (byte < limit) result += alphabet.charAt(byte % alphabet.length);
    }
  }
  return result;
}
