import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../test-support/process.js";

// In a process of its own, with V8's collector and map comparison at hand: a tick object
// nothing keeps is collected by a full collection, with the maps only it kept; the pinned
// one stays, and tick objects made after the collection still have its map (so the
// feedback `nextTick` recorded for it still holds).
describe("pinTickObject", () => {
  it("keeps a tick object, and with it the map every later tick object gets", () => {
    const script = `
      import { createHook } from "node:async_hooks";
      import { pinTickObject, pinnedTickObject } from "./src/cli/pin-tick-object.ts";
      const sameMap = new Function("a", "b", "return %HaveSameMap(a, b)");
      function nextTickObject() {
        let captured;
        const hook = createHook({
          init(_id, type, _trigger, resource) {
            if (type === "TickObject") captured ??= resource;
          },
        });
        hook.enable();
        process.nextTick(() => {});
        hook.disable();
        return captured;
      }
      const settle = () => new Promise((resolve) => setImmediate(resolve));
      pinTickObject();
      pinTickObject();
      const pinnedBeforeItsTick = pinnedTickObject() !== undefined;
      await settle();
      const first = pinnedTickObject();
      pinTickObject();
      await settle();
      const same = pinnedTickObject() === first;
      const pinned = new WeakRef(first ?? {});
      const unpinned = new WeakRef(nextTickObject());
      await settle();
      globalThis.gc();
      await settle();
      globalThis.gc();
      const later = nextTickObject();
      console.log(JSON.stringify({
        pinnedKept: pinned.deref() !== undefined,
        unpinnedKept: unpinned.deref() !== undefined,
        laterHasPinnedMap: sameMap(pinned.deref(), later),
        pinnedBeforeItsTick,
        same,
        isTickObject: typeof pinned.deref()?.callback === "function",
      }));
    `;
    const result = spawnSync(
      process.execPath,
      [
        "--expose-gc",
        "--allow-natives-syntax",
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        script,
      ],
      { cwd: REPO_ROOT, encoding: "utf8" },
    );
    expect(result.status, result.stderr).toBe(0);
    const line = result.stdout.trim().split("\n").at(-1) ?? "";
    expect(JSON.parse(line)).toEqual({
      pinnedKept: true,
      unpinnedKept: false,
      laterHasPinnedMap: true,
      pinnedBeforeItsTick: false,
      same: true,
      isTickObject: true,
    });
  });

  it("runs in the keyward command before the commands and their imports are loaded", () => {
    const main = readFileSync(join(REPO_ROOT, "src", "cli", "main.ts"), "utf8");
    expect(main).not.toMatch(/^import[^;]*"\.\/commands\.js"/m);
    const pin = main.indexOf("pinTickObject();");
    expect(pin).toBeGreaterThan(0);
    expect(main.indexOf('await import("./commands.js")')).toBeGreaterThan(pin);
  });
});
