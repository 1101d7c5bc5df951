import { describe, expect, it } from "vitest";
import type { RandomSource } from "./random.js";
import {
  generateRecoveryCode,
  hashRecoveryCode,
  matchRecoveryCode,
  parseSecondFactorCode,
} from "./two-factor.js";

/** Bytes 0, 1, 2, … : every recovery-code character in turn. */
function countingRandom(): RandomSource {
  let next = 0;
  return { bytes: (n) => Uint8Array.from({ length: n }, () => next++ % 256) };
}

describe("second-factor codes", () => {
  it("makes recovery codes of 16 unambiguous characters in four groups", () => {
    const code = generateRecoveryCode(countingRandom());
    expect(code).toBe("0123-4567-89ab-cdef");
    expect(generateRecoveryCode(countingRandom())).toMatch(
      /^([0-9a-hjkmnp-tv-z]{4}-){3}[0-9a-hjkmnp-tv-z]{4}$/,
    );
  });

  it("reads a TOTP code with spaces, and a recovery code in any case or grouping", () => {
    expect(parseSecondFactorCode(" 123 456 ")).toEqual({ kind: "totp", code: "123456" });
    expect(parseSecondFactorCode("0123-4567-89AB-CDEF")).toEqual({
      kind: "recovery",
      code: "0123456789abcdef",
    });
    expect(parseSecondFactorCode("12345")).toEqual({ kind: "malformed" });
    expect(parseSecondFactorCode("0123-4567-89ab-cdeu")).toEqual({ kind: "malformed" });
    expect(parseSecondFactorCode("")).toEqual({ kind: "malformed" });
  });

  it("matches a recovery code against stored hashes however it is typed, and nothing else", () => {
    const hashes = ["0123-4567-89ab-cdef", "zzzz-yyyy-xxxx-wwww"].map(hashRecoveryCode);
    expect(hashes[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(matchRecoveryCode(hashes, "0123456789ABCDEF")).toBe(hashes[0]);
    expect(matchRecoveryCode(hashes, "zzzz yyyy xxxx wwww")).toBe(hashes[1]);
    expect(matchRecoveryCode(hashes, "0123-4567-89ab-cdee")).toBeUndefined();
    expect(matchRecoveryCode([], "0123-4567-89ab-cdef")).toBeUndefined();
  });
});
