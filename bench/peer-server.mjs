// The peer case: Better Auth's API-key plugin (@better-auth/api-key) verifying the key of
// each request on SQLite (better-sqlite3), rate limit off, behind a bare `node:http` server
// answering the same JSON body as bench/bare-server.mjs. The library's own defaults
// otherwise, as its documentation sets it up. A dev dependency of the bench only: Keyward
// never loads it. Seeds one user and one key into a fresh database (KEYWARD_PEER_DB), then
// prints `KEYWARD_PEER_PORT <port> <key>` once listening.

import { createServer } from "node:http";
import { apiKey } from "@better-auth/api-key";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import Database from "better-sqlite3";

const body = process.env.KEYWARD_BARE_BODY ?? '{"ok":true}';
const length = String(Buffer.byteLength(body));
// Its verify writes the key's lastRequest on every call (with the rate limit off too), so
// the journal decides its speed: WAL with synchronous=NORMAL, no fsync per write, is the
// most favourable setting a SQLite user would run (Keyward's own store is WAL with FULL).
// With the library's default journal every request waited for an fsync: about 24 req/s.
const database = new Database(process.env.KEYWARD_PEER_DB ?? ":memory:");
database.pragma("journal_mode = WAL");
database.pragma("synchronous = NORMAL");
const options = {
  database,
  secret: "keyward-bench-peer-secret-0123456789abcdef",
  baseURL: "http://127.0.0.1",
  emailAndPassword: { enabled: true },
  telemetry: { enabled: false },
  logger: { disabled: true },
  plugins: [apiKey({ rateLimit: { enabled: false } })],
};
const auth = betterAuth(options);
const { runMigrations } = await getMigrations(options);
await runMigrations();
const { user } = await auth.api.signUpEmail({
  body: { email: "bench@example.com", password: "bench-password-1234", name: "bench" },
});
const created = await auth.api.createApiKey({ body: { userId: user.id, name: "bench" } });

const server = createServer(async (request, response) => {
  const header = request.headers.authorization ?? "";
  const key = header.startsWith("Bearer ") ? header.slice(7) : "";
  let valid = false;
  try {
    valid = key !== "" && (await auth.api.verifyApiKey({ body: { key } })).valid === true;
  } catch {
    valid = false;
  }
  if (!valid) {
    response.writeHead(401, { "content-type": "application/json; charset=utf-8" });
    response.end('{"error":"invalid key"}');
    return;
  }
  response.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "content-length": length,
  });
  response.end(body);
});
server.listen(0, process.env.HOST ?? "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  console.log(`KEYWARD_PEER_PORT ${port} ${created.key}`);
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
