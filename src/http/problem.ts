import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { PROBLEM_MEDIA_TYPE, type Problem, problemTypeOf } from "../contract/index.js";
import { type ErrorCode, errorRegistry, KeywardError } from "../core/errors.js";

export function problemBody(code: ErrorCode, detail?: string): Problem {
  const entry = errorRegistry[code];
  return {
    type: problemTypeOf(code),
    title: entry.title,
    status: entry.status,
    detail: detail ?? entry.title,
    code,
  };
}

export function sendProblem(
  reply: FastifyReply,
  code: ErrorCode,
  detail?: string,
  headers: Readonly<Record<string, string>> = {},
): FastifyReply {
  const body = problemBody(code, detail);
  reply.code(body.status).headers(headers).type(PROBLEM_MEDIA_TYPE);
  return reply.send(body);
}

// Fastify's own failures, by their code. Their messages are never passed through when
// they could quote the request (a JSON parse error quotes the body, which may hold a token).
const FASTIFY_CODES: Record<string, { code: ErrorCode; detail?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: "unsupported_media_type" },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: "invalid_request",
    detail: "Invalid Content-Length.",
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: "payload_too_large" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: "invalid_json", detail: "The JSON body is empty." },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: "invalid_json" },
  FST_ERR_BAD_URL: { code: "invalid_request", detail: "The URL is malformed." },
  FST_ERR_MAX_PARAM_LENGTH: { code: "invalid_request", detail: "A path segment is too long." },
  FST_ERR_ASYNC_CONSTRAINT: { code: "invalid_request" },
};

/** The one place where a thrown error becomes an HTTP answer. */
export function handleError(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (error instanceof KeywardError) {
    if (error.status >= 500)
      request.log.error({ err: error.cause ?? error, code: error.code }, "request failed");
    return sendProblem(reply, error.code, error.detail, error.headers);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return sendProblem(
      reply,
      "validation_failed",
      `${fastifyError.validationContext ?? "request"}: ${describeValidation(fastifyError)}`,
    );
  }
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (known) return sendProblem(reply, known.code, known.detail);
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return sendProblem(reply, "invalid_json");
  }
  if (fastifyError.statusCode === 429) {
    return sendProblem(reply, "rate_limited", "Too many requests; slow down.", {});
  }
  if (fastifyError.statusCode === 413) return sendProblem(reply, "payload_too_large");
  if (fastifyError.statusCode === 415) return sendProblem(reply, "unsupported_media_type");
  // A plugin's own refusal (the static file server's for a path that escapes its folder or
  // names a folder): the client's fault, answered as not found, never as our failure.
  const status = fastifyError.statusCode ?? (error as { status?: unknown }).status;
  if (status === 403 || status === 404) return sendProblem(reply, "not_found", "No such file.");
  if (typeof status === "number" && status >= 400 && status < 500) {
    return sendProblem(reply, "invalid_request");
  }
  request.log.error({ err: error }, "unexpected error");
  return sendProblem(reply, "internal_error", "Something went wrong on our side.");
}

/**
 * `unknown field "name"`, naming the field only when it looks like a field name: the
 * request's own text is never echoed, since a client may have put a secret where a field
 * name goes.
 */
export function unknownField(field: unknown): string {
  return /^[A-Za-z]{1,32}$/.test(String(field)) ? `unknown field "${field}"` : "unknown field";
}

function describeValidation(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return "invalid input";
  const where = first.instancePath ? first.instancePath.slice(1).replaceAll("/", ".") : "";
  if (first.keyword === "additionalProperties") {
    return unknownField((first.params as { additionalProperty?: string }).additionalProperty);
  }
  if (first.keyword === "required") {
    const field = (first.params as { missingProperty?: string }).missingProperty;
    return `missing field ${JSON.stringify(field)}`;
  }
  return `${where || "value"} ${first.message ?? "is invalid"}`;
}
