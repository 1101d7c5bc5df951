// One layer of the stack under Keyward's `GET /healthz`, for bench/stack-floor.ts: answers
// `GET /healthz` with `{"status":"ok"}` on the server's core. KEYWARD_STACK_LAYER is
//   fastify        Fastify 5 with no logger
//   fastify-line   Fastify with Keyward's own logger (dist/http/logging.js: its
//                  serializers, redaction, one `request completed` line per request,
//                  gathered by LineBatch into KEYWARD_STACK_LOG)
// (bare `node:http` is bench/bare-server.mjs). Prints `KEYWARD_BARE_PORT <port>`.

import { fastify } from "fastify";
import { AccessLogController, bufferedDestination, loggerOptions } from "../dist/http/logging.js";

const layer = process.env.KEYWARD_STACK_LAYER ?? "fastify";
const options =
  layer === "fastify-line"
    ? {
        logger: loggerOptions(
          "info",
          bufferedDestination(process.env.KEYWARD_STACK_LOG ?? "/dev/null"),
        ),
        logController: new AccessLogController(),
      }
    : {};
const app = fastify(options);
app.get("/healthz", async () => ({ status: "ok" }));
await app.listen({ port: 0, host: process.env.HOST ?? "127.0.0.1" });
const address = app.server.address();
console.log(`KEYWARD_BARE_PORT ${typeof address === "object" && address ? address.port : 0}`);
process.on("SIGTERM", () => {
  app.close().then(() => process.exit(0));
});
