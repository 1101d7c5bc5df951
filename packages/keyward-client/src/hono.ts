// keyward-client/hono: `app.use("/v1/*", keyward({ client, scopes? }))`; the handler reads
// `c.get("keyward")`.

import type { Context, MiddlewareHandler } from "hono";
import type { VerifiedToken } from "./client.js";
import {
  countAuthorization,
  guard,
  type KeywardGuardOptions,
  PROBLEM_CONTENT_TYPE,
} from "./protect.js";

export interface KeywardHonoOptions extends KeywardGuardOptions {
  /**
   * The address of the request's client, which a token's address allowlist is checked
   * against. Hono has no proxy setting: behind a reverse proxy, return the address the
   * proxy reports (the connection's is the proxy's own). Default: the connection's address
   * on @hono/node-server, none elsewhere. An IPv4 or IPv6 address, or undefined: then
   * none is sent, and Keyward checks the address of the server that asks it. Anything
   * else is refused as an invalid token (401), without asking Keyward; if it throws, the
   * request gets 500 `internal_error`. Both are reported to `onError`.
   */
  clientAddress?: (c: Context) => string | undefined;
}

/** The variables the middleware sets: `c.get("keyward")`. */
export interface KeywardVariables {
  keyward: VerifiedToken;
}

/** Node's request, when Hono runs on @hono/node-server (its `c.env.incoming`). */
interface NodeBindings {
  incoming?: { rawHeaders?: string[]; socket?: { remoteAddress?: string } };
}

const connectionAddress = (c: Context) =>
  (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress;

/** The Hono middleware. */
export function keyward(
  options: KeywardHonoOptions,
): MiddlewareHandler<{ Variables: KeywardVariables }> {
  if (!options?.client) throw new TypeError("keyward-client/hono: options.client is required.");
  const addressOf = options.clientAddress ?? connectionAddress;
  return async (c, next) => {
    const incoming = (c.env as NodeBindings | undefined)?.incoming;
    const authorization = c.req.header("authorization");
    const url = new URL(c.req.url);
    const result = await guard(
      {
        authorization,
        // On Node, count the raw headers; elsewhere a second header shows as a comma in
        // the merged value, which the parser refuses as malformed too.
        authorizationCount: incoming?.rawHeaders
          ? countAuthorization(incoming.rawHeaders)
          : authorization === undefined
            ? 0
            : 1,
        url: url.pathname + url.search,
        clientAddress: () => addressOf(c),
      },
      options,
    );
    if (result.ok) {
      c.set("keyward", result.token);
      await next();
      return;
    }
    const { status, headers, body } = result.refusal;
    return new Response(body, {
      status,
      headers: { ...headers, "content-type": PROBLEM_CONTENT_TYPE },
    });
  };
}
