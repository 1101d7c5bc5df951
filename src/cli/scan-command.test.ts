import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateToken, tokenHint } from "../core/token.js";
import {
  createToken,
  signUpWithApp,
  startTestServer,
  type TestServer,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { REPO_ROOT, runNode } from "../test-support/process.js";

const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");
const random = { bytes: (n: number) => new Uint8Array(randomBytes(n)) };

function keyward(cwd: string, ...args: string[]) {
  // tsx by path: the scanned folder (the working directory) has no node_modules.
  const tsx = pathToFileURL(join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;
  return runNode(["--import", tsx, MAIN, ...args], { PATH: process.env.PATH ?? "" }, cwd);
}

/** The same token with its last checksum character changed: a look-alike. */
function wrongChecksum(token: string): string {
  const last = token.at(-1) === "A" ? "B" : "A";
  return token.slice(0, -1) + last;
}

describe("keyward scan", () => {
  const repo = mkdtempSync(join(tmpdir(), "keyward-scan-"));
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", repo, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@example.com",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@example.com",
      },
    }).toString();

  const inHistory = generateToken(random, "kw");
  const inFile = generateToken(random, "kw");
  const serviceKey = generateToken(random, "kwsk");
  let historyCommit = "";

  beforeAll(() => {
    git("init", "-q", "-b", "main");
    // Committed, then deleted: only the history holds it.
    writeFileSync(join(repo, "config.env"), `A=1\nB=2\nAPI_TOKEN=${inHistory}\n`);
    git("add", ".");
    git("commit", "-q", "-m", "add config");
    historyCommit = git("rev-parse", "HEAD").trim();
    rmSync(join(repo, "config.env"));
    git("add", "-A");
    git("commit", "-q", "-m", "remove config");
    // Look-alikes: a wrong checksum, a wrong length, inside a longer word, another prefix.
    mkdirSync(join(repo, "src"));
    writeFileSync(
      join(repo, "src", "lookalikes.ts"),
      [
        `const a = "${wrongChecksum(generateToken(random, "kw"))}";`,
        `const b = "${generateToken(random, "kw")}x";`,
        `const c = "x${generateToken(random, "kw")}";`,
        `const d = "${generateToken(random, "gh")}";`,
        `const e = "${wrongChecksum(generateToken(random, "kwsk"))}";`,
      ].join("\n"),
    );
    git("add", ".");
    git("commit", "-q", "-m", "look-alikes only");
    // In the working tree, not committed.
    writeFileSync(
      join(repo, "src", "client.ts"),
      `// setup\nconst key = "${serviceKey}";\nconst t = '${inFile}'\n`,
    );
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  it("finds secrets in files by checksum, prints file:line and the hint only, and exits 1", async () => {
    const result = await keyward(repo, "scan");
    expect(result.code).toBe(1);
    expect(result.output).toContain(
      `src/client.ts:2: service key ${tokenHint(serviceKey, "kwsk")}`,
    );
    expect(result.output).toContain(`src/client.ts:3: token ${tokenHint(inFile, "kw")}`);
    expect(result.output).not.toContain("lookalikes");
    expect(result.output).not.toContain(inFile);
    expect(result.output).not.toContain(serviceKey);
  });

  it("with --git also finds what only the history holds, as commit:file:line", async () => {
    const result = await keyward(repo, "scan", "--git", "--json");
    expect(result.code).toBe(1);
    const findings = JSON.parse(result.output) as Array<{
      file: string;
      line: number;
      commit?: string;
      hint: string;
      kind: string;
    }>;
    expect(findings).toContainEqual(
      expect.objectContaining({
        commit: historyCommit,
        file: "config.env",
        line: 3,
        hint: tokenHint(inHistory, "kw"),
        kind: "token",
      }),
    );
    expect(findings.filter((f) => f.commit === undefined)).toHaveLength(2);
    expect(findings.some((f) => f.file.includes("lookalikes"))).toBe(false);
    expect(JSON.stringify(findings)).not.toContain(inHistory);
  });

  it("exits 0 on a clean tree", async () => {
    const clean = mkdtempSync(join(tmpdir(), "keyward-scan-clean-"));
    try {
      writeFileSync(join(clean, "a.txt"), `nothing here ${wrongChecksum(inFile)}\n`);
      const result = await keyward(clean, "scan");
      expect(result.code).toBe(0);
      expect(result.output).toContain("No Keyward tokens or service keys found.");
    } finally {
      rmSync(clean, { recursive: true, force: true });
    }
  });

  it("exits 66 for a path that does not exist (a typo must not pass as a clean tree)", async () => {
    const result = await keyward(repo, "scan", "no-such-folder");
    expect(result.code).toBe(66);
    expect(result.output).toContain("no-such-folder: no such file or folder.");
    expect(result.output).not.toContain("No Keyward tokens");
  });

  it("exits 69, not the 1 of a finding, when --report cannot reach the endpoint", async () => {
    const result = await keyward(repo, "scan", "--report", "http://127.0.0.1:9");
    expect(result.code).toBe(69);
    expect(result.output).toContain("could not be reached; the secrets were not reported");
    expect(result.output).not.toContain(inFile);
  });

  describe("--report", () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer();
    });
    afterAll(async () => server?.close());

    it("sends what it found to a Keyward's leak endpoint, which revokes it", async () => {
      const { client, appId } = await signUpWithApp(server.baseUrl);
      const { token } = await createToken(client, appId, { name: "leaked" });
      const dir = mkdtempSync(join(tmpdir(), "keyward-scan-report-"));
      try {
        writeFileSync(join(dir, "leak.txt"), `token=${token}\n`);
        const result = await keyward(dir, "scan", "--report", server.baseUrl);
        expect(result.code).toBe(1);
        expect(result.output).toContain("Reported 1 finding(s)");
        await pollUntil("the reported token to be refused", async () => {
          const res = await fetch(`${server.baseUrl}/api`, {
            headers: { authorization: `Bearer ${token}` },
          });
          return res.status === 401;
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
