import type { FastifyReply, FastifyRequest } from "fastify";
import { KeywardError } from "../core/errors.js";
import type { User } from "../core/model.js";
import { validateSession } from "../services/accounts.js";
import type { ServiceDeps } from "../services/deps.js";
import type { SessionRecord } from "../services/ports.js";
import type { AbuseGuard } from "./abuse.js";

export const SESSION_COOKIE = "keyward_session";
/** Over HTTPS the cookie takes the `__Host-` prefix: Secure, Path=/, no Domain, enforced by browsers. */
export const SECURE_SESSION_COOKIE = "__Host-keyward_session";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

declare module "fastify" {
  interface FastifyRequest {
    user: User | null;
    sessionIdHash: string | null;
    /** The session record behind `user` (its public id, when the password was last typed). */
    session: SessionRecord | null;
    /** Set for a portal session (a host user's): its application and "Back to …" link. */
    portal: { applicationId: string; returnUrl: string | null } | null;
  }
}

/** What the session routes (accounts, applications, tokens, audit) work with. */
export interface ManagementContext {
  deps: ServiceDeps;
  session: SessionOptions;
  abuse: AbuseGuard;
}

export interface SessionOptions {
  /** The server's own origin for the Origin check; derived from the request when unset. */
  publicOrigin: string | undefined;
  /** `kwsk`: a bearer credential with this prefix is a service key. */
  serviceKeyPrefix: string;
}

export function isHttps(request: FastifyRequest): boolean {
  return request.protocol === "https";
}

export function sessionCookieName(request: FastifyRequest): string {
  return isHttps(request) ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  secret: string,
  expiresAt: number,
) {
  reply.setCookie(sessionCookieName(request), secret, {
    httpOnly: true,
    sameSite: "lax",
    path: "/",
    secure: isHttps(request),
    expires: new Date(expiresAt),
  });
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply) {
  reply.clearCookie(sessionCookieName(request), {
    httpOnly: true,
    sameSite: "lax",
    path: "/",
    secure: isHttps(request),
  });
}

export function expectedOrigin(request: FastifyRequest, options: SessionOptions): string {
  return options.publicOrigin ?? `${request.protocol}://${request.host}`;
}

/**
 * Cross-site request forgery defence for cookie-authenticated writes: browsers send
 * `Origin` on every non-GET request, so a write whose Origin is missing or foreign
 * did not come from our own pages.
 */
export function checkOrigin(
  request: FastifyRequest,
  options: SessionOptions,
  required: boolean,
): void {
  if (SAFE_METHODS.has(request.method)) return;
  const origin = request.headers.origin;
  if (origin === undefined) {
    if (required)
      throw new KeywardError(
        "csrf_rejected",
        "This request needs an Origin header from this site.",
      );
    return;
  }
  if (origin !== expectedOrigin(request, options)) {
    throw new KeywardError("csrf_rejected", "Cross-site request rejected.");
  }
}

/** Reads the session cookie, if any, and sets `request.user`. */
export async function loadSession(request: FastifyRequest, deps: ServiceDeps): Promise<void> {
  request.user = null;
  request.sessionIdHash = null;
  request.session = null;
  request.portal = null;
  const secret = request.cookies[sessionCookieName(request)];
  if (!secret) return;
  const session = await validateSession(deps, secret);
  if (!session) return;
  request.user = session.user;
  request.sessionIdHash = session.sessionIdHash;
  request.session = session.session;
  request.portal =
    session.session.applicationId != null
      ? {
          applicationId: session.session.applicationId,
          returnUrl: session.session.returnUrl ?? null,
        }
      : null;
}

/**
 * Account and token management accept a session, never a bearer token: a leaked
 * token must not be able to mint new tokens to keep itself alive.
 */
export function requireUser(request: FastifyRequest, options: SessionOptions): User {
  if (!request.user) {
    const authorization = request.headers.authorization;
    // A service key works under /api/v1/service/ only; anywhere else it is not a valid
    // credential at all (the contract's 401), rather than one of too little scope.
    if (
      authorization !== undefined &&
      /^\s*bearer\s+/i.test(authorization) &&
      authorization.trim().split(/\s+/)[1]?.startsWith(`${options.serviceKeyPrefix}_`)
    ) {
      throw new KeywardError(
        "invalid_token",
        "A service key is accepted under /api/v1/service/ only.",
        {
          headers: { "www-authenticate": 'Bearer realm="api", error="invalid_token"' },
        },
      );
    }
    if (authorization !== undefined) {
      throw new KeywardError(
        "insufficient_scope",
        "API tokens cannot manage accounts or tokens; sign in instead.",
      );
    }
    throw new KeywardError("authentication_required", "Sign in to continue.");
  }
  checkOrigin(request, options, true);
  return request.user;
}

/**
 * As `requireUser`, for what belongs to a Keyward account of its own (its sessions,
 * password, recent sign-in, two-factor): a host user's portal session is the host's to
 * manage and gets 403.
 */
export function requireAccountUser(request: FastifyRequest, options: SessionOptions): User {
  const user = requireUser(request, options);
  if (request.portal !== null || user.hostApplicationId !== undefined) {
    throw new KeywardError(
      "forbidden",
      "A host's portal session manages API tokens only; its account is the host's.",
    );
  }
  return user;
}
