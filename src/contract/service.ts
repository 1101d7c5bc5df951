import { Type } from "typebox";
import { routeGroup } from "./route.js";

// INTERIM (branch wt-stream): the revocation stream's route exactly as the lead's
// src/contract/service.ts declares it, until that file lands on main. At the merge, take
// main's version of this file whole.

const serviceRoute = routeGroup({ tag: "service API", auth: "service" });

export const revocationEventsRoute = serviceRoute({
  method: "GET",
  url: "/api/v1/service/events",
  operationId: "streamRevocations",
  summary: "The revocation stream (server-sent events)",
  description:
    "`event: token.revoked` and `event: secret.ended`, each with `data: {tokenId, at}` and " +
    "an `id:`. Reconnect with `Last-Event-ID` to get what was missed (at least the last " +
    "hour), or `event: reset` when it cannot be replayed: drop every cached answer. A " +
    "comment line comes at least every 15 s.",
  produces: "text/event-stream",
  schema: {
    response: {
      200: Type.String({ description: "A `text/event-stream` that stays open." }),
    },
  },
  errors: ["too_many_streams"],
});

export const serviceRoutes = [revocationEventsRoute] as const;
