import { spawn } from "node:child_process";
import { createReadStream, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { EXIT_CODES, KeywardError } from "../core/errors.js";
import { MAX_LEAK_REPORT_TOKENS } from "../core/rules.js";
import { TOKEN_PREFIX_PATTERN } from "../core/token.js";
import {
  type FoundSecret,
  findSecretsInLine,
  type SecretPattern,
  secretPatterns,
} from "../core/token-scan.js";

type Env = Record<string, string | undefined>;
type Run = (work: () => Promise<number | null>) => Promise<void>;

export interface Finding extends Omit<FoundSecret, "secret"> {
  file: string;
  /** Set for a finding in a repository's history. */
  commit?: string;
}

interface Found {
  finding: Finding;
  secret: string;
}

/** Folders never worth reading: a repository's own store is read with --git instead. */
const SKIPPED_DIRECTORIES = new Set([".git", ".hg", ".svn"]);
/** Files larger than this are skipped (and said so): logs and dumps belong elsewhere. */
const MAX_FILE_BYTES = 50 * 1024 * 1024;

function* walk(path: string, skipped: string[]): Generator<string> {
  const stat = statSync(path);
  if (stat.isFile()) {
    if (stat.size > MAX_FILE_BYTES) skipped.push(path);
    else yield path;
    return;
  }
  if (!stat.isDirectory()) return;
  const entries = readdirSync(path, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  for (const entry of entries) {
    if (entry.isDirectory() && SKIPPED_DIRECTORIES.has(entry.name)) continue;
    if (entry.isDirectory() || entry.isFile()) yield* walk(join(path, entry.name), skipped);
  }
}

async function scanFile(file: string, patterns: readonly SecretPattern[]): Promise<Found[]> {
  const found: Found[] = [];
  const lines = createInterface({
    input: createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  for await (const text of lines) {
    line++;
    // A NUL byte: a binary file, whose "lines" mean nothing.
    if (line === 1 && text.includes("\u0000")) break;
    for (const { secret, ...rest } of findSecretsInLine(text, line, patterns))
      found.push({ finding: { ...rest, file }, secret });
  }
  return found;
}

/**
 * Every secret added in any commit of the repository at `path`: `git log --all -p` with
 * no context lines, reading only added lines, with their line numbers in the new file.
 */
async function scanGitHistory(path: string, patterns: readonly SecretPattern[]): Promise<Found[]> {
  const git = spawn(
    "git",
    [
      "-C",
      path,
      "log",
      "--all",
      "-p",
      "--unified=0",
      "--no-color",
      "--no-ext-diff",
      "--format=commit %H",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let errors = "";
  git.stderr.on("data", (d: Buffer) => {
    errors += d.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    git.on("error", reject);
    git.on("close", resolve);
  });
  const found: Found[] = [];
  let commit = "";
  let file = "";
  let line = 0;
  const lines = createInterface({ input: git.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of lines) {
    if (text.startsWith("commit ")) {
      commit = text.slice(7, 47);
      continue;
    }
    if (text.startsWith("+++ ")) {
      file = text === "+++ /dev/null" ? "" : text.slice(6);
      continue;
    }
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
    if (hunk) {
      line = Number(hunk[1]);
      continue;
    }
    if (text.startsWith("+") && file !== "") {
      for (const { secret, ...rest } of findSecretsInLine(text.slice(1), line, patterns))
        found.push({ finding: { ...rest, column: rest.column, file, commit }, secret });
      line++;
    }
  }
  const code = await exited;
  if (code !== 0) {
    throw new KeywardError(
      "validation_failed",
      `git could not read the history of ${path}: ${errors.trim() || `exit code ${code}`}`,
    );
  }
  return found;
}

function where(finding: Finding): string {
  const place = `${finding.file}:${finding.line}`;
  return finding.commit ? `${finding.commit.slice(0, 12)}:${place}` : place;
}

/** Sends the secrets to a Keyward's leak endpoint, which revokes those that still work. */
async function report(url: string, secrets: readonly string[]): Promise<void> {
  const endpoint = /\/api\/v1\/leaks\/?$/.test(url)
    ? url
    : `${url.replace(/\/+$/, "")}/api/v1/leaks`;
  for (let i = 0; i < secrets.length; i += MAX_LEAK_REPORT_TOKENS) {
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ tokens: secrets.slice(i, i + MAX_LEAK_REPORT_TOKENS) }),
      });
    } catch (error) {
      // Exit 69, not the 1 that means "found": a script must tell the two apart.
      throw new KeywardError(
        "storage_unavailable",
        `The leak endpoint ${endpoint} could not be reached; the secrets were not reported. Check the URL and try again.`,
        { cause: error },
      );
    }
    if (response.status !== 202) {
      throw new KeywardError(
        "storage_unavailable",
        `The leak endpoint ${endpoint} answered ${response.status}; the secrets were not reported. Check the URL and try again.`,
      );
    }
  }
}

export function addScanCommand(program: Command, env: Env, run: Run): void {
  program
    .command("scan")
    .description(
      "find Keyward tokens and service keys in files (and with --git, in every commit); prints where and the hint only, exits 1 when any are found",
    )
    .argument("[paths...]", "files or folders to scan", ["."])
    .option("--git", "also scan every commit of the git repository at each path")
    .option("--prefix <prefix>", "the deployment's TOKEN_PREFIX", env.TOKEN_PREFIX || "kw")
    .option("--report <url>", "send what was found to this Keyward's leak endpoint (revokes them)")
    .option("--json", "print the findings as JSON")
    .action(
      (
        paths: string[],
        options: { git?: boolean; prefix: string; report?: string; json?: boolean },
      ) =>
        run(async () => {
          if (!TOKEN_PREFIX_PATTERN.test(options.prefix)) {
            throw new KeywardError(
              "validation_failed",
              `--prefix must be 2-8 lowercase letters or digits (got "${options.prefix}").`,
            );
          }
          const patterns = secretPatterns(options.prefix);
          const found: Found[] = [];
          const skipped: string[] = [];
          for (const path of paths) {
            for (const file of walk(path, skipped)) {
              for (const f of await scanFile(file, patterns))
                found.push({
                  ...f,
                  finding: { ...f.finding, file: relative(".", f.finding.file) || file },
                });
            }
            if (options.git) found.push(...(await scanGitHistory(path, patterns)));
          }
          for (const file of skipped)
            process.stderr.write(`Skipped ${file}: larger than ${MAX_FILE_BYTES} bytes.\n`);
          if (options.json) console.log(JSON.stringify(found.map((f) => f.finding)));
          else {
            for (const { finding } of found)
              console.log(`${where(finding)}: ${finding.kind} ${finding.hint}`);
            console.error(
              found.length === 0
                ? "No Keyward tokens or service keys found."
                : `Found ${found.length} Keyward secret(s). Revoke each (or report them with --report <url>), then remove them from the files${options.git ? " and rewrite the history" : ""}.`,
            );
          }
          if (options.report !== undefined && found.length > 0) {
            await report(options.report, [...new Set(found.map((f) => f.secret))]);
            console.error(`Reported ${found.length} finding(s) to ${options.report}.`);
          }
          return found.length > 0 ? EXIT_CODES.failure : EXIT_CODES.ok;
        }),
    );
}
