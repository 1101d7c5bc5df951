// keyward-client/hono: `app.use("/v1/*", keyward({ client, scopes? }))`; the handler reads
// `c.get("keyward")`.

import type { MiddlewareHandler } from "hono";
import type { VerifiedToken } from "./client.js";
import {
  countAuthorization,
  guard,
  type KeywardGuardOptions,
  PROBLEM_CONTENT_TYPE,
} from "./protect.js";

export type KeywardHonoOptions = KeywardGuardOptions;

/** The variables the middleware sets: `c.get("keyward")`. */
export interface KeywardVariables {
  keyward: VerifiedToken;
}

/** Node's request, when Hono runs on @hono/node-server (its `c.env.incoming`). */
interface NodeBindings {
  incoming?: { rawHeaders?: string[]; socket?: { remoteAddress?: string } };
}

/** The Hono middleware. */
export function keyward(
  options: KeywardHonoOptions,
): MiddlewareHandler<{ Variables: KeywardVariables }> {
  if (!options?.client) throw new TypeError("keyward-client/hono: options.client is required.");
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
        clientAddress: incoming?.socket?.remoteAddress,
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
