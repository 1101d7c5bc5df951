import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../src/test-support/postgres.js";
import {
  requireBuild,
  type ServerProcess,
  startServerProcess,
} from "../src/test-support/process.js";

// A server loads only its own database driver: SQLite never loads pg, PostgreSQL never
// loads better-sqlite3 (compose.ts imports the dialect's store when it picks it).
//
// The server runs with a preload (`--import`) that records every module it loads, two
// ways: a module resolve hook sees every `import` (the store modules, and pg and
// better-sqlite3 where our ESM code imports them), and `require.cache`, written at exit,
// holds every CommonJS file however it was reached. Each test also asserts that its own
// driver was recorded, so a recorder that records nothing fails the test.

const HOOKS = `
import { appendFileSync } from "node:fs";
let logFile;
export function initialize(data) {
  logFile = data.logFile;
}
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(logFile, resolved.url + "\\n");
  return resolved;
}
`;

const PRELOAD = `
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
const logFile = process.env.KEYWARD_TEST_MODULE_LOG;
register("./hooks.mjs", import.meta.url, { data: { logFile } });
const require = createRequire(import.meta.url);
process.on("exit", () => {
  appendFileSync(logFile, Object.keys(require.cache).join("\\n") + "\\n");
});
`;

const PG = /\/node_modules\/pg(-[a-z]+)?\//;
const POSTGRES_STORE = /\/dist\/storage\/postgres\//;
const BETTER_SQLITE3 = /\/node_modules\/better-sqlite3\//;
const SQLITE_STORE = /\/dist\/storage\/sqlite\/sqlite-store\.js/;

const dirs: string[] = [];
const running: ServerProcess[] = [];
const databases: TestDatabase[] = [];

beforeAll(() => requireBuild());
afterEach(async () => {
  for (const server of running.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null)
      await server.stop("SIGKILL");
  }
  for (const database of databases.splice(0)) await database.drop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts the built server with `env`, stops it, and returns every module it loaded. */
async function modulesLoadedByServer(env: Record<string, string>, dir: string): Promise<string[]> {
  writeFileSync(join(dir, "hooks.mjs"), HOOKS);
  writeFileSync(join(dir, "preload.mjs"), PRELOAD);
  const logFile = join(dir, "modules.log");
  writeFileSync(logFile, "");
  const server = await startServerProcess({
    ...env,
    NODE_OPTIONS: `--import=${pathToFileURL(join(dir, "preload.mjs")).href}`,
    KEYWARD_TEST_MODULE_LOG: logFile,
  });
  running.push(server);
  expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
  expect(await server.stop()).toBe(0);
  return readFileSync(logFile, "utf8").split("\n").filter(Boolean);
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "keyward-dialect-"));
  dirs.push(dir);
  return dir;
}

describe("the server loads only its own database driver", () => {
  it("on SQLite, loads better-sqlite3 and neither pg nor the PostgreSQL store", async () => {
    const dir = tempDir();
    const modules = await modulesLoadedByServer(
      { DATABASE_URL: `sqlite:${join(dir, "k.db")}` },
      dir,
    );
    expect(modules.filter((m) => BETTER_SQLITE3.test(m))).not.toEqual([]);
    expect(modules.filter((m) => SQLITE_STORE.test(m))).not.toEqual([]);
    expect(modules.filter((m) => PG.test(m) || POSTGRES_STORE.test(m))).toEqual([]);
  });

  it.skipIf(!postgresAvailable())(
    "on PostgreSQL, loads pg and neither better-sqlite3 nor the SQLite store",
    async () => {
      const database = await createTestDatabase();
      databases.push(database);
      const modules = await modulesLoadedByServer({ DATABASE_URL: database.url }, tempDir());
      expect(modules.filter((m) => PG.test(m))).not.toEqual([]);
      expect(modules.filter((m) => POSTGRES_STORE.test(m))).not.toEqual([]);
      expect(modules.filter((m) => BETTER_SQLITE3.test(m) || SQLITE_STORE.test(m))).toEqual([]);
    },
  );
});
