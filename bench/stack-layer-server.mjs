// One layer of the stack under Keyward's `GET /healthz`, for bench/stack-floor.ts: answers
// `GET /healthz` with `{"status":"ok"}` on the server's core. KEYWARD_STACK_LAYER is
//   fastify        Fastify 5 with no logger
//   fastify-line   Fastify with Keyward's own logger (dist/http/logging.js: its
//                  serializers, redaction, one `request completed` line per request,
//                  gathered by LineBatch into KEYWARD_STACK_LOG)
//   fastify-line-post  the same, answering `POST /healthz` instead: a JSON body with the
//                  shape and schema of `POST /api/v1/verify`'s, validated, and an answer
//                  through a response schema (what Fastify itself adds for a body)
//   fastify-line-routes  fastify-line with OTHER_ROUTES more routes registered in a plugin
//                  (each with a response schema), as an application registers its API;
//                  `GET /healthz` itself is unchanged
// (bare `node:http` is bench/bare-server.mjs). Prints `KEYWARD_BARE_PORT <port>`.

import { fastify } from "fastify";
import { AccessLogController, bufferedDestination, loggerOptions } from "../dist/http/logging.js";

const layer = process.env.KEYWARD_STACK_LAYER ?? "fastify";
/** GET routes, each with the HEAD route Fastify adds: of the order of an API's, Keyward's included. */
const OTHER_ROUTES = 100;
const options =
  layer === "fastify-line" || layer === "fastify-line-post" || layer === "fastify-line-routes"
    ? {
        logger: loggerOptions(
          "info",
          bufferedDestination(process.env.KEYWARD_STACK_LOG ?? "/dev/null"),
        ),
        logController: new AccessLogController(),
      }
    : {};
// Validation as Keyward's: an unknown field is refused, never silently dropped.
const app = fastify({
  ...options,
  ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
});
if (layer === "fastify-line-post") {
  app.post("/healthz", {
    schema: {
      body: {
        type: "object",
        properties: {
          token: { type: "string", minLength: 1, maxLength: 512 },
          applicationId: { type: "string", maxLength: 64 },
          clientAddress: { type: "string", maxLength: 64 },
        },
        required: ["token"],
        additionalProperties: false,
      },
      response: {
        200: {
          type: "object",
          properties: { valid: { type: "boolean" }, status: { type: "string" } },
          required: ["valid"],
        },
      },
    },
    handler: async (request) => ({ valid: request.body.token.length > 0, status: "ok" }),
  });
} else {
  if (layer === "fastify-line-routes")
    await app.register(async (api) => {
      for (let i = 0; i < OTHER_ROUTES; i++)
        api.get(
          `/api/r${i}/:id`,
          {
            schema: {
              response: { 200: { type: "object", properties: { id: { type: "string" } } } },
            },
          },
          async (request) => ({ id: request.params.id }),
        );
    });
  app.get("/healthz", async () => ({ status: "ok" }));
}
await app.listen({ port: 0, host: process.env.HOST ?? "127.0.0.1" });
const address = app.server.address();
console.log(`KEYWARD_BARE_PORT ${typeof address === "object" && address ? address.port : 0}`);
process.on("SIGTERM", () => {
  app.close().then(() => process.exit(0));
});
