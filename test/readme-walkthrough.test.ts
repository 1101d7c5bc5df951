import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, type ServerProcess, startServerProcess } from "../src/test-support/process.js";

let server: ServerProcess;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-readme-"));
  server = await startServerProcess({ DATABASE_URL: `sqlite:${join(dir, "k.db")}` }, dir);
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("README", () => {
  it("has a curl walkthrough that runs verbatim", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Walkthrough with curl"));
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    expect(script).toContain("B=http://127.0.0.1:3000");
    // The one change: the server under test listens on a free port, not 3000.
    const runnable = (script as string).replace("B=http://127.0.0.1:3000", `B=${server.baseUrl}`);
    const result = spawnSync("bash", ["-euo", "pipefail", "-c", runnable], {
      cwd: dir,
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const out = result.stdout;
    expect(out).toContain('"application":{"id":"app_');
    expect(out).toMatch(/"name":"API Testing".*"lastUsedAt":"20\d\d-/);
    expect(out).toContain("204");
    expect(out).toMatch(/HTTP\/1\.1 401/);
    expect(out).toContain('error="invalid_token"');
  });
});
