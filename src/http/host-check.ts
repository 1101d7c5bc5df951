import type { FastifyInstance, FastifyRequest } from "fastify";
import { KeywardError } from "../core/errors.js";

export interface HostCheckOptions {
  /** `https://keys.example.com[:port]`: the only Host accepted when set. */
  publicOrigin: string | undefined;
  /** The address the server listens on (`HOST`). */
  listenHost: string;
}

/**
 * The host a request in absolute form names (`GET http://host/path HTTP/1.1`), which a
 * server must take instead of the `Host` header (RFC 9112, 3.2.2); undefined for the usual
 * origin form (`/path`).
 */
function authorityOfTarget(target: string | undefined): string | undefined {
  if (target === undefined || target.charCodeAt(0) === 47 /* "/" */) return undefined;
  const scheme = /^https?:\/\//i.exec(target);
  if (scheme === null) return undefined;
  const start = scheme[0].length;
  const end = target.slice(start).search(/[/?#]/);
  return end === -1 ? target.slice(start) : target.slice(start, start + end);
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
 * address, there is nothing to check against: the server warns once at start. In every
 * setup, an HTTP/1.1 request with no Host at all is refused (400 `invalid_request`).
 */
export function registerHostCheck(app: FastifyInstance, options: HostCheckOptions): void {
  const expected = options.publicOrigin ? hostOfOrigin(options.publicOrigin) : undefined;
  const checked = expected !== undefined || isLoopbackHost(options.listenHost);
  if (!checked) {
    app.log.warn(
      { host: options.listenHost },
      "PUBLIC_ORIGIN is not set: the Host check is off until it is (set it to the URL users reach Keyward at)",
    );
  }
  const expectedLower = expected?.toLowerCase();
  // The loopback names with each port a connection arrived on, made once per port rather
  // than on every request.
  const loopbackHostsByPort = new Map<number | undefined, Set<string>>();
  const accepts = (request: FastifyRequest, host: string): boolean => {
    if (expectedLower !== undefined)
      return host === expectedLower || host.toLowerCase() === expectedLower;
    const port = request.raw.socket.localPort;
    let hosts = loopbackHostsByPort.get(port);
    if (hosts === undefined) {
      hosts = new Set(LOOPBACK_NAMES.map((name) => `${name}:${port}`));
      loopbackHostsByPort.set(port, hosts);
    }
    return hosts.has(host) || hosts.has(host.toLowerCase());
  };
  // A callback hook: every request runs it, and an async one costs a promise each time.
  app.addHook("onRequest", (request, _reply, done) => {
    const target = authorityOfTarget(request.raw.url);
    // In absolute form the Host header must name the same authority (RFC 9112, 3.2): the
    // CSRF check's expected origin and a portal link's URL are built from Host, so two
    // hosts in one request are refused rather than one of them believed.
    if (
      target !== undefined &&
      request.headers.host !== undefined &&
      target.toLowerCase() !== request.headers.host.toLowerCase()
    ) {
      done(
        new KeywardError(
          "invalid_request",
          "The Host header must name the host of the request's target.",
        ),
      );
      return;
    }
    const host = target ?? request.headers.host;
    // HTTP/1.1 requires a Host header (RFC 9112, 3.2), in absolute form too. Refused here
    // as a problem, because Node's own refusal is turned off (app.ts) for being a bare 400
    // with no body.
    if (request.headers.host === undefined && request.raw.httpVersion === "1.1") {
      done(new KeywardError("invalid_request", "An HTTP/1.1 request must carry a Host header."));
      return;
    }
    if (checked && !PROBE_PATHS.has(request.url) && !accepts(request, host ?? "")) {
      done(
        new KeywardError(
          "misdirected_request",
          expected !== undefined
            ? `This server answers for ${expected} only.`
            : "This server answers for its loopback address and port only; set PUBLIC_ORIGIN to serve another name.",
        ),
      );
      return;
    }
    done();
  });
}
