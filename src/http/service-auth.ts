import type { FastifyRequest } from "fastify";
import { hasQueryToken, parseBearerHeader } from "../core/bearer.js";
import { KeywardError } from "../core/errors.js";
import type { ServiceDeps } from "../services/deps.js";
import type { ServiceCaller } from "../services/host.js";
import { authenticateServiceKey } from "../services/service-keys.js";
import { countAuthorizationHeaders, queryOf } from "./bearer-auth.js";

const CHALLENGE = 'Bearer realm="service"';

/**
 * The caller of a `/api/v1/service/` route: `Authorization: Bearer <service key>`, read
 * as RFC 6750 asks (the protected API's rules). A missing key is 401 with a challenge; a
 * malformed header, or a key in the query string, 400; a key that is not a valid service
 * key (an API token included) 401 `invalid_token`, one answer whatever the reason.
 */
export async function requireServiceKey(
  request: FastifyRequest,
  deps: ServiceDeps,
): Promise<ServiceCaller> {
  // Never accepted in the URL, as on the protected API: it ends up in logs and history.
  if (hasQueryToken(queryOf(request.raw.url))) {
    throw new KeywardError(
      "invalid_request",
      "Send the service key in the Authorization header, never in the URL.",
      { headers: { "www-authenticate": `${CHALLENGE}, error="invalid_request"` } },
    );
  }
  const parsed = parseBearerHeader(
    request.headers.authorization,
    countAuthorizationHeaders(request),
  );
  switch (parsed.kind) {
    case "missing":
    case "other_scheme":
      throw new KeywardError(
        "authentication_required",
        "Send a service key as 'Authorization: Bearer <service key>'.",
        { headers: { "www-authenticate": CHALLENGE } },
      );
    case "malformed":
      throw new KeywardError("invalid_request", `Malformed Authorization header: ${parsed.why}.`, {
        headers: { "www-authenticate": `${CHALLENGE}, error="invalid_request"` },
      });
    case "token": {
      const key = await authenticateServiceKey(deps, parsed.token);
      if (!key) {
        throw new KeywardError("invalid_token", "The service key is not valid.", {
          headers: { "www-authenticate": `${CHALLENGE}, error="invalid_token"` },
        });
      }
      return { keyId: key.id, keyName: key.name, applicationId: key.applicationId };
    }
  }
}
