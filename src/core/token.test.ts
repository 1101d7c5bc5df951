import { crc32 as zlibCrc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BASE62_ALPHABET, encodeBase62 } from "./base62.js";
import { crc32, crc32Ascii } from "./crc32.js";
import { generateRandomString, type RandomSource } from "./random.js";
import {
  checkTokenFormat,
  generateToken,
  hashToken,
  hashTokenBinary,
  hexOfBinaryHash,
  TOKEN_RANDOM_LENGTH,
  tokenHint,
  tokenLength,
} from "./token.js";

/** Replays a fixed byte sequence, so generated tokens are exact. */
function fixedRandom(bytes: number[]): RandomSource {
  let position = 0;
  return {
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = bytes[position++ % bytes.length] as number;
      return out;
    },
  };
}

describe("crc32", () => {
  it("matches the published check value", () => {
    // The CRC-32/ISO-HDLC check value: CRC of the ASCII digits "123456789".
    expect(crc32Ascii("123456789")).toBe(0xcbf43926);
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32Ascii("")).toBe(0);
  });

  it("agrees with zlib on arbitrary ASCII", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary-ascii", maxLength: 200 }), (text) => {
        expect(crc32Ascii(text)).toBe(zlibCrc32(text));
      }),
    );
  });
});

describe("base62", () => {
  it("writes most significant digit first, zero-padded", () => {
    expect(encodeBase62(0, 6)).toBe("000000");
    expect(encodeBase62(61, 6)).toBe("00000z");
    expect(encodeBase62(62, 6)).toBe("000010");
    expect(encodeBase62(0xffffffff, 6)).toBe("4gfFC3");
  });
});

describe("generateRandomString", () => {
  it("rejects bytes that would bias the alphabet", () => {
    // 248 = 256 - 256 % 62 is the first biased byte; it must be skipped, not folded.
    const random = fixedRandom([248, 255, 0, 61, 62, 247]);
    expect(generateRandomString(random, BASE62_ALPHABET, 4)).toBe("0z0z");
  });
});

describe("token format", () => {
  const random = fixedRandom(Array.from({ length: 64 }, (_, i) => (i * 37) % 248));

  it("is prefix, underscore, 30 base62 characters and a 6-character checksum", () => {
    const token = generateToken(random, "kw");
    expect(token).toMatch(/^kw_[0-9A-Za-z]{36}$/);
    expect(token.length).toBe(tokenLength("kw"));
    const body = token.slice(0, -6);
    expect(token.slice(-6)).toBe(encodeBase62(zlibCrc32(body), 6));
  });

  it("is deterministic for a given random source", () => {
    const a = generateToken(fixedRandom([1, 2, 3, 4, 5]), "kw");
    const b = generateToken(fixedRandom([1, 2, 3, 4, 5]), "kw");
    expect(a).toBe(b);
    const body = "kw_123451234512345123451234512345";
    expect(a).toBe(body + encodeBase62(zlibCrc32(body), 6));
  });

  it("carries at least 160 bits of randomness", () => {
    expect(TOKEN_RANDOM_LENGTH * Math.log2(62)).toBeGreaterThanOrEqual(160);
  });

  it("accepts what it generates, for any prefix", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]{2,8}$/),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (prefix, bytes) => {
          const token = generateToken(fixedRandom([...bytes].map((b) => b % 248)), prefix);
          expect(checkTokenFormat(token, prefix)).toEqual({ ok: true });
        },
      ),
    );
  });

  it("refuses any single-character change by checksum or format", () => {
    const token = generateToken(random, "kw");
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: token.length - 1 }),
        fc.constantFrom(...BASE62_ALPHABET),
        (index, char) => {
          fc.pre(token[index] !== char);
          const changed = token.slice(0, index) + char + token.slice(index + 1);
          expect(checkTokenFormat(changed, "kw").ok).toBe(false);
        },
      ),
    );
  });

  it("answers as spelling the checksum and comparing strings would, on any string", () => {
    // The check reads the written checksum as a number instead of spelling the computed
    // one: this is the plain way, for comparison.
    const byStrings = (token: string, prefix: string) => {
      if (token.length !== tokenLength(prefix)) return "malformed";
      if (!token.startsWith(`${prefix}_`)) return "malformed";
      const rest = token.slice(prefix.length + 1);
      if (![...rest].every((c) => BASE62_ALPHABET.includes(c))) return "malformed";
      const body = token.slice(0, -6);
      return encodeBase62(zlibCrc32(body), 6) === token.slice(-6) ? "ok" : "checksum";
    };
    const reasonOf = (token: string, prefix: string) => {
      const check = checkTokenFormat(token, prefix);
      return check.ok ? "ok" : check.reason;
    };
    const alphabet = [...BASE62_ALPHABET, "_", "-", "!", "é", "\u0100", "\u0130", "\u{1F511}"];
    const valid = generateToken(random, "kw");
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]{2,8}$/),
        // Usually the expected prefix and separator; sometimes another of either.
        fc.constantFrom("", "", "", "", "", "", "x", "-", "_"),
        fc.oneof(
          fc.array(fc.constantFrom(...BASE62_ALPHABET), { minLength: 30, maxLength: 30 }),
          fc.array(fc.constantFrom(...alphabet), { minLength: 29, maxLength: 31 }),
        ),
        fc.oneof(
          fc.array(fc.constantFrom(...BASE62_ALPHABET), { minLength: 6, maxLength: 6 }),
          fc.array(fc.constantFrom(...alphabet), { minLength: 6, maxLength: 6 }),
        ),
        (prefix, change, randomPart, checksum) => {
          const head =
            change === "" ? `${prefix}_` : change === "x" ? `x${prefix}` : `${prefix}${change}`;
          const token = `${head}${randomPart.join("")}${checksum.join("")}`;
          expect(reasonOf(token, prefix)).toBe(byStrings(token, prefix));
        },
      ),
      { numRuns: 2000 },
    );
    // Any other character in the checksum's place makes the token malformed, not wrong.
    for (const char of ["_", "!", "é", "\u0100"]) {
      expect(reasonOf(`${valid.slice(0, -3)}${char}${valid.slice(-2)}`, "kw")).toBe("malformed");
    }
    // Valid tokens, and each with every possible last checksum digit, including spellings
    // of numbers at and above 2^32, which no CRC-32 can equal.
    for (const char of BASE62_ALPHABET) {
      const token = valid.slice(0, -1) + char;
      expect(reasonOf(token, "kw")).toBe(byStrings(token, "kw"));
    }
    const overflow = `${valid.slice(0, -6)}${encodeBase62(2 ** 32 + zlibCrc32(valid.slice(0, -6)), 6)}`;
    expect(reasonOf(overflow, "kw")).toBe("checksum");
    expect(reasonOf(`${valid.slice(0, -6)}zzzzzz`, "kw")).toBe("checksum");
    expect(reasonOf(valid, "kw")).toBe("ok");
  });

  it("says why a presented string is not a token", () => {
    const token = generateToken(random, "kw");
    expect(checkTokenFormat(token.slice(0, -1), "kw")).toEqual({ ok: false, reason: "malformed" });
    expect(checkTokenFormat(`${token}A`, "kw")).toEqual({ ok: false, reason: "malformed" });
    expect(checkTokenFormat(`gh${token.slice(2)}`, "kw")).toEqual({
      ok: false,
      reason: "malformed",
    });
    expect(checkTokenFormat(`kw-${token.slice(3)}`, "kw")).toEqual({
      ok: false,
      reason: "malformed",
    });
    expect(checkTokenFormat(`${token.slice(0, 10)}!${token.slice(11)}`, "kw")).toEqual({
      ok: false,
      reason: "malformed",
    });
    const flipped = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
    expect(checkTokenFormat(flipped, "kw")).toEqual({ ok: false, reason: "checksum" });
    expect(checkTokenFormat("", "kw")).toEqual({ ok: false, reason: "malformed" });
  });

  it("hashes with SHA-256 and hints with the last four characters", () => {
    expect(hashToken("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(tokenHint("kw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAxyz123", "kw")).toBe("kw_…z123");
  });

  it("gives the same hash in binary, 32 characters, whose hex form is hashToken's", () => {
    const binary = hashTokenBinary("abc");
    expect(binary).toHaveLength(32);
    expect(hexOfBinaryHash(binary)).toBe(hashToken("abc"));
  });
});
