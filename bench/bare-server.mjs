// Case 0: a bare `node:http` server answering every request with one fixed JSON body (the
// body Keyward's `GET /api` answers for the bench's hot token), with no framework, no log
// and no check: the floor any Node HTTP service on this core can reach. Prints
// `KEYWARD_BARE_PORT <port>` once listening.
//
// With KEYWARD_BARE_LOG=<file> (case 0's "with a log line" slices, and bench/stack-floor.ts)
// it also writes one access line per request into that file: the fields of Keyward's
// `request completed` line, built by hand (no logger) and gathered by Keyward's LineBatch,
// the cheapest an access line per request can be.

import { createServer } from "node:http";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";

const body = process.env.KEYWARD_BARE_BODY ?? '{"ok":true}';
const length = String(Buffer.byteLength(body));
const headers = { "content-type": "application/json; charset=utf-8", "content-length": length };
const logFile = process.env.KEYWARD_BARE_LOG;
const log = logFile ? await accessLog(logFile) : undefined;

// With KEYWARD_BARE_READ_BODY=1 (bench/stack-floor.ts's POST layer) a request's body is read
// the plain way, its `data` events gathered until `end`, and parsed as JSON before the
// answer: what Node itself costs for a small JSON body, under any framework.
const readBody = process.env.KEYWARD_BARE_READ_BODY === "1";

function answer(request, response, start) {
  response.writeHead(200, headers);
  response.end(body);
  log?.(request, 200, start);
}

const server = createServer((request, response) => {
  const start = log ? performance.now() : 0;
  if (!readBody) {
    answer(request, response, start);
    return;
  }
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    JSON.parse(Buffer.concat(chunks).toString("utf8") || "null");
    answer(request, response, start);
  });
});

async function accessLog(file) {
  const { bufferedDestination, loggableUrl } = await import("../dist/http/logging.js");
  const batch = bufferedDestination(file);
  const head = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())},"reqId":"req-`;
  let requestCount = 0;
  return (request, statusCode, start) => {
    batch.write(
      `{"level":30,"time":${Date.now()}${head}${(++requestCount).toString(36)}","req":{"method":${JSON.stringify(request.method)},"url":${JSON.stringify(loggableUrl(request.url))},"remoteAddress":${JSON.stringify(request.socket.remoteAddress)}},"res":{"statusCode":${statusCode}},"responseTime":${performance.now() - start},"msg":"request completed"}\n`,
    );
  };
}

server.listen(0, process.env.HOST ?? "127.0.0.1", () => {
  const address = server.address();
  console.log(`KEYWARD_BARE_PORT ${typeof address === "object" && address ? address.port : 0}`);
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
