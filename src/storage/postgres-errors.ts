/**
 * True for PostgreSQL's refusals that only a different `DATABASE_URL` can fix: a role or
 * password it does not accept (SQLSTATE class 28), a database that does not exist (3D000).
 * Outside postgres/ so that the command line can tell them without loading pg or its store.
 */
export function isPostgresConfigurationError(error: unknown): error is Error {
  if (!(error instanceof Error) || !("severity" in error) || !("code" in error)) return false;
  const code = String(error.code);
  return code.startsWith("28") || code === "3D000";
}
