import { type Kysely, type MigrationResultSet, Migrator, sql } from "kysely";
import { KeywardError } from "../core/errors.js";
import { migrations } from "./migrations/index.js";

export const MIGRATION_TABLE = "keyward_migration";
export const MIGRATION_LOCK_TABLE = "keyward_migration_lock";

/** Migration names the database has applied that this code does not know. */
async function unknownAppliedMigrations(db: Kysely<unknown>): Promise<string[]> {
  const tables = await db.introspection.getTables();
  if (!tables.some((t) => t.name === MIGRATION_TABLE)) return [];
  const result = await sql<{
    name: string;
  }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(db);
  return result.rows.map((r) => r.name).filter((name) => !(name in migrations));
}

/**
 * Brings the schema up to date. A database already migrated past what this code
 * knows is refused: running old code on a newer schema could corrupt data silently.
 */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  const unknown = await unknownAppliedMigrations(db);
  if (unknown.length > 0) throw schemaTooNew(unknown);

  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    throw new KeywardError("internal_error", "Database migration failed.", { cause: result.error });
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
