import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { requireBuild, runCli } from "../../src/test-support/process.js";
import { Cluster } from "./cluster.js";

// SQLite serves one Keyward process: a second one could not hear the first one's
// revocations, so it refuses to start instead (docs/deployment.md).
describe("a second process on one SQLite file", () => {
  const cluster = new Cluster();
  const dir = mkdtempSync(join(tmpdir(), "keyward-sqlite-two-"));

  afterAll(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is refused with a clear message while the first keeps serving", async () => {
    requireBuild();
    const env = { DATABASE_URL: `sqlite:${join(dir, "k.db")}` };
    const [first] = await cluster.start(1, env);
    const second = await runCli(["start"], { ...env, PORT: "0" });
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    expect(second.output).toContain("is in use by another Keyward process");
    expect(second.output).toContain("DATABASE_URL=postgres://");
    expect((await fetch(`${first?.baseUrl}/readyz`)).status).toBe(200);
  });
});
