import { describe, expect, it } from "vitest";
import { Uint32Set } from "./uint32-set.js";

describe("Uint32Set", () => {
  it("holds what was added through growth, and is empty again after clear", () => {
    const set = new Uint32Set();
    for (let i = 1; i <= 5000; i++) set.add(Math.imul(i, 2654435761) >>> 0);
    expect(set.size).toBe(5000);
    let held = 0;
    for (let i = 1; i <= 5000; i++) if (set.has(Math.imul(i, 2654435761) >>> 0)) held++;
    expect(held).toBe(5000);
    set.clear();
    expect(set.size).toBe(0);
    expect(set.has(2654435761)).toBe(false);
    set.add(2654435761);
    expect(set.has(2654435761)).toBe(true);
  });

  it("counts a member added twice once, and stores 0 as 1", () => {
    const set = new Uint32Set();
    set.add(7);
    set.add(7);
    expect(set.size).toBe(1);
    expect(set.has(0)).toBe(false);
    set.add(0);
    expect(set.has(0)).toBe(true);
    expect(set.has(1)).toBe(true);
  });
});
