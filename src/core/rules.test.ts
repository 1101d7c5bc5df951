import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeywardError } from "./errors.js";
import { normalizeDisplayName, normalizeEmail, normalizeTokenName } from "./rules.js";

/** Letters and signs of many scripts, none of them invisible or a control. */
const VISIBLE = [
  ..."abcXYZ019-_.:/@#",
  ..."éüñçøßÆ",
  ..."абвгдЖЯ",
  ..."αβγΔΩ",
  ..."عربيةשלום",
  ..."हिन्दी",
  ..."漢字かなカナ",
  ..."한국어",
  ..."ไทย",
  "🚀",
  "🔑",
];

const visibleText = fc
  .array(fc.constantFrom(...VISIBLE), { minLength: 1, maxLength: 40 })
  .map((chars) => chars.join(""));

function refused(run: () => unknown): boolean {
  try {
    run();
    return false;
  } catch (error) {
    return error instanceof KeywardError && error.code === "validation_failed";
  }
}

describe("names", () => {
  it("accept printable text of any script, as NFC", () => {
    fc.assert(
      fc.property(visibleText, (text) => {
        expect(normalizeTokenName(text)).toBe(text.normalize("NFC").trim());
        expect(normalizeDisplayName(text, "Name")).toBe(text.normalize("NFC").trim());
      }),
    );
  });

  it("are idempotent: a stored name normalises to itself", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60, unit: "grapheme" }), (text) => {
        let once: string;
        try {
          once = normalizeTokenName(text);
        } catch {
          return;
        }
        expect(normalizeTokenName(once)).toBe(once);
      }),
    );
  });

  it("make one name of canonically equal spellings (café in NFC and NFD)", () => {
    fc.assert(
      fc.property(visibleText, (text) => {
        expect(normalizeTokenName(text.normalize("NFD"))).toBe(normalizeTokenName(text));
      }),
    );
    expect(normalizeTokenName("cafe\u0301")).toBe("café");
  });

  it("refuse invisible and text-direction characters anywhere, and names of them alone", () => {
    const invisible = fc.constantFrom(
      "\u200b", // zero-width space
      "\u200c",
      "\u200d",
      "\u2060", // word joiner
      "\ufeff",
      "\u00ad", // soft hyphen
      "\u202e", // right-to-left override
      "\u2066",
      "\u200f",
      "\u061c",
      "\u180e",
      "\ufe0f",
    );
    fc.assert(
      fc.property(visibleText, invisible, fc.nat(), (text, mark, at) => {
        const i = at % (text.length + 1);
        const name = text.slice(0, i) + mark + text.slice(i);
        expect(refused(() => normalizeTokenName(name))).toBe(true);
        expect(refused(() => normalizeDisplayName(name, "Name"))).toBe(true);
      }),
    );
    expect(refused(() => normalizeTokenName("\u200b"))).toBe(true);
    expect(refused(() => normalizeTokenName(" \u00a0 "))).toBe(true);
  });

  it("refuse Unicode's line and paragraph separators, as they refuse a newline", () => {
    for (const mark of ["\n", "\r", "\u2028", "\u2029", "\u0085"]) {
      expect(
        refused(() => normalizeTokenName(`ci${mark}deploy`)),
        JSON.stringify(mark),
      ).toBe(true);
      expect(refused(() => normalizeDisplayName(`Ann${mark}Lee`, "Name"))).toBe(true);
    }
  });
});

describe("emails", () => {
  it("refuse zero-width, bidirectional and fullwidth look-alikes", () => {
    for (const email of [
      "ann\u200b@example.com",
      "ann@exa\u202emple.com",
      "ａnn@example.com",
      "ann@ｅxample.com",
    ]) {
      expect(
        refused(() => normalizeEmail(email)),
        JSON.stringify(email),
      ).toBe(true);
    }
    expect(normalizeEmail(" Ann@Example.COM ")).toBe("ann@example.com");
    expect(normalizeEmail("josé@exämple.com")).toBe("josé@exämple.com");
  });
});
