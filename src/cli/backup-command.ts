import type { Command } from "commander";
import { loadConfig } from "../config.js";
import { EXIT_CODES } from "../core/errors.js";
import { progressBar } from "./output.js";
import {
  createPartialFile,
  discardPartialFile,
  finishPartialFile,
  refuseOutputFile,
} from "./output-file.js";

type Env = Record<string, string | undefined>;
type Run = (work: () => Promise<number | null>) => Promise<void>;

/** What to run instead on PostgreSQL, where a backup is the database's own tools' job. */
export function pgDumpAdvice(file: string): string {
  return [
    "This Keyward stores its data in PostgreSQL: back it up with PostgreSQL's own tools,",
    "which take a consistent snapshot while the servers keep running:",
    "",
    `  pg_dump --format=custom --no-owner --file=${JSON.stringify(file)} "$DATABASE_URL"`,
    "",
    "Restore into an empty database (then start Keyward, which finds the schema current):",
    "",
    `  pg_restore --no-owner --dbname="$NEW_DATABASE_URL" ${JSON.stringify(file)}`,
    "",
    "For point-in-time recovery, use continuous WAL archiving (see PostgreSQL's documentation).",
  ].join("\n");
}

export function addBackupCommand(program: Command, env: Env, run: Run): void {
  program
    .command("backup")
    .description(
      "write a consistent copy of the SQLite store to <file>, safe while the server runs (on PostgreSQL, prints how to use pg_dump)",
    )
    .argument("<file>", "where to write the backup (a SQLite file)")
    .option("--force", "replace <file> if it exists")
    .option("--json", "print the result as JSON")
    .action((file: string, options: { force?: boolean; json?: boolean }) =>
      run(async () => {
        const config = loadConfig(env);
        if (config.database.kind === "postgres") {
          process.stderr.write(`${pgDumpAdvice(file)}\n`);
          // No backup was written: a script must not take this for success.
          return EXIT_CODES.failure;
        }
        const refusal = refuseOutputFile(file, {
          force: options.force === true,
          storePath: config.database.path,
        });
        if (refusal) {
          process.stderr.write(`${refusal.message}\n`);
          return refusal.code;
        }
        const { backupSqliteStore } = await import("../storage/sqlite/sqlite-backup.js");
        const progress = progressBar("Backing up");
        const started = Date.now();
        const partial = createPartialFile(file);
        let result: Awaited<ReturnType<typeof backupSqliteStore>>;
        try {
          result = await backupSqliteStore(config.database.path, partial.path, (p) =>
            progress.update(p.totalPages - p.remainingPages, p.totalPages),
          );
          finishPartialFile(partial, file, options.force === true);
        } finally {
          discardPartialFile(partial);
        }
        progress.finish();
        const seconds = (Date.now() - started) / 1000;
        if (options.json)
          console.log(
            JSON.stringify({ file, bytes: result.bytes, pages: result.totalPages, seconds }),
          );
        else
          console.log(
            `Backup written to ${file} (${result.bytes} bytes, ${result.totalPages} pages, integrity check ok, ${seconds.toFixed(1)} s).`,
          );
        return EXIT_CODES.ok;
      }),
    );
}
