import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import type { FastifyServerOptions } from "fastify";
import { Problem } from "../contract/index.js";

type SerializerFactory = NonNullable<
  NonNullable<FastifyServerOptions["schemaController"]>["compilersFactory"]
>["buildSerializer"] &
  ReturnType<typeof SerializerSelector>;

/**
 * Fastify's serializer factory (fast-json-stringify), but with one serializer shared by
 * every problem answer (status 400 and up) instead of one for each route and status.
 *
 * Why: each fast-json-stringify build keeps a `{}` whose first property is a name of its
 * own (`__fjs_root_<n>`), and each such name is one more transition from the map V8 gives
 * every `{}`. V8 allows a map 1,536 transitions. With a serializer per route and problem
 * status (about 800 here) and the validators' own, that map was full: a `{}` that then
 * gets a property with no transition left gets a map of its own, so the code that reads
 * it, Node's included (a request's headers, `process.nextTick`'s tick objects), falls
 * back to V8's runtime on every request (docs/performance.md, fourteenth part).
 * Every problem body has the same five fields (`Problem`), so one serializer writes them
 * all as each route's narrowed schema did.
 */
export function sharedProblemSerializers(
  base: ReturnType<typeof SerializerSelector> = SerializerSelector(),
): SerializerFactory {
  return (externalSchemas, options) => {
    const compile = base(externalSchemas, options);
    let problem: ReturnType<typeof compile> | undefined;
    return (route) => {
      if (Number(route.httpStatus) >= 400) {
        problem ??= compile({ ...route, schema: Problem });
        return problem;
      }
      return compile(route);
    };
  };
}
