import { executionAsyncResource } from "node:async_hooks";

/** One of `process.nextTick`'s tick objects, kept for the life of the process. */
let pinned: object | undefined;

/** The pinned tick object, once the tick `pinTickObject` queued has run. */
export function pinnedTickObject(): object | undefined {
  return pinned;
}

/**
 * Keeps one of `process.nextTick`'s tick objects alive for good; call it before anything
 * else is loaded.
 *
 * Why: `nextTick` builds each tick object with a literal whose computed keys V8 defines
 * through feedback that has no polymorphic state: one map, or megamorphic for good. The
 * maps the literal goes through are kept only by live tick objects. A full collection at
 * a moment when none is queued (at start-up, or on an idle server) frees them, the next
 * tick object gets new ones, and from then on every `nextTick` call (about ten a request)
 * goes through V8's runtime (docs/performance.md, fourteenth part). One live tick object
 * keeps the maps, and so the feedback, for the life of the process. The tick queued here
 * holds them until it runs, and its callback's own resource is that tick object.
 */
export function pinTickObject(): void {
  process.nextTick(() => {
    pinned ??= executionAsyncResource();
  });
}
