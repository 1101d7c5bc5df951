/** pg's error for a server that answers an `sslmode` asking for TLS with "no TLS here". */
export function isTlsRefusedByServer(error: Error): boolean {
  return error.message === "The server does not support SSL connections";
}

/**
 * Node's codes for a server certificate that TLS does not accept (its chain, its name, its
 * dates): an `sslmode` or a certificate authority that only `DATABASE_URL` can fix.
 */
const TLS_CERTIFICATE_CODES =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/**
 * True for PostgreSQL's refusals that only a different `DATABASE_URL` can fix: a role or
 * password it does not accept (SQLSTATE class 28), a database that does not exist (3D000),
 * TLS asked of a server that has none (pg's own error, known by its message only), or a
 * server certificate TLS refuses. Outside postgres/ so that the command line can tell them
 * without loading pg or its store.
 */
export function isPostgresConfigurationError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  if (isTlsRefusedByServer(error)) return true;
  if (!("code" in error)) return false;
  const code = String(error.code);
  if (TLS_CERTIFICATE_CODES.test(code)) return true;
  return "severity" in error && (code.startsWith("28") || code === "3D000");
}
