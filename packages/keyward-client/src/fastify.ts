// keyward-client/fastify: `await app.register(keyward, { client, scopes? })` protects every
// route of the context it is registered in; the handler reads `request.keyward`.

import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import type { VerifiedToken } from "./client.js";
import {
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

export type KeywardFastifyOptions = KeywardGuardOptions;

async function plugin(app: FastifyInstance, options: KeywardFastifyOptions): Promise<void> {
  if (!options?.client) throw new TypeError("keyward-client/fastify: options.client is required.");
  if (!app.hasRequestDecorator("keyward")) app.decorateRequest("keyward", null);
  app.addHook("onRequest", async (request: FastifyRequest, reply) => {
    const result: GuardResult = await guard(
      {
        authorization: request.headers.authorization,
        authorizationCount: countAuthorization(request.raw.rawHeaders),
        url: request.raw.url ?? "",
        clientAddress: request.ip,
      },
      {
        ...options,
        onError: (error) => {
          options.onError?.(error);
          request.log.error({ err: error }, "keyward: token verification failed");
        },
      },
    );
    if (result.ok) {
      request.keyward = result.token;
      return;
    }
    const { status, headers, body } = result.refusal;
    return reply.code(status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(body);
  });
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
