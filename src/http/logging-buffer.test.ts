import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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

describe("the buffered access log", () => {
  it("holds a line back, then writes it within the flush interval without being asked", async () => {
    const file = logFile();
    const destination = bufferedDestination(file, 50);
    await new Promise((resolve) => destination.once("ready", resolve));
    const log = pino({}, destination);
    log.info("one short line");
    // Far below the buffer's 32 KiB: nothing is written at once.
    expect(readFileSync(file, "utf8")).toBe("");
    await until(() => readFileSync(file, "utf8").includes("one short line"));
    destination.destroy();
  });

  it("writes everything buffered at once on flushLogSync (shutdown, fatal error)", async () => {
    const file = logFile();
    const destination = bufferedDestination(file, 60_000);
    await new Promise((resolve) => destination.once("ready", resolve));
    const log = pino({}, destination);
    for (let i = 0; i < 3; i++) log.info(`line ${i}`);
    expect(readFileSync(file, "utf8")).toBe("");
    flushLogSync(log as unknown as FastifyBaseLogger);
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(3);
    destination.destroy();
  });
});
