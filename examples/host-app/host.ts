// A small product ("the host") that uses Keyward for its API tokens: its own demo sign-in,
// its own API under /v1 protected by keyward-client's Fastify adapter, and an "API tokens"
// link that sends the signed-in user to Keyward's account page through a portal link.
import { createHmac, timingSafeEqual } from "node:crypto";
import cookie from "@fastify/cookie";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import type { KeywardClient } from "keyward-client";
import { keyward } from "keyward-client/fastify";

export interface HostAppOptions {
  /** The client holding this product's service key. */
  client: KeywardClient;
  /** Secret that signs the demo session cookie. */
  cookieSecret: string;
  /** The product's own name, shown on its page. */
  name?: string;
}

const SESSION_COOKIE = "host_session";

function sign(secret: string, value: string): string {
  return createHmac("sha256", secret).update(value).digest("base64url");
}

/** The signed-in user's id: the demo session is `<user>.<hmac>`. */
function signedInUser(request: FastifyRequest, secret: string): string | undefined {
  const raw = request.cookies[SESSION_COOKIE];
  if (!raw) return undefined;
  const dot = raw.lastIndexOf(".");
  const user = raw.slice(0, dot);
  const mac = Buffer.from(raw.slice(dot + 1));
  const expected = Buffer.from(sign(secret, user));
  return dot > 0 && mac.length === expected.length && timingSafeEqual(mac, expected)
    ? user
    : undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title></head>
<body><main>${body}</main></body></html>`;
}

export async function buildHostApp(options: HostAppOptions): Promise<FastifyInstance> {
  const { client, cookieSecret } = options;
  const name = options.name ?? "Example Host";
  const app = Fastify();
  await app.register(cookie);

  app.get("/", async (request, reply) => {
    const user = signedInUser(request, cookieSecret);
    reply.type("text/html; charset=utf-8");
    if (!user) {
      return page(
        name,
        `<h1>${escapeHtml(name)}</h1>
<form method="post" action="/signin">
<label>Username <input name="username" autocomplete="username" required></label>
<button type="submit">Sign in</button>
</form>`,
      );
    }
    const origin = `${request.protocol}://${request.host}`;
    return page(
      name,
      `<h1>${escapeHtml(name)}</h1>
<p>Signed in as <strong>${escapeHtml(user)}</strong>.</p>
<p><a href="/api-tokens">API tokens</a></p>
<p>Call this product's API with a token:</p>
<pre>curl -H "Authorization: Bearer &lt;token&gt;" ${escapeHtml(origin)}/v1/whoami</pre>
<form method="post" action="/signout"><button type="submit">Sign out</button></form>`,
    );
  });

  // Demo sign-in: any username. A real product has its own accounts here.
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string" },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );
  app.post<{ Body: { username?: string } }>("/signin", async (request, reply) => {
    const username = (request.body.username ?? "").trim().slice(0, 64);
    if (!/^[A-Za-z0-9_.-]+$/.test(username)) return reply.code(400).send("Pick a simple username.");
    reply.setCookie(SESSION_COOKIE, `${username}.${sign(cookieSecret, username)}`, {
      httpOnly: true,
      sameSite: "lax",
      path: "/",
    });
    return reply.redirect("/", 303);
  });
  app.post("/signout", async (_request, reply) => {
    reply.clearCookie(SESSION_COOKIE, { path: "/" });
    return reply.redirect("/", 303);
  });

  // The "API tokens" link: mirror the user into Keyward, ask for a one-time portal link
  // (it works once, within five minutes, so it is made on the click) and go there.
  app.get("/api-tokens", async (request, reply) => {
    const user = signedInUser(request, cookieSecret);
    if (!user) return reply.redirect("/", 303);
    await client.users.upsert(user, { name: user });
    const origin = `${request.protocol}://${request.host}`;
    const session = await client.portal.createSession({
      externalId: user,
      returnUrl: `${origin}/`,
    });
    return reply.redirect(session.url, 303);
  });

  // The product's own API: every route under /v1 needs a Keyward token of this product.
  await app.register(
    async (api) => {
      await api.register(keyward, { client });
      api.get("/whoami", async (request) => ({
        user: request.keyward?.externalId ?? null,
        tokenId: request.keyward?.tokenId,
        scopes: request.keyward?.scopes ?? [],
      }));
    },
    { prefix: "/v1" },
  );
  return app;
}
