import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyBaseLogger } from "fastify";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { bufferedDestination, flushLogSync } from "./logging.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function logFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "keyward-log-"));
  dirs.push(dir);
  return join(dir, "access.log");
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("not written in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Runs a process that logs five lines through a buffered destination (held back: its
 * interval is a minute) and then ends as `ending` says; the lines found in its file.
 */
function linesWrittenByAProcessThat(ending: string): number {
  const file = logFile();
  const logging = JSON.stringify(new URL("./logging.ts", import.meta.url).pathname);
  const script = [
    `import { pino } from "pino";`,
    `import { bufferedDestination } from ${logging};`,
    `const destination = bufferedDestination(${JSON.stringify(file)}, 60_000);`,
    `destination.sink.once("ready", () => {`,
    `  const log = pino({}, destination);`,
    `  for (let i = 0; i < 5; i++) log.info("line " + i);`,
    ending,
    `});`,
  ].join("\n");
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", script],
    {
      encoding: "utf8",
    },
  );
  expect(result.status, result.stderr).toBe(0);
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter((line) => line !== "").length;
}

describe("the buffered access log", () => {
  it("holds a line back, then writes it within the flush interval without being asked", async () => {
    const file = logFile();
    const destination = bufferedDestination(file, 50);
    await new Promise((resolve) => destination.sink.once("ready", resolve));
    let handedOn = 0;
    const write = destination.sink.write.bind(destination.sink);
    destination.sink.write = (block: string) => {
      handedOn++;
      return write(block);
    };
    const log = pino({}, destination);
    log.info("one short line");
    // Far below the buffer's 32 KiB: nothing is handed on to be written at once.
    expect(handedOn).toBe(0);
    await until(() => readFileSync(file, "utf8").includes("one short line"));
    destination.destroy();
  });

  it("writes everything buffered at once on flushLogSync (shutdown, fatal error)", async () => {
    const file = logFile();
    const destination = bufferedDestination(file, 60_000);
    await new Promise((resolve) => destination.sink.once("ready", resolve));
    const log = pino({}, destination);
    for (let i = 0; i < 3; i++) log.info(`line ${i}`);
    // An asynchronous write that never finishes, as for a process that exits right after:
    // what flushLogSync promises must not depend on one.
    const fs = createRequire(import.meta.url)("node:fs") as { write: unknown };
    const asyncWrite = fs.write;
    fs.write = () => {};
    try {
      flushLogSync(log as unknown as FastifyBaseLogger);
    } finally {
      fs.write = asyncWrite;
    }
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(3);
    destination.destroy();
  });

  it("writes many lines in order, a block at a time, and the rest within the interval", async () => {
    const file = logFile();
    const destination = bufferedDestination(file, 50);
    await new Promise((resolve) => destination.sink.once("ready", resolve));
    const writes: number[] = [];
    const write = destination.sink.write.bind(destination.sink);
    destination.sink.write = (block: string) => {
      writes.push(block.length);
      return write(block);
    };
    const log = pino({}, destination);
    const count = 2000;
    for (let i = 0; i < count; i++) log.info(`line ${i} ${"é".repeat(i % 7)}`);
    // Two thousand lines of about 70 characters: a handful of blocks, not a write a line.
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.length).toBeLessThan(10);
    await until(() => readFileSync(file, "utf8").split("\n").length === count + 1);
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(
      Array.from({ length: count }, (_, i) => `line ${i} ${"é".repeat(i % 7)}`),
    );
    destination.destroy();
  });

  it("writes what is gathered when the process exits without closing the log", () => {
    expect(linesWrittenByAProcessThat("  process.exit(0);")).toBe(5);
  });

  it("writes what is gathered when the process ends by itself, its event loop empty", () => {
    expect(linesWrittenByAProcessThat("")).toBe(5);
  });
});
