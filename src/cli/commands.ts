import { createKeyward, openStore } from "../compose.js";
import { ConfigError, loadConfig } from "../config.js";
import { SchemaTooNewError } from "../storage/migrate.js";
import { SqliteInUseError } from "../storage/sqlite/sqlite-in-use-error.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 64;
export const EXIT_CONFIG = 78;

const HELP = `Usage: keyward <command>

Commands:
  start     migrate the database, then serve the UI and API (PORT, HOST)
  migrate   bring the database schema up to date and exit
  version   print the version
  help      print this help

Configuration comes from environment variables; see the README.`;

/**
 * Runs one command. Returns the exit code, or null for `start`, which keeps running
 * until SIGTERM or SIGINT and exits by itself after a clean shutdown.
 */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  version: string,
): Promise<number | null> {
  const command = args[0] ?? "help";
  try {
    switch (command) {
      case "start":
        await start(env);
        return null;
      case "migrate": {
        const store = await openStore(loadConfig(env));
        await store.close();
        console.log("Database schema is up to date.");
        return EXIT_OK;
      }
      case "version":
      case "--version":
        console.log(version);
        return EXIT_OK;
      case "help":
      case "--help":
        console.log(HELP);
        return EXIT_OK;
      default:
        console.error(`Unknown command "${command}".\n\n${HELP}`);
        return EXIT_USAGE;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return EXIT_CONFIG;
    }
    if (error instanceof SchemaTooNewError || error instanceof SqliteInUseError) {
      console.error(error.message);
      return EXIT_FAILURE;
    }
    throw error;
  }
}

async function start(env: Record<string, string | undefined>): Promise<void> {
  const config = loadConfig(env);
  const keyward = await createKeyward(config);
  const shutdown = (signal: string) => {
    keyward.app.log.info({ signal }, "shutting down: flushing usage and closing storage");
    keyward.close().then(
      () => process.exit(EXIT_OK),
      (error: unknown) => {
        keyward.app.log.error({ err: error }, "shutdown failed");
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  await keyward.app.listen({ host: config.host, port: config.port });
}
