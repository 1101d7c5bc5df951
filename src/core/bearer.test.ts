import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseBearerHeader } from "./bearer.js";

const token = "kw_abcDEF0123456789abcDEF0123456789abcd";

describe("parseBearerHeader", () => {
  it.each([
    ["Bearer x", "x"],
    [`Bearer ${token}`, token],
    [`bearer ${token}`, token],
    [`BEARER ${token}`, token],
    [`BeArEr ${token}`, token],
    [`Bearer    ${token}`, token],
    [`  Bearer ${token}  `, token],
    [`\tBearer ${token}\t`, token],
    ["Bearer abc+/=", "abc+/="],
    ["Bearer a-b.c_d~e", "a-b.c_d~e"],
  ])("reads %j as a token", (header, expected) => {
    expect(parseBearerHeader(header, 1)).toEqual({ kind: "token", token: expected });
  });

  it("treats a missing header as missing", () => {
    expect(parseBearerHeader(undefined, 0)).toEqual({ kind: "missing" });
  });

  it.each(["Basic dXNlcjpwYXNz", "Token abc", "Bearerx abc", "Digest a=b", token, "Bearer-abc"])(
    "treats %j as another scheme",
    (header) => {
      expect(parseBearerHeader(header, 1)).toEqual({ kind: "other_scheme" });
    },
  );

  it.each([
    ["empty token", "Bearer"],
    ["empty token after spaces", "Bearer    "],
    ["empty header", ""],
    ["blank header", "   "],
    ["extra word", `Bearer ${token} extra`],
    ["two tokens", `Bearer ${token} ${token}`],
    ["comma list", `Bearer ${token}, Bearer ${token}`],
    ["trailing comma", `Bearer ${token},`],
    ["tab separator", `Bearer\t${token}`],
    ["space then tab", `Bearer \t${token}`],
    ["inner tab", `Bearer ${token}\tx`],
    ["quoted", `Bearer "${token}"`],
    ["semicolon", `Bearer ${token};`],
    ["non-ASCII", "Bearer tökén"],
    ["padding in the middle", "Bearer ab=c"],
  ])("refuses %s as malformed", (_why, header) => {
    expect(parseBearerHeader(header, 1).kind).toBe("malformed");
  });

  it("refuses two Authorization headers as malformed", () => {
    expect(parseBearerHeader(`Bearer ${token}`, 2).kind).toBe("malformed");
  });

  it("never throws, and a token result is always a single b64token", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.integer({ min: 0, max: 3 }), (value, count) => {
        const result = parseBearerHeader(value, count);
        if (result.kind === "token") {
          expect(count).toBeLessThanOrEqual(1);
          expect(result.token).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
          expect(value.toLowerCase()).toContain(result.token.toLowerCase());
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("reads back any b64token with any casing and spacing of the scheme", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,60}=*$/),
        fc.constantFrom("Bearer", "bearer", "BEARER", "bEaReR"),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 3 }),
        (value, scheme, spaces, padding) => {
          const header = `${" ".repeat(padding)}${scheme}${" ".repeat(spaces)}${value}${" ".repeat(padding)}`;
          expect(parseBearerHeader(header, 1)).toEqual({ kind: "token", token: value });
        },
      ),
    );
  });
});
