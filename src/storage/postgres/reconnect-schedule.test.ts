import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ReconnectSchedule } from "./reconnect-schedule.js";

describe("ReconnectSchedule", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("doubles the delay up to its maximum, jittered to 50-100 %, and starts over after a success", () => {
    let attempts = 0;
    const schedule = new ReconnectSchedule({ initial: 100, max: 400 }, () => attempts++);
    for (const delay of [100, 200, 400, 400]) {
      const before = attempts;
      schedule.schedule();
      vi.advanceTimersByTime(delay / 2 - 1);
      expect(attempts).toBe(before);
      vi.advanceTimersByTime(delay / 2 + 1);
      expect(attempts).toBe(before + 1);
    }
    expect(schedule.attempts).toBe(4);
    schedule.succeeded();
    schedule.schedule();
    vi.advanceTimersByTime(100);
    expect(attempts).toBe(5);
  });

  it("keeps one attempt scheduled at a time, and cancels it", () => {
    let attempts = 0;
    const schedule = new ReconnectSchedule({ initial: 100, max: 100 }, () => attempts++);
    schedule.schedule();
    schedule.schedule();
    vi.advanceTimersByTime(1000);
    expect(attempts).toBe(1);
    schedule.schedule();
    schedule.cancel();
    vi.advanceTimersByTime(1000);
    expect(attempts).toBe(1);
  });
});
