import type { TSchema } from "typebox";
import type { ErrorCode } from "../core/errors.js";

/** How a route's caller proves who it is; each maps to a security scheme of the OpenAPI document. */
export type RouteAuth =
  /** Anyone. */
  | "none"
  /** The `keyward_session` cookie of a signed-in user (writes also need a same-origin `Origin`). */
  | "session"
  /** `Authorization: Bearer <API token>`. */
  | "bearer"
  /** Loopback clients, or `Authorization: Bearer <METRICS_TOKEN>`. */
  | "metrics";

export interface RouteSchema {
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  /** The answers that are not problems, by status. */
  response: Record<number, TSchema>;
}

/**
 * One route of the contract: what the server registers and what the OpenAPI document
 * says, from the same object. `errors` lists the codes this route's own logic answers
 * with; those every route of its kind may give (validation, authentication, faults) are
 * added where the route is registered.
 */
export interface RouteContract<S extends RouteSchema = RouteSchema> {
  readonly method: "GET" | "POST" | "DELETE";
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly auth: RouteAuth;
  /** The route reads or writes storage, so it can answer 503 `storage_unavailable`. */
  readonly storage: boolean;
  /** Answers are limited per client address (429 `rate_limited`). */
  readonly rateLimited?: boolean;
  readonly schema: S;
  readonly errors: readonly ErrorCode[];
  /** A non-JSON success answer (e.g. `text/plain`); JSON otherwise. */
  readonly produces?: string;
}

export function defineRoute<const S extends RouteSchema>(
  route: RouteContract<S>,
): RouteContract<S> {
  return route;
}
