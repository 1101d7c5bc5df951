import {
  createWebhookRoute,
  deleteWebhookRoute,
  listWebhookDeliveriesRoute,
  listWebhooksRoute,
  redeliverWebhookRoute,
  type WebhookDelivery as WireDelivery,
  type Webhook as WireWebhook,
} from "../../contract/index.js";
import type { Webhook, WebhookDelivery } from "../../core/model.js";
import { requireRecentSignIn } from "../../services/accounts.js";
import {
  createWebhook,
  deleteWebhook,
  listDeliveries,
  listWebhooks,
  redeliver,
} from "../../services/webhooks.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { type ManagementContext, requireUser } from "../session.js";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toWireWebhook(webhook: Webhook): WireWebhook {
  return {
    id: webhook.id,
    url: webhook.url,
    events: webhook.events,
    createdAt: new Date(webhook.createdAt).toISOString(),
    createdBy: webhook.creator ?? null,
  };
}

function toWireDelivery(delivery: WebhookDelivery): WireDelivery {
  return {
    id: delivery.id,
    type: delivery.eventType,
    createdAt: new Date(delivery.createdAt).toISOString(),
    status: delivery.status,
    attempts: delivery.attempts,
    nextAttemptAt: iso(delivery.nextAttemptAt),
    lastAttemptAt: iso(delivery.lastAttemptAt),
    lastStatusCode: delivery.lastStatus,
    lastError: delivery.lastError,
  };
}

/** An application's webhooks and their deliveries, managed by its owners and admins. */
export function webhookRoutes(
  api: ContractApp,
  { deps, session: options }: ManagementContext,
  /** Called after a redelivery is queued, so it goes out now rather than at the next poll. */
  queued: () => void,
) {
  api.route({
    ...routeOptions(createWebhookRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      // The secret signs what a receiver trusts: the password again, as for service keys.
      requireRecentSignIn(deps, request.session);
      const created = await createWebhook(deps, user, request.params.appId, request.body, {
        ip: request.ip,
      });
      // The secret exists in this one answer: no cache may keep it.
      return reply
        .code(201)
        .header("cache-control", "no-store")
        .send({ secret: created.secret, webhook: toWireWebhook(created.webhook) });
    },
  });

  api.route({
    ...routeOptions(listWebhooksRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      const webhooks = await listWebhooks(deps, user, request.params.appId);
      reply.header("cache-control", "no-store");
      return { webhooks: webhooks.map(toWireWebhook) };
    },
  });

  api.route({
    ...routeOptions(deleteWebhookRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await deleteWebhook(deps, user, request.params.appId, request.params.webhookId, {
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(listWebhookDeliveriesRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      const deliveries = await listDeliveries(
        deps,
        user,
        request.params.appId,
        request.params.webhookId,
      );
      reply.header("cache-control", "no-store");
      return { deliveries: deliveries.map(toWireDelivery) };
    },
  });

  api.route({
    ...routeOptions(redeliverWebhookRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await redeliver(
        deps,
        user,
        request.params.appId,
        request.params.webhookId,
        request.params.deliveryId,
      );
      queued();
      return reply.code(202).send(null);
    },
  });
}
