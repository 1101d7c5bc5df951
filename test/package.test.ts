import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  REPO_ROOT,
  requireBuild,
  runProgram,
  type ServerProcess,
  startServerProcess,
} from "../src/test-support/process.js";
import { unshippableReason } from "../src/test-support/shipped-files.js";

// The package as a user gets it: `npm pack`, `npm install <tarball>` in an empty folder,
// then the installed `keyward` command. The install fetches the dependencies (from npm's
// cache when it can) and compiles better-sqlite3, so it takes a minute or more.
const INSTALL_TIMEOUT_MS = 6 * 60_000;

const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  version: string;
};

let dir: string;
let app: string;
let keyward: string;
let packedFiles: string[] = [];
let clientPackedFiles: string[] = [];
const env = () => ({ PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? dir });

// Without the npm_* variables an outer `npm test` sets (npm_config_local_prefix names
// this checkout): the install must happen in the empty folder, as a user's would.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)),
);

async function npm(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const result = await runProgram("npm", args, { ...cleanEnv, ...extraEnv }, cwd);
  if (result.code !== 0)
    throw new Error(`npm ${args.join(" ")} exited with ${result.code}:\n${result.output}`);
  return result.output;
}

/** `npm pack` of the root package, or of a workspace with `--workspace <name>`. */
async function packed(args: string[]): Promise<{ filename: string; files: { path: string }[] }> {
  const output = await npm(
    ["pack", ...args, "--ignore-scripts", "--json", "--pack-destination", dir],
    REPO_ROOT,
  );
  const [pack] = JSON.parse(output.slice(output.indexOf("["))) as {
    filename: string;
    files: { path: string }[];
  }[];
  if (!pack) throw new Error(`npm pack said nothing about a tarball:\n${output}`);
  return pack;
}

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), "keyward-package-"));
  // --ignore-scripts packs the build that `npm test` made first (pretest) instead of
  // rebuilding dist/ while other test files use it; a plain `npm pack` runs the same
  // build (prepare) and then packs the same files.
  const pack = await packed([]);
  packedFiles = pack.files.map((f) => f.path);
  // keyward depends on keyward-client (the token format is one implementation, in the
  // client package): both are published, so both tarballs are installed together.
  const clientPack = await packed(["--workspace", "keyward-client"]);
  clientPackedFiles = clientPack.files.map((f) => f.path);

  app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(
    join(app, "package.json"),
    '{ "name": "keyward-install-check", "private": true, "type": "module" }',
  );
  await npm(
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      join(dir, clientPack.filename),
      join(dir, pack.filename),
    ],
    app,
    // No prebuilt better-sqlite3 can be downloaded here, so npm compiles it; unoptimized,
    // that takes seconds instead of minutes. This test checks the package, not SQLite.
    { CFLAGS: "-O0", CXXFLAGS: "-O0" },
  );
  keyward = join(app, "node_modules", ".bin", "keyward");
}, INSTALL_TIMEOUT_MS);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the npm package", () => {
  it("holds the built server, the UI and the docs, and no test or benchmark code", () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining([
        "package.json",
        "dist/cli/main.js",
        "dist/web/index.html",
        "README.md",
        "CHANGELOG.md",
        "docs/api.md",
      ]),
    );
    const problems = packedFiles.flatMap((path) => {
      const reason = unshippableReason(path);
      return reason ? [`${path}: ${reason}`] : [];
    });
    expect(problems, problems.join("\n")).toEqual([]);
  });

  it("ships keyward-client built, with its types and adapters, and no test code", () => {
    expect(clientPackedFiles).toEqual(
      expect.arrayContaining([
        "package.json",
        "README.md",
        "LICENSE",
        "dist/index.js",
        "dist/index.d.ts",
        "dist/token-format.js",
        "dist/fastify.js",
        "dist/express.js",
        "dist/hono.js",
      ]),
    );
    const problems = clientPackedFiles.flatMap((path) => {
      const reason = unshippableReason(path);
      return reason ? [`${path}: ${reason}`] : [];
    });
    expect(problems, problems.join("\n")).toEqual([]);
  });

  it("installs keyward-client, whose entry points load and check a token offline", async () => {
    writeFileSync(
      join(app, "check.js"),
      [
        'import { KeywardClient } from "keyward-client";',
        'import { checkTokenFormat, tokenChecksum } from "keyward-client/token-format";',
        'await import("keyward-client/fastify");',
        'await import("keyward-client/express");',
        'await import("keyward-client/hono");',
        'const body = "kwsk_" + "a".repeat(30);',
        "const serviceKey = body + tokenChecksum(body);",
        'const client = new KeywardClient({ url: "http://127.0.0.1:9", serviceKey });',
        'const answer = await client.verify("kw_made_up");',
        "await client.close();",
        'console.log(JSON.stringify([checkTokenFormat("kw_x", "kw"), answer]));',
      ].join("\n"),
    );
    const result = await runProgram("node", ["check.js"], env(), app);
    expect(result.code, result.output).toBe(0);
    expect(JSON.parse(result.output)).toEqual([
      { ok: false, reason: "malformed" },
      { valid: false, code: "invalid_token" },
    ]);
  });

  it("installs a keyward command that prints its version, through npx as a user runs it", async () => {
    const result = await runProgram("npx", ["--no", "keyward", "version"], env(), app);
    expect(result).toEqual({ code: 0, output: `${version}\n` });
  });

  it("installs a keyward command that prints its help", async () => {
    const result = await runProgram(keyward, ["help"], env(), app);
    expect(result.code).toBe(0);
    expect(result.output).toContain("Usage: keyward <command>");
  });

  it("installs a keyward command that starts a server answering /healthz and serving the UI", async () => {
    let server: ServerProcess | undefined;
    try {
      server = await startServerProcess(
        { DATABASE_URL: `sqlite:${join(dir, "k.db")}`, PORT: "0" },
        app,
        [keyward],
      );
      const health = await fetch(`${server.baseUrl}/healthz`);
      expect(health.status).toBe(200);
      const page = await fetch(`${server.baseUrl}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="root">');
      expect(await server.stop()).toBe(0);
    } finally {
      server?.child.kill("SIGKILL");
    }
  });
});
