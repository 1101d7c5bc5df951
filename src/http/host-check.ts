import type { FastifyInstance, FastifyRequest } from "fastify";
import { KeywardError } from "../core/errors.js";

export interface HostCheckOptions {
  /** `https://keys.example.com[:port]`: the only Host accepted when set. */
  publicOrigin: string | undefined;
  /** The address the server listens on (`HOST`). */
  listenHost: string;
}

/** Probes reach a process by its address, whatever name the deployment uses. */
const PROBE_PATHS = new Set(["/healthz", "/readyz"]);

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/** The `Host` value a URL's origin implies: the port is written only when not the default. */
function hostOfOrigin(origin: string): string {
  return new URL(origin).host;
}

/**
 * Refuses a request whose `Host` is not this server's own (421 `misdirected_request`): with
 * PUBLIC_ORIGIN set, that origin's host and port; unset on a loopback address, a loopback
 * name with the port the connection arrived on. A page on an attacker's domain that
 * resolves to this server (DNS rebinding) is then refused before any route runs, and the
 * expected Origin of the CSRF check can no longer be chosen through Host. Unset on another
 * address, there is nothing to check against: the server warns once at start.
 */
export function registerHostCheck(app: FastifyInstance, options: HostCheckOptions): void {
  const expected = options.publicOrigin ? hostOfOrigin(options.publicOrigin) : undefined;
  if (expected === undefined && !isLoopbackHost(options.listenHost)) {
    app.log.warn(
      { host: options.listenHost },
      "PUBLIC_ORIGIN is not set: the Host check is off until it is (set it to the URL users reach Keyward at)",
    );
    return;
  }
  const accepts = (request: FastifyRequest): boolean => {
    const host = (request.headers.host ?? "").toLowerCase();
    if (expected !== undefined) return host === expected.toLowerCase();
    const port = request.raw.socket.localPort;
    return LOOPBACK_NAMES.some((name) => host === `${name}:${port}`);
  };
  app.addHook("onRequest", async (request) => {
    if (PROBE_PATHS.has(request.url)) return;
    if (!accepts(request)) {
      throw new KeywardError(
        "misdirected_request",
        expected !== undefined
          ? `This server answers for ${expected} only.`
          : "This server answers for its loopback address and port only; set PUBLIC_ORIGIN to serve another name.",
      );
    }
  });
}
