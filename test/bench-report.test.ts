import { describe, expect, it } from "vitest";
import { ratioText } from "../bench/report.js";

describe("the bench's printed figure against a target's bound", () => {
  it("never rounds a missed ratio onto the bound it missed", () => {
    // A run printed "MISSED case 4 ≥ 0.8 × case 1 (SQLite): 0.80" for 0.7968.
    expect(ratioText(0.7968, 0.8)).toBe("0.797");
    expect(ratioText(0.79996, 0.8)).toBe("0.79996");
    expect(ratioText(24.96, 25, 1)).toBe("24.96");
  });

  it("nor a met one onto the bound from above when the bound is a ceiling", () => {
    expect(ratioText(1.5004, 1.5)).toBe("1.5004");
  });

  it("keeps two decimals otherwise, and for the bound itself", () => {
    expect(ratioText(0.7467, 0.8)).toBe("0.75");
    expect(ratioText(0.93, 0.9)).toBe("0.93");
    expect(ratioText(0.8, 0.8)).toBe("0.80");
    expect(ratioText(14.94, 25, 1)).toBe("14.9");
  });
});
