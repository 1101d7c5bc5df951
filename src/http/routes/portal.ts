import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { signOut, validateSession } from "../../services/accounts.js";
import type { ServiceDeps } from "../../services/deps.js";
import { redeemPortalCode } from "../../services/host.js";
import {
  expectedOrigin,
  type SessionOptions,
  sessionCookieName,
  setSessionCookie,
} from "../session.js";

const EXPIRED_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>This link has expired · Keyward</title>
</head>
<body>
<main>
<h1>This link has expired</h1>
<p>Links to the API tokens page work once, for five minutes. Go back to the application you came from and open its API tokens page again.</p>
</main>
</body>
</html>
`;

/**
 * Asked instead of redeeming a link when the browser is signed in to a Keyward account:
 * opening a link that anyone can make (they need only a service key of their own) would
 * otherwise replace the account's session with a session of theirs, and the user would go
 * on in someone else's application believing it theirs (a login CSRF). The button posts
 * the link back from this page; the link stays unused until then.
 */
const SIGNED_IN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>You are signed in to Keyward · Keyward</title>
</head>
<body>
<main>
<h1>You are signed in to a Keyward account</h1>
<p>This link opens the API tokens page of another product's account. Continuing signs this browser out of your Keyward account.</p>
<p>If you did not expect this link, stay signed in and close this page.</p>
<form method="post">
<button type="submit">Sign out and continue</button>
</form>
<p><a href="/apps" rel="noreferrer">Stay signed in</a></p>
</main>
</body>
</html>
`;

const REFUSED_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not continued · Keyward</title>
</head>
<body>
<main>
<h1>Not continued</h1>
<p>This came from another site, so nothing was changed. Open the link again from the application you came from.</p>
</main>
</body>
</html>
`;

/** The pages' own policy: no script or style at all; the one form posts back here. */
const PAGE_CSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'";

function sendPage(reply: FastifyReply, status: number, page: string): FastifyReply {
  return reply
    .code(status)
    .header("content-security-policy", PAGE_CSP)
    .type("text/html; charset=utf-8")
    .send(page);
}

/**
 * The live session of a Keyward account (not a host user's) that the browser holds, by its
 * hash; undefined when it holds none.
 */
async function accountSessionOf(
  request: FastifyRequest,
  deps: ServiceDeps,
): Promise<string | undefined> {
  const secret = request.cookies[sessionCookieName(request)];
  if (!secret) return undefined;
  const session = await validateSession(deps, secret);
  if (session === null || session.session.applicationId != null) return undefined;
  return session.sessionIdHash;
}

/**
 * `GET /portal/{code}`: a host's one-time link. A good code signs the browser in as the
 * host user, for that one application, and answers 303 to its account page; any other
 * code (used, expired, unknown) gets the same 410 page and no session. A browser signed in
 * to a Keyward account is asked first (`SIGNED_IN_PAGE`), and continues with a POST from
 * that page (`POST /portal/{code}`, refused from any other origin). The code is in the
 * path, which the access log redacts (logging.ts).
 */
export function portalRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  options: SessionOptions,
): void {
  const redeem = async (
    request: FastifyRequest<{ Params: { code: string } }>,
    reply: FastifyReply,
    /** The account session this browser leaves: signed out, as the page says. */
    leaving?: string,
  ) => {
    const redeemed = await redeemPortalCode(deps, request.params.code, { ip: request.ip });
    if (!redeemed) return sendPage(reply, 410, EXPIRED_PAGE);
    // Best effort, as the page's word is kept by the cookie: this browser no longer holds the
    // account's session whatever storage says, and the spent link must still open.
    if (leaving !== undefined) {
      await signOut(deps, leaving).catch((error: unknown) =>
        request.log.warn({ err: error }, "ending the account's session for a portal link failed"),
      );
    }
    setSessionCookie(request, reply, redeemed.session.secret, redeemed.session.expiresAt);
    return reply
      .code(303)
      .header("location", `/app/${redeemed.applicationId}/account-management`)
      .send();
  };
  // A GET spends the link, so no HEAD is made from it (Fastify would run the same handler):
  // a link checker or an unfurler that asks with HEAD first must not use it up.
  app.head("/portal/:code", async (_request, reply) =>
    reply.code(405).header("allow", "GET, POST").header("cache-control", "no-store").send(),
  );
  app.get<{ Params: { code: string } }>(
    "/portal/:code",
    { exposeHeadRoute: false },
    async (request, reply) => {
      reply.header("cache-control", "no-store");
      if ((await accountSessionOf(request, deps)) !== undefined) {
        // Under the server-wide `no-referrer`, a browser sends `Origin: null` with a form's
        // POST (the Fetch standard ties the two), which the POST below refuses: this page
        // lets its own origin through, to itself only.
        reply.header("referrer-policy", "same-origin");
        return sendPage(reply, 200, SIGNED_IN_PAGE);
      }
      return redeem(request, reply);
    },
  );
  app.register(async (page) => {
    // The page's form posts an empty form body, which nothing else on this server accepts
    // (JSON only): read here and ignored, up to a small limit.
    page.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 1024 },
      (_request, _body, done) => done(null, undefined),
    );
    page.post<{ Params: { code: string } }>("/portal/:code", async (request, reply) => {
      reply.header("cache-control", "no-store");
      // Only this server's own page posts here: a form on another site could otherwise sign
      // a signed-in browser out of its account and into a session of the other site's making.
      if (request.headers.origin !== expectedOrigin(request, options)) {
        return sendPage(reply, 403, REFUSED_PAGE);
      }
      return redeem(request, reply, await accountSessionOf(request, deps));
    });
  });
}
