import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeSelfSignedCertificate } from "../test-support/certificate.js";
import { REPO_ROOT, runNode } from "../test-support/process.js";

// A PostgreSQL server's first step of TLS, played by hand: it answers the driver's
// SSLRequest with "S" and shows a self-signed certificate. What the command line says of
// a certificate TLS refuses is what an operator with a wrong sslmode or CA sees.

const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");

describe("keyward and a PostgreSQL server whose certificate TLS refuses", () => {
  const dir = mkdtempSync(join(tmpdir(), "keyward-pg-tls-"));
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    const { keyFile, certFile } = writeSelfSignedCertificate(dir);
    const key = readFileSync(keyFile);
    const cert = readFileSync(certFile);
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      // The SSLRequest is 8 bytes: length 8, then the code 80877103.
      socket.once("data", () => {
        socket.write("S");
        const secure = new TLSSocket(socket, { isServer: true, key, cert });
        secure.on("error", () => {});
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    port = typeof address === "object" && address ? address.port : 0;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers it as configuration (exit 78), naming the refusal", async () => {
    const result = await runNode(["--import", "tsx", MAIN, "users", "list"], {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: `postgres://keyward@127.0.0.1:${port}/keyward?sslmode=verify-full`,
    });
    expect(result.code, result.output).toBe(78);
    expect(result.output).toContain(
      "Error: self-signed certificate. Check DATABASE_URL (the server's certificate is not trusted here",
    );
  });
});
