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
  if (isTlsRefusedByServer(error) || isCertificateRefused(error)) return true;
  if (!("code" in error)) return false;
  const code = String(error.code);
  return "severity" in error && (code.startsWith("28") || code === "3D000");
}

/** Whether TLS refused the server's certificate (its chain, its name, its dates). */
export function isCertificateRefused(error: Error): boolean {
  return "code" in error && TLS_CERTIFICATE_CODES.test(String(error.code));
}

/**
 * What to change in `DATABASE_URL` for a TLS refusal, said since pg reads `sslmode` unlike
 * libpq (prefer, require and verify-ca are verify-full to it); empty for other refusals.
 */
export function tlsConfigurationHint(error: Error): string {
  if (isTlsRefusedByServer(error))
    return " (sslmode=disable for a server without TLS: this driver takes prefer, require and verify-ca as verify-full)";
  if (isCertificateRefused(error))
    return " (the server's certificate is not trusted here: name its authority with sslrootcert=<file>, or sslmode=no-verify to skip the check)";
  return "";
}
