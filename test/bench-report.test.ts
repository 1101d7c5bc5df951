import { describe, expect, it } from "vitest";
import { figureText } from "../bench/report.js";

describe("the bench's printed figure against a target's bound", () => {
  it("never rounds a figure below a floor onto it", () => {
    // A run printed "MISSED case 4 ≥ 0.8 × case 1 (SQLite): 0.80" for 0.7968.
    expect(figureText(0.7968, 0.8)).toBe("0.797");
    expect(figureText(0.79996, 0.8)).toBe("0.79996");
    expect(figureText(0.7999996, 0.8)).toBe("0.7999996");
    expect(figureText(24.96, 25, 1)).toBe("24.96");
    expect(figureText(299.6, 300, 0)).toBe("299.6");
  });

  it("never rounds a figure above a ceiling onto it", () => {
    expect(figureText(1.5004, 1.5)).toBe("1.5004");
    expect(figureText(200.4, 200, 0)).toBe("200.4");
  });

  it("never rounds a figure past a bound that has more decimals than it shows", () => {
    expect(figureText(0.855, 0.86, 1)).toBe("0.85");
    expect(figureText(0.87, 0.86, 1)).toBe("0.9");
  });

  it("keeps the decimals asked for otherwise, and for the bound itself", () => {
    expect(figureText(0.7467, 0.8)).toBe("0.75");
    expect(figureText(0.93, 0.9)).toBe("0.93");
    expect(figureText(0.8, 0.8)).toBe("0.80");
    expect(figureText(14.94, 25, 1)).toBe("14.9");
    expect(figureText(24.1, 100, 1)).toBe("24.1");
  });

  it("prints a missing figure as such", () => {
    expect(figureText(Number.NaN, 100, 1)).toBe("NaN");
  });
});
