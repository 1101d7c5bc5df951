import type { FastifyRequest } from "fastify";
import { KeywardError } from "../core/errors.js";

/**
 * The refusal of a compressed body (415, as RFC 9110 asks for an unsupported content
 * coding), or undefined for a body sent as it is. JSON is read as sent: gzip's bytes would
 * otherwise be parsed as text, and a body labelled `br` taken though it is not. Asked by
 * the JSON parsers, which only a request with a body reaches, not by a hook every request
 * runs.
 */
export function compressedBodyRefusal(request: FastifyRequest): KeywardError | undefined {
  const encoding = request.headers["content-encoding"];
  if (encoding === undefined || encoding.trim().toLowerCase() === "identity") return undefined;
  return new KeywardError(
    "unsupported_media_type",
    "Content-Encoding is not supported: send the body uncompressed.",
    { headers: { "accept-encoding": "identity" } },
  );
}
