import { describe, expect, it } from "vitest";
import { otpauthTotp } from "./totp.js";

// RFC 6238, appendix B: the SHA-1 seed is the ASCII of "12345678901234567890". The RFC's
// codes have 8 digits; a 6-digit code is the same number modulo 10^6 (its last 6 digits).
const RFC_SECRET = otpauthTotp.encodeSecret(new TextEncoder().encode("12345678901234567890"));
const RFC_VECTORS: Array<[seconds: number, code: string]> = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

describe("otpauthTotp", () => {
  it.each(RFC_VECTORS)("matches RFC 6238's test vector at T=%i s", (seconds, code) => {
    const step = Math.floor(seconds / 30);
    expect(
      otpauthTotp.matchStep({ secret: RFC_SECRET, code: code.slice(2), now: seconds * 1000 }),
    ).toBe(step);
  });

  it("accepts one step of drift either way, not two, and names the step the code is for", () => {
    const now = 1234567890 * 1000;
    const step = Math.floor(1234567890 / 30);
    const code = "005924";
    expect(otpauthTotp.matchStep({ secret: RFC_SECRET, code, now: now + 30_000 })).toBe(step);
    expect(otpauthTotp.matchStep({ secret: RFC_SECRET, code, now: now - 30_000 })).toBe(step);
    expect(otpauthTotp.matchStep({ secret: RFC_SECRET, code, now: now + 60_000 })).toBeNull();
    expect(otpauthTotp.matchStep({ secret: RFC_SECRET, code, now: now - 60_000 })).toBeNull();
    expect(otpauthTotp.matchStep({ secret: RFC_SECRET, code: "000000", now })).toBeNull();
  });

  it("encodes 20 bytes as 32 base32 characters and builds the URL apps scan", () => {
    const secret = otpauthTotp.encodeSecret(new Uint8Array(20).fill(0xff));
    expect(secret).toBe("7".repeat(32));
    const url = new URL(
      otpauthTotp.otpauthUrl({ secret, issuer: "Keyward", label: "ada@example.com" }),
    );
    expect(url.protocol).toBe("otpauth:");
    expect(url.host).toBe("totp");
    expect(decodeURIComponent(url.pathname)).toBe("/Keyward:ada@example.com");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      issuer: "Keyward",
      secret,
      algorithm: "SHA1",
      digits: "6",
      period: "30",
    });
  });
});
