import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from "fastify";
import {
  PROBLEM_MEDIA_TYPE,
  problemFor,
  type RouteContract,
  type RouteSchema,
} from "../contract/index.js";
import { type ErrorCode, errorRegistry, KeywardError } from "../core/errors.js";
import { unknownField } from "./problem.js";

/** An app whose routes take their request and answer types from the contract's schemas. */
export type ContractApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** The typed view of an app (or an encapsulated context of one). */
export function contractApp(app: FastifyInstance): ContractApp {
  return app.withTypeProvider<TypeBoxTypeProvider>();
}

/** The OpenAPI security scheme of each way a route's caller is authenticated. */
export const SECURITY_SCHEMES = {
  sessionCookie: {
    type: "apiKey",
    in: "cookie",
    name: "keyward_session",
    description:
      "The session cookie set by sign-up and sign-in (`__Host-keyward_session` over HTTPS). " +
      "Writes must also carry this site's `Origin`.",
  },
  bearerToken: {
    type: "http",
    scheme: "bearer",
    description: "An API token, sent as `Authorization: Bearer <token>`.",
  },
  serviceKey: {
    type: "http",
    scheme: "bearer",
    description:
      "A service key of the application (`kwsk_…`), held by the host's backend, sent as " +
      "`Authorization: Bearer <service key>`. Accepted under `/api/v1/service/` only.",
  },
  metricsToken: {
    type: "http",
    scheme: "bearer",
    description: "`METRICS_TOKEN`, when it is set; otherwise loopback clients need nothing.",
  },
} as const;

const SECURITY: Record<RouteContract["auth"], Array<Record<string, string[]>>> = {
  none: [],
  session: [{ sessionCookie: [] }],
  bearer: [{ bearerToken: [] }],
  metrics: [{}, { metricsToken: [] }],
  service: [{ serviceKey: [] }],
};

/**
 * Every problem code a route can answer: its own, and those that come with what it is
 * (a body can be malformed, a session can be missing, storage can be down).
 */
export function problemCodesOf(route: RouteContract): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors);
  const { schema } = route;
  // Fastify reads a body on every write, declared or not: a malformed one, a wrong media
  // type or a compressed one, a bad Content-Length or too many bytes are refused before
  // the route runs.
  if (route.method !== "GET") {
    for (const code of [
      "invalid_json",
      "invalid_request",
      "payload_too_large",
      "unsupported_media_type",
    ] as const)
      codes.add(code);
  }
  // A write without a body schema refuses a body with fields (refuseBody, below).
  if (schema.body || route.method !== "GET") codes.add("validation_failed");
  if (schema.params || schema.querystring) codes.add("validation_failed");
  // A path parameter that does not decode, or is longer than the router takes.
  if (schema.params) codes.add("invalid_request");
  if (route.auth === "session") {
    codes.add("authentication_required");
    // An API token is never accepted where a session is needed.
    codes.add("insufficient_scope");
    if (route.method !== "GET") codes.add("csrf_rejected");
  }
  if (route.auth === "bearer") codes.add("authentication_required");
  if (route.auth === "service") {
    codes.add("authentication_required");
    codes.add("invalid_request");
    codes.add("invalid_token");
  }
  if (route.rateLimited) codes.add("rate_limited");
  if (route.storage) codes.add("storage_unavailable");
  // The Host check runs before every route but the probes (host-check.ts).
  if (route.url !== "/healthz" && route.url !== "/readyz") codes.add("misdirected_request");
  // The HTTP parser's refusals, before any route is chosen (client-errors.ts).
  codes.add("invalid_request");
  codes.add("request_timeout");
  codes.add("headers_too_large");
  codes.add("expectation_failed");
  codes.add("internal_error");
  return [...codes];
}

function problemResponses(route: RouteContract): Record<number, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of problemCodesOf(route)) {
    const status = errorRegistry[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<number, unknown> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const schema = problemFor(codes);
    responses[status] = {
      description: (schema as { description?: string }).description,
      content: { [PROBLEM_MEDIA_TYPE]: { schema } },
    };
  }
  return responses;
}

const SUCCESS_DESCRIPTIONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "Done; no body",
};

/**
 * Fastify route options for a contract route: its method and URL, its schemas, the problem answers it can
 * give, and what the OpenAPI document says of it. The type is the contract's own schema,
 * so handlers are typed by the declared request and success shapes.
 */
export function routeOptions<S extends RouteSchema>(
  route: RouteContract<S>,
): {
  method: RouteContract["method"];
  url: string;
  schema: S;
  preValidation?: typeof refuseBody;
} {
  const success: Record<number, unknown> = {};
  for (const [key, schema] of Object.entries(route.schema.response)) {
    const status = Number(key);
    const description = SUCCESS_DESCRIPTIONS[status] ?? "Success";
    // A copy, so the description names this answer without changing the shared schema.
    success[status] =
      route.produces === undefined
        ? { ...schema, description }
        : { description, content: { [route.produces]: { schema } } };
  }
  const schema: Record<string, unknown> = {
    ...(route.schema as RouteSchema),
    response: { ...success, ...problemResponses(route) },
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    security: SECURITY[route.auth],
  };
  if (route.description !== undefined) schema.description = route.description;
  const options = { method: route.method, url: route.url, schema: schema as unknown as S };
  // Only a write without a body schema pays for this check.
  return route.method === "GET" || route.schema.body
    ? options
    : { ...options, preValidation: refuseBody };
}

/**
 * A write that takes no body refuses one that says anything: as for every body, unknown
 * fields are refused, never ignored. No body and `{}` pass.
 */
function refuseBody(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: (error?: Error) => void,
): void {
  const body: unknown = request.body;
  if (body === undefined) {
    done();
    return;
  }
  if (typeof body === "object" && body !== null && !Array.isArray(body)) {
    const field = Object.keys(body)[0];
    if (field === undefined) {
      done();
      return;
    }
    done(
      new KeywardError(
        "validation_failed",
        `body: ${unknownField(field)}; this route takes no body`,
      ),
    );
    return;
  }
  done(new KeywardError("validation_failed", "body: this route takes no body"));
}
