// Case 0: a bare `node:http` server answering every request with one fixed JSON body (the
// body Keyward's `GET /api` answers for the bench's hot token), with no framework, no log
// and no check: the floor any Node HTTP service on this core can reach. Prints
// `KEYWARD_BARE_PORT <port>` once listening.

import { createServer } from "node:http";

const body = process.env.KEYWARD_BARE_BODY ?? '{"ok":true}';
const length = String(Buffer.byteLength(body));
const server = createServer((_request, response) => {
  response.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "content-length": length,
  });
  response.end(body);
});
server.listen(0, process.env.HOST ?? "127.0.0.1", () => {
  const address = server.address();
  console.log(`KEYWARD_BARE_PORT ${typeof address === "object" && address ? address.port : 0}`);
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
