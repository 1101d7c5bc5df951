// A host API server for the client-adapter bench: GET /open (no authentication) and
// GET /protected (behind keyward-client/fastify), on one Fastify app, so the two routes
// share everything but the adapter. Prints `KEYWARD_HOST_PORT <port>` once listening.
//
// Plain JavaScript run by plain `node`, so keyward-client resolves to its built `dist`:
// the code a host installs from npm, not the TypeScript source through a loader (whose
// per-function helpers cost the adapter about 2% of the route).

import Fastify from "fastify";
import { KeywardClient } from "keyward-client";
import { keyward } from "keyward-client/fastify";

const client = new KeywardClient({
  url: process.env.KEYWARD_URL ?? "",
  serviceKey: process.env.KEYWARD_SERVICE_KEY ?? "",
});
const app = Fastify({ logger: false });
app.get("/open", async () => ({ ok: true }));
await app.register(async (api) => {
  await api.register(keyward, { client });
  api.get("/protected", async () => ({ ok: true }));
});
await app.listen({ port: 0, host: "127.0.0.1" });
const address = app.server.address();
console.log(`KEYWARD_HOST_PORT ${typeof address === "object" && address ? address.port : 0}`);
process.on("SIGTERM", () => {
  void Promise.all([app.close(), client.close()]).then(() => process.exit(0));
});
