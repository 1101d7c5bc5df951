import { createReadStream, statSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { KeywardError } from "../core/errors.js";
import { importTokens } from "../operator.js";
import type { WithSession } from "./admin-commands.js";
import { progressBar } from "./output.js";

/**
 * The file's lines, streamed (a file of a million lines is never held whole). The import
 * reads them twice, every line checked before any is written, so the input must be a
 * file: a pipe would be empty the second time, and nothing imported.
 */
function fileLines(path: string): () => AsyncIterable<string> {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (error) {
    // Other failures (a file it may not read) are said by the command line's file errors.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new KeywardError("not_found", `No file at ${path}.`);
  }
  if (!isFile) {
    throw new KeywardError(
      "validation_failed",
      `${path} is not a regular file. The import reads its input twice (every line is checked before any is written): save it to a file first.`,
    );
  }
  return () =>
    createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
}

export function addImportCommand(program: Command, withSession: WithSession): void {
  program
    .command("import-tokens")
    .description(
      "bring tokens of another system into an application by the SHA-256 of their secrets, so they keep working during a migration (JSON lines; docs/operations.md)",
    )
    .argument("<file>", "JSON lines: one token per line, {sha256, name, owner, scopes, expiresAt}")
    .requiredOption("--application <id>", "the application the tokens belong to")
    .option("--user <user>", "owner of lines that name none (user id, email or external id)")
    .option("--dry-run", "check every line and count what would be imported; write nothing")
    .option("--json", "print the summary as JSON")
    .action(
      (
        file: string,
        options: { application: string; user?: string; dryRun?: boolean; json?: boolean },
      ) =>
        withSession(options, async ({ deps, operator, announceSecrets }, output) => {
          const checking = progressBar("Checked lines");
          const importing = progressBar("Imported lines");
          const summary = await importTokens(
            deps,
            operator,
            {
              applicationId: options.application,
              lines: fileLines(file),
              defaultOwner: options.user,
              dryRun: options.dryRun === true,
              onProgress: (pass, lines) => {
                if (pass === "check") checking.update(lines);
                else importing.update(lines);
              },
            },
            announceSecrets,
          );
          checking.finish();
          importing.finish();
          if (output.json) output.out(JSON.stringify(summary));
          else
            output.out(
              summary.dryRun
                ? `Dry run: ${summary.lines} line(s) checked; ${summary.imported} token(s) would be imported, ${summary.skipped} already present. Nothing was written.`
                : `${summary.imported} token(s) imported into ${options.application}; ${summary.skipped} already present (left as they were).`,
            );
          return 0;
        }),
    );
}
