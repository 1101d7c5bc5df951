import type { Static, TSchema } from "typebox";
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
  | "metrics"
  /** `Authorization: Bearer <service key>`: the host's backend, for the key's own application. */
  | "service";

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
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
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

/** A route as declared: what its group does not already say. */
export type RouteDeclaration<S extends RouteSchema> = Omit<
  RouteContract<S>,
  "tag" | "auth" | "storage" | "errors"
> &
  Partial<Pick<RouteContract<S>, "tag" | "auth" | "storage" | "errors">>;

/**
 * Declares the routes of one group (one tag of the reference): each route is in its
 * group's tag and authentication unless it says otherwise, touches storage unless it
 * says it does not, and has no problem codes of its own unless it lists them.
 */
export function routeGroup(group: { tag: string; auth: RouteAuth }) {
  return <const S extends RouteSchema>(route: RouteDeclaration<S>): RouteContract<S> => ({
    storage: true,
    errors: [],
    ...group,
    ...route,
  });
}

/** The request body a route takes, as TypeScript. */
export type BodyOf<R extends RouteContract> = R["schema"] extends { body: infer B extends TSchema }
  ? Static<B>
  : never;

/** The query a route takes, as TypeScript (every value is text on the wire). */
export type QueryOf<R extends RouteContract> = R["schema"] extends {
  querystring: infer Q extends TSchema;
}
  ? Static<Q>
  : never;

/** What a route answers with a given success status, as TypeScript. */
export type AnswerOf<
  R extends RouteContract,
  Status extends keyof R["schema"]["response"],
> = R["schema"]["response"][Status] extends infer A extends TSchema ? Static<A> : never;
