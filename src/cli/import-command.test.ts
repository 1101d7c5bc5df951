import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  createToken,
  signUpWithApp,
  startTestServer,
  type TestServer,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { REPO_ROOT, runNode } from "../test-support/process.js";

// `keyward import-tokens` runs as its own process against the store of a server running in
// this one: imported tokens must verify on that server, made-up ones must not.

const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "keyward-import-"));

let server: TestServer;
let databaseUrl: string;

function keyward(...args: string[]) {
  return runNode(["--import", "tsx", MAIN, ...args], {
    PATH: process.env.PATH ?? "",
    DATABASE_URL: databaseUrl,
    USER: "alice",
  });
}

/** A token of another system: no prefix or checksum of ours. */
function foreignToken(): string {
  return `ghp_${randomBytes(24).toString("base64url")}`;
}
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function writeLines(name: string, lines: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `${lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n")}\n`,
  );
  return path;
}

async function status(token: string): Promise<number> {
  return (await fetch(`${server.baseUrl}/api`, { headers: bearer(token) })).status;
}

beforeAll(async () => {
  server = await startTestServer();
  const database = server.config.database;
  databaseUrl = database.kind === "sqlite" ? `sqlite:${database.path}` : database.url;
});
afterAll(async () => {
  await server?.close();
});

describe("keyward import-tokens", () => {
  it("counts a hash given twice once, in the dry run as in the import", async () => {
    const { user, appId } = await signUpWithApp(server.baseUrl, "Twice");
    const [a, b] = [foreignToken(), foreignToken()];
    const file = writeLines("twice.jsonl", [
      { sha256: sha256(a), name: "first" },
      { sha256: sha256(b), name: "other" },
      // The same secret again, its hash in capitals: the same hash.
      { sha256: sha256(a).toUpperCase(), name: "again" },
    ]);
    const args = ["import-tokens", file, "--application", appId, "--user", user.email, "--json"];
    const dry = await keyward(...args, "--dry-run");
    expect(dry.code, dry.output).toBe(0);
    expect(JSON.parse(dry.output)).toEqual({ lines: 3, imported: 2, skipped: 1, dryRun: true });
    const run = await keyward(...args);
    expect(run.code, run.output).toBe(0);
    expect(JSON.parse(run.output)).toEqual({ lines: 3, imported: 2, skipped: 1, dryRun: false });
  });

  it("imports hashes that then verify on the running server, once; audited with the operator", async () => {
    const { client, user, appId } = await signUpWithApp(server.baseUrl, "Migrated");
    // Our own tokens keep working, and a made-up one of our format stays refused.
    const { token: own } = await createToken(client, appId, { name: "own" });
    const tokens = [foreignToken(), foreignToken(), foreignToken()];
    // Before the import: refused.
    expect(await status(tokens[0] as string)).toBe(401);
    const file = writeLines("good.jsonl", [
      { sha256: sha256(tokens[0] as string), name: "ci", owner: user.email, scopes: [] },
      "",
      {
        sha256: sha256(tokens[1] as string).toUpperCase(),
        name: "deploy",
        hint: "ghp_…x1",
        expiresAt: "2999-01-01T00:00:00Z",
      },
      {
        sha256: sha256(tokens[2] as string),
        name: "old",
        owner: user.id,
        expiresAt: "2001-01-01T00:00:00Z",
      },
    ]);

    const dry = await keyward(
      "import-tokens",
      file,
      "--application",
      appId,
      "--user",
      user.email,
      "--dry-run",
      "--json",
    );
    expect(dry.code, dry.output).toBe(0);
    expect(JSON.parse(dry.output)).toEqual({ lines: 4, imported: 3, skipped: 0, dryRun: true });
    const listed = async () =>
      JSON.parse((await keyward("tokens", "list", "--application", appId, "--json")).output) as {
        name: string;
        hint: string;
      }[];
    expect((await listed()).map((t) => t.name)).toEqual(["own"]);

    const run = await keyward("import-tokens", file, "--application", appId, "--user", user.email);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain("3 token(s) imported");
    await pollUntil(
      "the imported token to verify",
      async () => (await status(tokens[0] as string)) === 200,
    );
    expect(await status(tokens[1] as string)).toBe(200);
    // Imported with an expiry in the past: expired, like any other.
    expect(await status(tokens[2] as string)).toBe(401);
    expect(await status(own)).toBe(200);
    // Our prefix with a wrong checksum: still refused without a storage read.
    // Ten of them, and at most one secret lookup meanwhile: a cached token's refresh-ahead
    // may land in the window, but a lookup per refusal would show as ten. (Secret lookups,
    // not all reads: the server's background polls read at any moment.)
    const lookupsBefore = server.keyward.store.stats.secretLookups;
    for (let i = 0; i < 10; i++)
      expect(await status(`${own.slice(0, -1)}${own.endsWith("A") ? "B" : "A"}`)).toBe(401);
    expect(server.keyward.store.stats.secretLookups - lookupsBefore).toBeLessThanOrEqual(1);
    expect(await status(foreignToken())).toBe(401);
    expect((await listed()).find((t) => t.name === "deploy")?.hint).toBe("ghp_…x1");

    // Run again (a resumed migration): nothing doubles.
    const again = await keyward(
      "import-tokens",
      file,
      "--application",
      appId,
      "--user",
      user.email,
      "--json",
    );
    expect(JSON.parse(again.output)).toMatchObject({ imported: 0, skipped: 3 });
    expect(await listed()).toHaveLength(4);

    const audit = await keyward("audit", "export", "--since", "2000-01-01", "--application", appId);
    const events = audit.output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { action: string; detail: Record<string, unknown> });
    const imported = events.filter((e) => e.action === "token.imported");
    expect(imported).toHaveLength(1);
    expect(imported[0]?.detail).toMatchObject({ operator: "alice", via: "cli", tokens: 3 });
    // No secret, and no hash, reaches the audit trail.
    expect(audit.output).not.toContain(sha256(tokens[0] as string));
    // Eight command-line processes, each starting tsx: slow on a loaded machine.
  }, 120_000);

  it("refuses a file with wrong lines, naming each line, and writes nothing", async () => {
    const { user, appId } = await signUpWithApp(server.baseUrl, "Bad file");
    const token = foreignToken();
    const file = writeLines("bad.jsonl", [
      { sha256: sha256(token), name: "fine", owner: user.email },
      { sha256: "abc", name: "short hash" },
      "{not json",
      { sha256: sha256(foreignToken()), name: "no owner" },
      { sha256: sha256(foreignToken()), name: "x", owner: "nobody@example.com" },
      { sha256: sha256(foreignToken()), name: "x", owner: user.email, color: "red" },
    ]);
    const result = await keyward("import-tokens", file, "--application", appId);
    expect(result.code).toBe(65);
    expect(result.output).toContain("Nothing was imported");
    expect(result.output).toMatch(/line 2: sha256 must be 64 hexadecimal digits/);
    expect(result.output).toMatch(/line 3: not valid JSON/);
    expect(result.output).toMatch(/line 4: no owner/);
    expect(result.output).toMatch(/line 5: no user "nobody@example.com"/);
    expect(result.output).toMatch(/line 6: unknown field "color"/);
    expect(result.output).not.toMatch(/line 1:/);
    const listed = await keyward("tokens", "list", "--application", appId, "--json");
    expect(JSON.parse(listed.output)).toEqual([]);
    expect(await status(token)).toBe(401);

    const unknownApp = await keyward(
      "import-tokens",
      file,
      "--application",
      "app_00000000000000000000",
    );
    expect(unknownApp.code).toBe(66);
    expect(unknownApp.output).toContain("keyward apps list");
  }, 120_000);

  it("refuses input that is not a file (a pipe would be read empty the second time), and a missing file", async () => {
    const { appId } = await signUpWithApp(server.baseUrl, "Piped");
    const fifo = join(dir, "piped.jsonl");
    execFileSync("mkfifo", [fifo]);
    const piped = await keyward("import-tokens", fifo, "--application", appId);
    expect(piped.code).toBe(65);
    expect(piped.output).toContain("is not a regular file");
    const missing = await keyward(
      "import-tokens",
      join(dir, "absent.jsonl"),
      "--application",
      appId,
    );
    expect(missing.code).toBe(66);
    expect(missing.output).toContain("No file at");
    expect(missing.output).not.toContain("ENOENT");
  }, 60_000);
});
