import { describe, expect, it } from "vitest";
import { ReadWriteLock } from "./read-write-lock.js";

/** A piece of work that runs until the test ends it, recording when it starts. */
function gatedWork(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    work: async () => {
      log.push(`${name} started`);
      await done;
      log.push(`${name} ended`);
    },
    finish,
  };
}

/** Lets every promise callback that is ready run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("ReadWriteLock", () => {
  it("runs readers together, a writer alone, and waiters in the order they came", async () => {
    const lock = new ReadWriteLock();
    const log: string[] = [];
    const r1 = gatedWork(log, "r1");
    const r2 = gatedWork(log, "r2");
    const w = gatedWork(log, "w");
    const r3 = gatedWork(log, "r3");
    const runs = [lock.read(r1.work), lock.read(r2.work), lock.write(w.work), lock.read(r3.work)];
    await settle();
    // Both readers run; the writer waits for them, and the reader after it waits for it.
    expect(log).toEqual(["r1 started", "r2 started"]);
    r1.finish();
    await settle();
    expect(log).toEqual(["r1 started", "r2 started", "r1 ended"]);
    r2.finish();
    await settle();
    expect(log.slice(3)).toEqual(["r2 ended", "w started"]);
    w.finish();
    await settle();
    expect(log.slice(5)).toEqual(["w ended", "r3 started"]);
    r3.finish();
    await Promise.all(runs);
  });

  it("lets the next one in when work fails, and passes the failure on", async () => {
    const lock = new ReadWriteLock();
    const failing = lock.write(async () => {
      throw new Error("storage down");
    });
    const next = lock.read(async () => "read");
    await expect(failing).rejects.toThrow("storage down");
    await expect(next).resolves.toBe("read");
  });
});
