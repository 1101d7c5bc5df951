// Its own module, without better-sqlite3: the CLI tells this error apart on PostgreSQL too,
// where the SQLite driver is never loaded.
export class SqliteInUseError extends Error {
  constructor(path: string) {
    super(
      `The SQLite database ${path} is in use by another Keyward process. SQLite serves one ` +
        "Keyward process at a time (revocation must reach every process at once); stop the other " +
        "process, or use DATABASE_URL=postgres://... to run several.",
    );
    this.name = "SqliteInUseError";
  }
}
