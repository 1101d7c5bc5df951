import { type Static, Type } from "typebox";
import { routeGroup } from "./route.js";

const operationRoute = routeGroup({ tag: "operations", auth: "none" });

export const Health = Type.Object({ status: Type.Literal("ok") });
export type Health = Static<typeof Health>;

export const livenessRoute = operationRoute({
  method: "GET",
  url: "/healthz",
  operationId: "liveness",
  summary: "Liveness: the process answers (no storage call)",
  storage: false,
  schema: { response: { 200: Health } },
});

export const readinessRoute = operationRoute({
  method: "GET",
  url: "/readyz",
  operationId: "readiness",
  summary: "Readiness: storage answers too",
  schema: { response: { 200: Health } },
});

export const metricsRoute = operationRoute({
  method: "GET",
  url: "/metrics",
  operationId: "metrics",
  summary: "Prometheus text format: counts only",
  description:
    "Answers direct loopback clients, or `Authorization: Bearer <METRICS_TOKEN>` when that is set.",
  auth: "metrics",
  storage: false,
  produces: "text/plain; version=0.0.4",
  schema: { response: { 200: Type.String() } },
  errors: ["authentication_required"],
});

export const operationRoutes = [livenessRoute, readinessRoute, metricsRoute] as const;
