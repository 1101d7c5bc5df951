import { type Static, Type } from "typebox";
import { defineRoute } from "./route.js";

export const Health = Type.Object({ status: Type.Literal("ok") });
export type Health = Static<typeof Health>;

export const livenessRoute = defineRoute({
  method: "GET",
  url: "/healthz",
  operationId: "liveness",
  summary: "Liveness: the process answers (no storage call)",
  tag: "operations",
  auth: "none",
  storage: false,
  schema: { response: { 200: Health } },
  errors: [],
});

export const readinessRoute = defineRoute({
  method: "GET",
  url: "/readyz",
  operationId: "readiness",
  summary: "Readiness: storage answers too",
  tag: "operations",
  auth: "none",
  storage: true,
  schema: { response: { 200: Health } },
  errors: [],
});

export const metricsRoute = defineRoute({
  method: "GET",
  url: "/metrics",
  operationId: "metrics",
  summary: "Prometheus text format: counts only",
  description:
    "Answers direct loopback clients, or `Authorization: Bearer <METRICS_TOKEN>` when that is set.",
  tag: "operations",
  auth: "metrics",
  storage: false,
  produces: "text/plain; version=0.0.4",
  schema: { response: { 200: Type.String() } },
  errors: ["authentication_required"],
});

export const operationRoutes = [livenessRoute, readinessRoute, metricsRoute] as const;
