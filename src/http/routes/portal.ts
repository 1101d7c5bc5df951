import type { FastifyInstance } from "fastify";
import type { ServiceDeps } from "../../services/deps.js";
import { redeemPortalCode } from "../../services/host.js";
import { setSessionCookie } from "../session.js";

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
 * `GET /portal/{code}`: a host's one-time link. A good code signs the browser in as the
 * host user, for that one application, and answers 303 to its account page; any other
 * code (used, expired, unknown) gets the same 410 page and no session. The code is in the
 * path, which the access log redacts (logging.ts).
 */
export function portalRoutes(app: FastifyInstance, deps: ServiceDeps): void {
  // A GET spends the link, so no HEAD is made from it (Fastify would run the same handler):
  // a link checker or an unfurler that asks with HEAD first must not use it up.
  app.head("/portal/:code", async (_request, reply) =>
    reply.code(405).header("allow", "GET").header("cache-control", "no-store").send(),
  );
  app.get<{ Params: { code: string } }>(
    "/portal/:code",
    { exposeHeadRoute: false },
    async (request, reply) => {
      reply.header("cache-control", "no-store");
      const redeemed = await redeemPortalCode(deps, request.params.code, { ip: request.ip });
      if (!redeemed) {
        return reply.code(410).type("text/html; charset=utf-8").send(EXPIRED_PAGE);
      }
      setSessionCookie(request, reply, redeemed.session.secret, redeemed.session.expiresAt);
      return reply
        .code(303)
        .header("location", `/app/${redeemed.applicationId}/account-management`)
        .send();
    },
  );
}
