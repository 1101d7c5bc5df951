import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createToken,
  signUpWithApp,
  startTestServer,
  TEST_STORE,
  type TestServer,
} from "../test-support/harness.js";
import { REPO_ROOT, runNode } from "../test-support/process.js";

const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");

function keyward(env: Record<string, string>, ...args: string[]) {
  return runNode(["--import", "tsx", MAIN, ...args], { PATH: process.env.PATH ?? "", ...env });
}

describe.skipIf(TEST_STORE !== "sqlite")("keyward backup on SQLite", () => {
  let server: TestServer;
  let databaseUrl: string;
  const out = mkdtempSync(join(tmpdir(), "keyward-backup-"));

  beforeAll(async () => {
    server = await startTestServer({
      MAX_ACTIVE_TOKENS_PER_USER: "100000",
      TOKEN_CREATIONS_PER_USER_PER_HOUR: "1000000",
    });
    const database = server.config.database;
    if (database.kind !== "sqlite") throw new Error("SQLite only");
    databaseUrl = `sqlite:${database.path}`;
  });
  afterAll(async () => {
    await server?.close();
    rmSync(out, { recursive: true, force: true });
  });

  it("copies a store under write load: the copy passes integrity_check and holds every acknowledged write", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const acknowledged: string[] = [];
    let writing = true;
    let n = 0;
    // Writes acknowledged (201) before the backup starts must all be in it; writes keep
    // going while it runs, so the copy is taken from a store that is changing.
    const load = (async () => {
      while (writing) {
        const { id } = await createToken(client, appId, { name: `load ${n++}` });
        acknowledged.push(id);
      }
    })();
    while (acknowledged.length < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    const before = [...acknowledged];
    const file = join(out, "backup.db");
    const result = await keyward({ DATABASE_URL: databaseUrl }, "backup", file, "--json");
    writing = false;
    await load;
    expect(result.code, result.output).toBe(0);
    const summary = JSON.parse(result.output) as { file: string; bytes: number };
    expect(summary.bytes).toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThan(before.length); // the load really overlapped

    const copy = new Database(file, { readonly: true });
    try {
      expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
      const ids = new Set(
        (copy.prepare("select id from tokens").all() as Array<{ id: string }>).map((r) => r.id),
      );
      for (const id of before) expect(ids.has(id), id).toBe(true);
    } finally {
      copy.close();
    }
    expect(readdirSync(out).filter((name) => name.endsWith(".partial"))).toEqual([]);

    // The copy is a working store: a server starts on it.
    const restored = await startTestServer({ DATABASE_URL: `sqlite:${file}` });
    try {
      expect((await fetch(`${restored.baseUrl}/readyz`)).status).toBe(200);
    } finally {
      await restored.close({ keepData: true });
    }
  });

  it("refuses to overwrite a file without --force (exit 65)", async () => {
    const file = join(out, "twice.db");
    expect((await keyward({ DATABASE_URL: databaseUrl }, "backup", file)).code).toBe(0);
    const again = await keyward({ DATABASE_URL: databaseUrl }, "backup", file);
    expect(again.code).toBe(65);
    expect(again.output).toContain("--force");
    expect((await keyward({ DATABASE_URL: databaseUrl }, "backup", file, "--force")).code).toBe(0);
  });

  it("refuses, even with --force, to write over the store or its files while the server runs (exit 65)", async () => {
    const database = server.config.database;
    if (database.kind !== "sqlite") throw new Error("SQLite only");
    const { client, appId } = await signUpWithApp(server.baseUrl);
    // The same file spelled another way (relative, through a symbolic link) is refused too.
    const linkDir = join(out, "link");
    symlinkSync(dirname(database.path), linkDir);
    const name = basename(database.path);
    for (const target of [
      database.path,
      relative(process.cwd(), database.path),
      join(linkDir, name),
      `${database.path}-wal`,
      `${database.path}-shm`,
      `${database.path}-server.lock`,
    ]) {
      const result = await keyward({ DATABASE_URL: databaseUrl }, "backup", target, "--force");
      expect(result.code, target).toBe(65);
      expect(result.output).toContain("is the store itself");
    }
    // The server still writes to, and reads from, the one store file there is.
    const { id } = await createToken(client, appId, { name: "after the refusals" });
    const listed = await client.get<{ tokens: Array<{ id: string }> }>(
      `/api/v1/applications/${appId}/tokens`,
    );
    expect(listed.body.tokens.map((t) => t.id)).toContain(id);
    const check = new Database(database.path, { readonly: true });
    try {
      expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      check.close();
    }
  });

  it("writes the backup and the store readable by their owner only", async () => {
    const database = server.config.database;
    if (database.kind !== "sqlite") throw new Error("SQLite only");
    // The test server's store was created by it, as a new store is.
    expect(statSync(database.path).mode & 0o777).toBe(0o600);
    expect(statSync(`${database.path}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(`${database.path}-server.lock`).mode & 0o777).toBe(0o600);
    const file = join(out, "private.db");
    expect((await keyward({ DATABASE_URL: databaseUrl }, "backup", file)).code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("refuses, even with --force, what is not a regular file, and says what is missing", async () => {
    const pipe = join(out, "pipe");
    execFileSync("mkfifo", [pipe]);
    for (const target of [pipe, out]) {
      const result = await keyward({ DATABASE_URL: databaseUrl }, "backup", target, "--force");
      expect(result.code, target).toBe(65);
      expect(result.output).toContain("is not a regular file");
    }
    expect(statSync(pipe).isFIFO()).toBe(true);

    const missing = join(out, "no-such-folder", "backup.db");
    const noFolder = await keyward({ DATABASE_URL: databaseUrl }, "backup", missing);
    expect(noFolder.code).toBe(66);
    expect(noFolder.output).toContain(`${dirname(missing)}: no such folder.`);
    expect((await keyward({ DATABASE_URL: databaseUrl }, "backup", "")).code).toBe(64);
  });

  it("on PostgreSQL prints how to use pg_dump and exits 1 (no backup written)", async () => {
    const file = join(out, "pg.dump");
    const result = await keyward(
      { DATABASE_URL: "postgres://keyward@db.invalid:5432/keyward" },
      "backup",
      file,
    );
    expect(result.code).toBe(1);
    expect(result.output).toContain("pg_dump --format=custom");
    expect(result.output).toContain("pg_restore");
    expect(existsSync(file)).toBe(false);
  });
});
