// keyward-client/fastify: `await app.register(keyward, { client, scopes? })` protects every
// route of the context it is registered in; the handler reads `request.keyward`.

import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { VerifiedToken } from "./client.js";
import {
  type BearerRequest,
  countAuthorization,
  type GuardResult,
  guard,
  type KeywardGuardOptions,
  PROBLEM_CONTENT_TYPE,
} from "./protect.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The verified token (set by keyward-client/fastify on the routes it protects). */
    keyward: VerifiedToken | null;
  }
}

export interface KeywardFastifyOptions extends KeywardGuardOptions {
  /**
   * The address of the request's client, which a token's address allowlist is checked
   * against. Default: `request.ip`, which follows Fastify's `trustProxy` option (behind a
   * reverse proxy, set that rather than this). An IPv4 or IPv6 address, or undefined:
   * then none is sent, and Keyward checks the address of the server that asks it.
   * Anything else is refused as an invalid token (401), without asking Keyward; if it
   * throws, the request gets 500 `internal_error`. Both are reported to `onError`.
   */
  clientAddress?: (request: FastifyRequest) => string | undefined;
}

const connectionAddress = (request: FastifyRequest) => request.ip;

async function plugin(app: FastifyInstance, options: KeywardFastifyOptions): Promise<void> {
  if (!options?.client) throw new TypeError("keyward-client/fastify: options.client is required.");
  if (!app.hasRequestDecorator("keyward")) app.decorateRequest("keyward", null);
  // Built once: the hook runs on every request of the API it protects.
  const addressOf = options.clientAddress ?? connectionAddress;
  const guardOptions: KeywardFastifyOptions = {
    ...options,
    onError: (error) => {
      options.onError?.(error);
      app.log.error({ err: error }, "keyward: token verification failed");
    },
  };
  // A callback hook, answered synchronously when no call to Keyward is needed (a cached
  // token, a refused header): cheaper per request than an async hook and a promise.
  app.addHook("onRequest", (request: FastifyRequest, reply: FastifyReply, done) => {
    const bearer: BearerRequest = {
      authorization: request.headers.authorization,
      authorizationCount: countAuthorization(request.raw.rawHeaders),
      url: request.raw.url ?? "",
      clientAddress: () => addressOf(request),
    };
    const result = guard(bearer, guardOptions);
    if (result instanceof Promise) {
      result.then((settled) => finish(request, reply, done, settled), done);
    } else {
      finish(request, reply, done, result);
    }
  });
}

/** Hands the verified token to the route, or sends the refusal. */
function finish(
  request: FastifyRequest,
  reply: FastifyReply,
  done: (error?: Error) => void,
  result: GuardResult,
): void {
  if (result.ok) {
    request.keyward = result.token;
    done();
    return;
  }
  const { status, headers, body } = result.refusal;
  reply.code(status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(body);
}

// The fastify-plugin convention, without the dependency: the hook applies to the context
// the plugin is registered in (so `register` inside a scoped plugin protects that scope).
Object.assign(plugin, {
  [Symbol.for("skip-override")]: true,
  [Symbol.for("fastify.display-name")]: "keyward-client",
  [Symbol.for("plugin-meta")]: { name: "keyward-client", fastify: ">=4" },
});

/** The Fastify plugin: `await app.register(keyward, { client, scopes? })`. */
export const keyward: FastifyPluginAsync<KeywardFastifyOptions> = plugin;
