import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * A self-signed certificate for 127.0.0.1, valid one day, written by Debian's openssl into
 * `dir` (key.pem, cert.pem): what a test's TLS server shows.
 */
export function writeSelfSignedCertificate(dir: string): { keyFile: string; certFile: string } {
  const keyFile = join(dir, "key.pem");
  const certFile = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
    ].concat(["-keyout", keyFile, "-out", certFile]),
    { stdio: "ignore" },
  );
  return { keyFile, certFile };
}
