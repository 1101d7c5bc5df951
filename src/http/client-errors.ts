import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import { PROBLEM_MEDIA_TYPE } from "../contract/index.js";
import type { ErrorCode } from "../core/errors.js";
import { problemBody } from "./problem.js";

/**
 * What Node's HTTP parser refuses before Fastify sees a request: bytes that are not HTTP
 * (a NUL or a raw non-ASCII byte in the request line, a bare CR), headers past the size
 * limit, a request that did not arrive in time. Fastify's default answer is its own JSON
 * (`{"error":"Bad Request",...}`); these get the same problem+json as every other
 * refusal, and never quote the request.
 */
function codeOf(error: NodeJS.ErrnoException): ErrorCode {
  if (error.code === "HPE_HEADER_OVERFLOW") return "headers_too_large";
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") return "request_timeout";
  return "invalid_request";
}

const DETAILS: Partial<Record<ErrorCode, string>> = {
  invalid_request: "The request is not valid HTTP.",
  headers_too_large: "The request line and headers are larger than 16 KiB.",
  request_timeout: "The request did not arrive whole within 30 s.",
};

/** Fastify's `clientErrorHandler`: one problem+json answer, then the connection closes. */
export function clientErrorHandler(log: () => FastifyBaseLogger) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    // The client went away (or a reply already started): nothing can be answered.
    // An answer whose head is already on the wire (a timeout mid-response) must not get a
    // second one written after it: the connection just ends.
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })
      ._httpMessage;
    if (
      error.code === "ECONNRESET" ||
      error.code === "EPIPE" ||
      !socket.writable ||
      answering?.headersSent === true
    ) {
      socket.destroy();
      return;
    }
    const code = codeOf(error);
    const body = JSON.stringify(problemBody(code, DETAILS[code]));
    const status = problemBody(code).status;
    // One line per refused connection, below error: a client's mistake, not ours.
    log().info({ code, parserError: error.code }, "client error");
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
        "Content-Type: application/problem+json; charset=utf-8\r\n" +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        "Cache-Control: no-store\r\n" +
        "X-Content-Type-Options: nosniff\r\n" +
        "Connection: close\r\n\r\n" +
        body,
    );
  };
}

/**
 * Node's `checkExpectation`: a request whose `Expect` is not `100-continue` (which Node
 * meets itself). Node's own answer is an empty 417 with none of the headers every other
 * answer carries; this one is a problem, with them, and a log line. The body the client
 * held back is not read: the connection closes.
 */
export function unmetExpectationHandler(
  headers: Readonly<Record<string, string>>,
  log: () => FastifyBaseLogger,
) {
  return (_request: IncomingMessage, response: ServerResponse): void => {
    const problem = problemBody(
      "expectation_failed",
      "Only 'Expect: 100-continue' is supported; send the request without this Expect header.",
    );
    const body = JSON.stringify(problem);
    log().info({ code: problem.code }, "client error");
    response.writeHead(problem.status, {
      ...headers,
      "content-type": `${PROBLEM_MEDIA_TYPE}; charset=utf-8`,
      "content-length": Buffer.byteLength(body),
      "cache-control": "no-store",
      connection: "close",
    });
    response.end(body);
  };
}
