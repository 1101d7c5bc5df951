import { type Kysely, type MigrationResultSet, Migrator, sql } from "kysely";
import { KeywardError } from "../core/errors.js";
import { migrations } from "./migrations/index.js";

export const MIGRATION_TABLE = "keyward_migration";
export const MIGRATION_LOCK_TABLE = "keyward_migration_lock";

/** Names of the migrations the database has applied; undefined before the first one. */
async function appliedMigrations(db: Kysely<unknown>): Promise<string[] | undefined> {
  try {
    const result = await sql<{
      name: string;
    }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(db);
    return result.rows.map((r) => r.name);
  } catch (error) {
    // No table yet: a new database. Judged by the error itself, not by looking again,
    // since another process may create the table in between (concurrent first starts).
    if (isMissingTable(error)) return undefined;
    throw error;
  }
}

function isMissingTable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  // PostgreSQL: undefined_table. SQLite: "no such table: ...".
  return code === "42P01" || (typeof message === "string" && message.includes("no such table"));
}

/**
 * True when every migration this code knows has been applied; one query. A database
 * migrated past what this code knows is refused (SchemaTooNewError): running old code on
 * a newer schema could corrupt data silently.
 */
export async function isSchemaUpToDate(db: Kysely<unknown>): Promise<boolean> {
  const applied = await appliedMigrations(db);
  if (applied === undefined) return false;
  const unknown = applied.filter((name) => !(name in migrations));
  if (unknown.length > 0) throw schemaTooNew(unknown);
  return Object.keys(migrations).every((name) => applied.includes(name));
}

/** Brings the schema up to date (refusing a newer one, see isSchemaUpToDate). */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  // Up to date (every start but the first after an upgrade): no migrator, which would
  // introspect the whole schema and take its lock.
  if (await isSchemaUpToDate(db)) return [];

  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    // Said in full: the operator starting the server is who can act on it (a migration
    // that could not take a lock says to start again).
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName;
    const which = failed === undefined ? "" : ` ${failed}`;
    const why = result.error instanceof Error ? result.error.message : String(result.error);
    throw new KeywardError("internal_error", `Database migration${which} failed: ${why}`, {
      cause: result.error,
    });
  }
  return (result.results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

export class SchemaTooNewError extends Error {
  constructor(readonly unknownMigrations: string[]) {
    const known = Object.keys(migrations).at(-1);
    super(
      `The database schema is newer than this version of Keyward: it has migration(s) ${unknownMigrations.join(", ")} ` +
        `but this version knows migrations up to ${known}. Upgrade Keyward to the version that created ` +
        "this database, or point DATABASE_URL at another database. Refusing to start.",
    );
    this.name = "SchemaTooNewError";
  }
}

function schemaTooNew(unknown: string[]): SchemaTooNewError {
  return new SchemaTooNewError(unknown);
}
