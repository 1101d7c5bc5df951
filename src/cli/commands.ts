import { Command, CommanderError } from "commander";
import { createKeyward, openStore } from "../compose.js";
import { ConfigError, loadConfig } from "../config.js";
import { EXIT_CODES, exitCodeOf, KeywardError } from "../core/errors.js";
import { openOperatorSession } from "../operator.js";
import { SchemaTooNewError } from "../storage/migrate.js";
import { isPostgresConfigurationError, tlsConfigurationHint } from "../storage/postgres-errors.js";
import { SqliteInUseError } from "../storage/sqlite/sqlite-in-use-error.js";
import { addAdminCommands, type WithSession } from "./admin-commands.js";
import { addAuditCommands } from "./audit-command.js";
import { addBackupCommand } from "./backup-command.js";
import { addImportCommand } from "./import-command.js";
import { consoleOutput } from "./output.js";
import { addScanCommand } from "./scan-command.js";

export const EXIT_OK = EXIT_CODES.ok;
export const EXIT_FAILURE = EXIT_CODES.failure;
export const EXIT_USAGE = EXIT_CODES.usage;
export const EXIT_CONFIG = EXIT_CODES.config;

type Env = Record<string, string | undefined>;

/** A command's outcome: its exit code, or "running" for `start`, which exits by itself. */
interface Outcome {
  code: number | null;
}

/**
 * The exit code and message for an error a command threw; unknown errors are rethrown
 * (main.ts prints them and exits 1).
 */
function failure(error: unknown): { code: number; message: string } {
  if (error instanceof ConfigError) return { code: EXIT_CODES.config, message: error.message };
  if (error instanceof KeywardError) {
    const cause =
      error.code === "storage_unavailable" && error.cause instanceof Error
        ? ` (${error.cause.message})`
        : "";
    return { code: exitCodeOf(error.code), message: `Error: ${error.detail}${cause}` };
  }
  if (error instanceof SchemaTooNewError || error instanceof SqliteInUseError)
    return { code: EXIT_CODES.failure, message: error.message };
  if (error instanceof Error && error.name === "SchemaNotMigratedError")
    return { code: EXIT_CODES.unavailable, message: error.message };
  if (isPostgresConfigurationError(error)) {
    return {
      code: EXIT_CODES.config,
      message: `Error: ${error.message}. Check DATABASE_URL${tlsConfigurationHint(error)}.`,
    };
  }
  const file = fileFailure(error);
  if (file !== undefined) return file;
  throw error;
}

/** What a file the command was given cannot be, said in words, with the code that fits. */
const FILE_ERRORS: Record<string, { code: number; what: string }> = {
  ENOENT: { code: EXIT_CODES.notFound, what: "no such file or folder" },
  ENOTDIR: { code: EXIT_CODES.notFound, what: "a part of the path is not a folder" },
  EISDIR: { code: EXIT_CODES.data, what: "it is a folder" },
  EEXIST: { code: EXIT_CODES.data, what: "it already exists" },
  EACCES: { code: EXIT_CODES.noPermission, what: "permission denied" },
  EPERM: { code: EXIT_CODES.noPermission, what: "not permitted" },
  EROFS: { code: EXIT_CODES.noPermission, what: "the file system is read-only" },
  ENOSPC: { code: EXIT_CODES.failure, what: "no space left on the device" },
  EBUSY: { code: EXIT_CODES.data, what: "it is in use (a mount point?)" },
  EFBIG: {
    code: EXIT_CODES.failure,
    what: "the file is larger than the system allows (ulimit -f)",
  },
};

/** A file the command reads or writes (an import, an export) that the system refused. */
function fileFailure(error: unknown): { code: number; message: string } | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, path } = error as NodeJS.ErrnoException;
  const known = code === undefined ? undefined : FILE_ERRORS[code];
  if (known === undefined || path === undefined) return undefined;
  return { code: known.code, message: `Error: ${path}: ${known.what}.` };
}

export function buildProgram(env: Env, version: string, outcome: Outcome): Command {
  const program = new Command("keyward")
    .usage("<command> [options]")
    .description(
      "Keyward: named, hashed, revocable API tokens. Configuration comes from environment variables (DATABASE_URL, TOKEN_PREFIX, ...); see docs/operations.md for the operator's commands and their exit codes.",
    )
    .version(version, "--version", "print the version")
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false });

  const run = async (work: () => Promise<number | null>) => {
    try {
      outcome.code = await work();
    } catch (error) {
      const { code, message } = failure(error);
      process.stderr.write(`${message}\n`);
      outcome.code = code;
    }
  };

  const withSession: WithSession = (options, action) =>
    run(async () => {
      const config = loadConfig(env);
      const session = await openOperatorSession(config, env);
      try {
        return (await action(session, consoleOutput(options.json === true))) ?? EXIT_CODES.ok;
      } finally {
        await session.close();
      }
    });

  program
    .command("start")
    .description("migrate the database, then serve the UI and API (PORT, HOST)")
    .action(() =>
      run(async () => {
        await start(env);
        return null;
      }),
    );
  program
    .command("migrate")
    .description("bring the database schema up to date and exit (stop the server first)")
    .action(() =>
      run(async () => {
        const store = await openStore(loadConfig(env));
        await store.close();
        console.log("Database schema is up to date.");
        return EXIT_CODES.ok;
      }),
    );
  program
    .command("version")
    .description("print the version")
    .action(() => {
      console.log(version);
      outcome.code = EXIT_CODES.ok;
    });

  addAdminCommands(program, withSession);
  addAuditCommands(program, withSession);
  addImportCommand(program, withSession);
  addBackupCommand(program, env, run);
  addScanCommand(program, env, run);
  return program;
}

/**
 * Runs one command. Returns the exit code, or null for `start`, which keeps running
 * until SIGTERM or SIGINT and exits by itself after a clean shutdown.
 */
export async function runCli(args: string[], env: Env, version: string): Promise<number | null> {
  const outcome: Outcome = { code: EXIT_CODES.ok };
  const program = buildProgram(env, version, outcome);
  if (args.length === 0) {
    program.outputHelp();
    return EXIT_CODES.ok;
  }
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version asked for are successes (commander's exit code 0); a command
      // group alone (`keyward users`) prints its help and, like every other mistake that
      // commander has already explained on standard error, is a usage error.
      if (error.exitCode === 0) return EXIT_CODES.ok;
      return EXIT_CODES.usage;
    }
    throw error;
  }
  return outcome.code;
}

async function start(env: Env): Promise<void> {
  const config = loadConfig(env);
  const keyward = await createKeyward(config);
  const shutdown = (signal: string) => {
    keyward.app.log.info({ signal }, "shutting down: flushing usage and closing storage");
    keyward.close().then(
      () => process.exit(EXIT_CODES.ok),
      (error: unknown) => {
        keyward.app.log.error({ err: error }, "shutdown failed");
        process.exit(EXIT_CODES.failure);
      },
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  // A fault nothing caught ends the process as Node would (message on standard error,
  // exit code 1), after the fatal line and every buffered access-log line are written.
  process.once("uncaughtException", (error) => {
    keyward.app.log.fatal({ err: error }, "uncaught exception: exiting");
    keyward.flushLogSync();
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
    process.exit(EXIT_CODES.failure);
  });
  await keyward.app.listen({ host: config.host, port: config.port });
  // "Server listening at ..." now, not at the next interval: people and scripts wait for it.
  keyward.flushLog();
}
