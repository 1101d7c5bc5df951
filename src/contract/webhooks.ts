import { type Static, Type } from "typebox";
import { DELIVERY_STATUSES, WEBHOOK_EVENTS } from "../core/model.js";
import { ApplicationParams } from "./applications.js";
import { routeGroup } from "./route.js";
import { CreatedBy, Id, NullableTimestamp, StringEnum, Timestamp } from "./schema.js";

// Signed webhooks (Standard Webhooks): an application's owners and admins register URLs;
// Keyward posts the events they subscribe to, signed, retried for more than a day.

const webhookRoute = routeGroup({ tag: "webhooks", auth: "session" });

export const WebhookEventType = StringEnum(WEBHOOK_EVENTS);

export const Webhook = Type.Object({
  id: Id("whk"),
  url: Type.String(),
  events: Type.Array(WebhookEventType),
  createdAt: Timestamp,
  createdBy: CreatedBy,
});
export type Webhook = Static<typeof Webhook>;

export const CreatedWebhook = Type.Object({
  secret: Type.String({
    description:
      "The signing secret, `whsec_<base64>`: in this one response only (`Cache-Control: no-store`).",
  }),
  webhook: Webhook,
});
export type CreatedWebhook = Static<typeof CreatedWebhook>;

export const WebhookList = Type.Object({ webhooks: Type.Array(Webhook) });
export type WebhookList = Static<typeof WebhookList>;

export const WebhookDelivery = Type.Object({
  id: Type.String({ description: "The `webhook-id` header; the same on every attempt." }),
  type: WebhookEventType,
  createdAt: Timestamp,
  status: StringEnum(DELIVERY_STATUSES),
  attempts: Type.Integer(),
  nextAttemptAt: NullableTimestamp,
  lastAttemptAt: NullableTimestamp,
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()], {
    description: "The receiver's last HTTP status; null when it did not answer.",
  }),
  lastError: Type.Union([Type.String(), Type.Null()]),
});
export type WebhookDelivery = Static<typeof WebhookDelivery>;

export const WebhookDeliveryList = Type.Object({ deliveries: Type.Array(WebhookDelivery) });
export type WebhookDeliveryList = Static<typeof WebhookDeliveryList>;

const WebhookParams = Type.Object({ appId: Id("app"), webhookId: Id("whk") });

export const createWebhookRoute = webhookRoute({
  method: "POST",
  url: "/api/v1/applications/:appId/webhooks",
  operationId: "createWebhook",
  summary: "Register a webhook (owners and admins); its secret is shown once",
  description:
    "`url` is http(s); deliveries to loopback, private or link-local addresses are refused " +
    "at delivery time unless the operator sets `WEBHOOK_ALLOW_PRIVATE=true`.",
  schema: {
    params: ApplicationParams,
    body: Type.Object(
      {
        url: Type.String({ maxLength: 2048 }),
        events: Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 16 }),
      },
      { additionalProperties: false },
    ),
    response: { 201: CreatedWebhook },
  },
  errors: ["not_found", "forbidden", "reauthentication_required"],
});

export const listWebhooksRoute = webhookRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/webhooks",
  operationId: "listWebhooks",
  summary: "The application's webhooks, newest first (owners and admins)",
  schema: { params: ApplicationParams, response: { 200: WebhookList } },
  errors: ["not_found", "forbidden"],
});

export const deleteWebhookRoute = webhookRoute({
  method: "DELETE",
  url: "/api/v1/applications/:appId/webhooks/:webhookId",
  operationId: "deleteWebhook",
  summary: "Delete a webhook; what it had still to send is dropped. Idempotent",
  schema: { params: WebhookParams, response: { 204: Type.Null() } },
  errors: ["not_found", "forbidden"],
});

export const listWebhookDeliveriesRoute = webhookRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/webhooks/:webhookId/deliveries",
  operationId: "listWebhookDeliveries",
  summary: "A webhook's last 50 deliveries, newest first, with status and attempts",
  schema: { params: WebhookParams, response: { 200: WebhookDeliveryList } },
  errors: ["not_found", "forbidden"],
});

export const redeliverWebhookRoute = webhookRoute({
  method: "POST",
  url: "/api/v1/applications/:appId/webhooks/:webhookId/deliveries/:deliveryId/redeliver",
  operationId: "redeliverWebhook",
  summary: "Send a delivery again now, with the same `webhook-id`",
  schema: {
    params: Type.Object({
      appId: Id("app"),
      webhookId: Id("whk"),
      deliveryId: Type.String({ pattern: "^msg_[0-9a-f]{32}$" }),
    }),
    response: { 202: Type.Null() },
  },
  errors: ["not_found", "forbidden"],
});

export const webhookRoutes = [
  createWebhookRoute,
  listWebhooksRoute,
  deleteWebhookRoute,
  listWebhookDeliveriesRoute,
  redeliverWebhookRoute,
] as const;
