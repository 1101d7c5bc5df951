import { describe, expect, it } from "vitest";
import { FENCE_SHARE_WINDOW_MS, FenceShare } from "./fence-share.js";

const ALONE_MS = 3.5;

/** `fencers` other processes, each fencing every `everyMs` for a window, up to `until`. */
function hearing(share: FenceShare, fencers: number, everyMs: number, until: number): void {
  const times: number[] = [];
  for (let at = until; at > until - FENCE_SHARE_WINDOW_MS; at -= everyMs) times.unshift(at);
  for (const at of times) for (let f = 0; f < fencers; f++) share.heard(`fencer-${f}`, at);
}

describe("FenceShare", () => {
  it("keeps no interval while no other process fences, and forgets them after the window", () => {
    const share = new FenceShare(ALONE_MS);
    expect(share.interval(0)).toBe(0);
    expect(share.fencing(0)).toBe(1);
    share.heard("other", 10);
    expect(share.fencing(10)).toBe(2);
    expect(share.interval(10)).toBeGreaterThan(0);
    expect(share.fencing(10 + FENCE_SHARE_WINDOW_MS)).toBe(2);
    expect(share.fencing(10 + FENCE_SHARE_WINDOW_MS + 1)).toBe(1);
    expect(share.interval(10 + FENCE_SHARE_WINDOW_MS + 1)).toBe(0);
  });

  it("shares the rate equally with processes that use all of it", () => {
    for (const others of [1, 3, 15]) {
      const share = new FenceShare(ALONE_MS);
      // The others send the shared rate between them, as they do once settled.
      hearing(share, others, ALONE_MS * (others + 1), 5_000);
      // Each of the others sends at 1 / (others + 1) of the rate, and so must this one.
      expect(share.interval(5_000)).toBeCloseTo(ALONE_MS * (others + 1), 0);
    }
  });

  it("takes what a trickle of other fences leaves, not an equal share with them", () => {
    const share = new FenceShare(ALONE_MS);
    // 15 processes each fencing twice a second: 30 fences of the shared 286.
    hearing(share, 15, 500, 5_000);
    expect(share.fencing(5_000)).toBe(16);
    const interval = share.interval(5_000);
    expect(interval).toBeLessThan(4);
    expect(interval).toBeGreaterThan(ALONE_MS);
  });

  it("keeps the newest 1,024 fences, and forgets them oldest first as the window passes", () => {
    const share = new FenceShare(ALONE_MS);
    // 2,000 fences from one other process, one every 0.5 ms: those from 488 ms on are held.
    for (let i = 0; i < 2_000; i++) share.heard("other", i / 2);
    // At 1,950 ms the window holds those from 950 ms on: 100 a second, which leaves this
    // process more than an equal share of the rate.
    expect(share.interval(1_950)).toBeCloseTo(1000 / (1000 / ALONE_MS - 100), 6);
    expect(share.interval(1_999.6)).toBe(0);
  });

  it("remembers at most 256 other fencers", () => {
    const share = new FenceShare(ALONE_MS);
    for (let i = 0; i < 1_000; i++) share.heard(`fencer-${i}`, 10);
    expect(share.fencing(10)).toBe(257);
  });

  it("holds its fences back at most 33 intervals, however many fencers it hears", () => {
    const share = new FenceShare(ALONE_MS);
    // A crowd of fencers (or a forger making up ids) sending far beyond the shared rate.
    for (let i = 0; i < 5_000; i++) share.heard(`forged-${i}`, 1_000 + i / 10);
    expect(share.interval(1_500)).toBeCloseTo(33 * ALONE_MS, 6);
  });
});
