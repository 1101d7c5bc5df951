import { KeywardError } from "../core/errors.js";
import { generateId } from "../core/ids.js";
import {
  type User,
  WEBHOOK_EVENTS,
  type Webhook,
  type WebhookDelivery,
  type WebhookEventType,
} from "../core/model.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import { requireManager } from "./membership.js";

/** Deliveries a webhook's page shows: the newest. */
export const DELIVERIES_SHOWN = 50;
export const MAX_WEBHOOKS_PER_APPLICATION = 20;

const MANAGERS_ONLY = "Only owners and admins manage webhooks.";

/** An absolute http(s) URL without credentials; where it points is checked at delivery. */
function normalizeWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KeywardError("validation_failed", "url: not an absolute URL.");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new KeywardError("validation_failed", "url: must be http:// or https://.");
  }
  if (url.username !== "" || url.password !== "") {
    throw new KeywardError("validation_failed", "url: must not carry a user name or password.");
  }
  url.hash = "";
  return url.toString();
}

function normalizeEvents(events: readonly string[]): WebhookEventType[] {
  if (events.length === 0) {
    throw new KeywardError("validation_failed", "events: name at least one event.");
  }
  // A refusal names the entry by its place, never by its text (a detail never quotes
  // what was sent, which could be anything pasted).
  events.forEach((e, position) => {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(e)) {
      throw new KeywardError(
        "validation_failed",
        `Event ${position + 1} is not a known event: the events are ${WEBHOOK_EVENTS.join(", ")}.`,
      );
    }
  });
  return WEBHOOK_EVENTS.filter((e) => events.includes(e));
}

/** A signing secret: `whsec_` and 24 random bytes in base64, as Standard Webhooks writes it. */
function generateWebhookSecret(deps: ServiceDeps): string {
  return `whsec_${Buffer.from(deps.random.bytes(24)).toString("base64")}`;
}

export async function createWebhook(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  input: { url: string; events: string[] },
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ secret: string; webhook: Webhook }> {
  const { role } = await requireManager(deps, actor, applicationId, MANAGERS_ONLY);
  const url = normalizeWebhookUrl(input.url);
  const events = normalizeEvents(input.events);
  const existing = await deps.store.webhooks.listWebhooks(applicationId);
  if (existing.length >= MAX_WEBHOOKS_PER_APPLICATION) {
    throw new KeywardError(
      "validation_failed",
      `An application has at most ${MAX_WEBHOOKS_PER_APPLICATION} webhooks; delete one first.`,
    );
  }
  const webhook: Webhook = {
    id: generateId(deps.random, "whk"),
    applicationId,
    url,
    events,
    createdAt: deps.clock.now(),
  };
  const secret = generateWebhookSecret(deps);
  await deps.store.webhooks.insertWebhook({ ...webhook, secret, createdBy: actor.id }, [
    auditEvent(deps, ctx, {
      applicationId,
      userId: null,
      actorId: actor.id,
      tokenId: null,
      action: "webhook.created",
      // The trail keeps where, not how: a receiver URL may carry a credential in its
      // query or user part, and audit entries are shown to every admin and exported.
      detail: { webhookId: webhook.id, url: auditableUrl(url), events: events.join(" ") },
    }),
  ]);
  return {
    secret,
    webhook: { ...webhook, creator: { id: actor.id, email: actor.email, member: true, role } },
  };
}

/** The URL without its user part, query and fragment. */
export function auditableUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

export async function listWebhooks(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
): Promise<Webhook[]> {
  await requireManager(deps, actor, applicationId, MANAGERS_ONLY);
  return deps.store.webhooks.listWebhooks(applicationId);
}

/** Deletes a webhook; deleting one already gone succeeds (as for service keys). */
export async function deleteWebhook(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  webhookId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  await requireManager(deps, actor, applicationId, MANAGERS_ONLY);
  await deps.store.webhooks.deleteWebhook({ applicationId, webhookId, now: deps.clock.now() }, [
    auditEvent(deps, ctx, {
      applicationId,
      userId: null,
      actorId: actor.id,
      tokenId: null,
      action: "webhook.deleted",
      detail: { webhookId },
    }),
  ]);
}

async function requireWebhook(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  webhookId: string,
): Promise<Webhook> {
  await requireManager(deps, actor, applicationId, MANAGERS_ONLY);
  const webhook = await deps.store.webhooks.findWebhook(applicationId, webhookId);
  if (!webhook) throw new KeywardError("not_found", "No such webhook.");
  return webhook;
}

export async function listDeliveries(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  webhookId: string,
): Promise<WebhookDelivery[]> {
  await requireWebhook(deps, actor, applicationId, webhookId);
  return deps.store.webhooks.listDeliveries(webhookId, DELIVERIES_SHOWN);
}

/** Sends a delivery again, now, with the same `webhook-id` (the receiver may have lost it). */
export async function redeliver(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  webhookId: string,
  deliveryId: string,
): Promise<void> {
  await requireWebhook(deps, actor, applicationId, webhookId);
  const found = await deps.store.webhooks.redeliver({
    webhookId,
    deliveryId,
    now: deps.clock.now(),
  });
  if (!found) throw new KeywardError("not_found", "No such delivery.");
}
