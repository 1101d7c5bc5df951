import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import type { FastifyServerOptions } from "fastify";
import { PROBLEM_MEDIA_TYPE, Problem } from "../contract/index.js";

type SerializerFactory = NonNullable<
  NonNullable<FastifyServerOptions["schemaController"]>["compilersFactory"]
>["buildSerializer"] &
  ReturnType<typeof SerializerSelector>;

/**
 * Fastify's serializer factory (fast-json-stringify), but with one serializer shared by
 * every problem answer instead of one for each route and status.
 *
 * Why: each fast-json-stringify build keeps a `{}` whose first property is a name of its
 * own (`__fjs_root_<n>`), and each such name is one more transition from the map V8 gives
 * every `{}`. V8 allows a map 1,536 transitions. With a serializer per route and problem
 * status and the validators' own names, that map was full: a `{}` that then gets a first
 * property with no transition left gets a map of its own, and the code that reads it
 * (Node's, for a request's headers) misses its inline caches on every request
 * (docs/performance.md, fourteenth part). Every problem body has the same five fields
 * (`Problem`), so one serializer writes them all as each route's narrowed schema did.
 * Only responses declared with the problem media type are shared: a route that one day
 * declares another body for an error status keeps its own serializer.
 */
export function sharedProblemSerializers(
  base: ReturnType<typeof SerializerSelector> = SerializerSelector(),
): SerializerFactory {
  return (externalSchemas, options) => {
    const compile = base(externalSchemas, options);
    let problem: ReturnType<typeof compile> | undefined;
    return (route) => {
      // Fastify passes the media type of responses declared by content; its type omits it.
      const { contentType } = route as { contentType?: string };
      if (contentType === PROBLEM_MEDIA_TYPE) {
        problem ??= compile({ ...route, schema: Problem });
        return problem;
      }
      return compile(route);
    };
  };
}
