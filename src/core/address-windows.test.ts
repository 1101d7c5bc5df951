import { describe, expect, it } from "vitest";
import { AddressWindows } from "./address-windows.js";

const T0 = 1_800_000_000_000;

describe("AddressWindows", () => {
  it("counts an address within its minute and starts again when the minute ends", () => {
    const windows = new AddressWindows();
    expect(windows.count("a", T0)).toEqual({ count: 1, end: T0 + 60_000 });
    expect(windows.count("a", T0 + 59_999)).toEqual({ count: 2, end: T0 + 60_000 });
    expect(windows.count("b", T0 + 1)).toEqual({ count: 1, end: T0 + 60_001 });
    expect(windows.open("a", T0 + 59_999)?.count).toBe(2);
    expect(windows.open("a", T0 + 60_000)).toBeUndefined();
    expect(windows.count("a", T0 + 60_000)).toEqual({ count: 1, end: T0 + 120_000 });
  });

  it("answers nothing open for an address it never counted", () => {
    const windows = new AddressWindows();
    expect(windows.open("a", T0)).toBeUndefined();
    windows.count("b", T0);
    expect(windows.open("a", T0)).toBeUndefined();
  });
});
