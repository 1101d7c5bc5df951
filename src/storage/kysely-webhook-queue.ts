import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { WebhookEventType } from "../core/model.js";
import type { AuditEvents, WebhookEventInput } from "../services/ports.js";
import type { Database } from "./schema.js";

// Writing to the webhook delivery queue, in the transaction of the change an event records
// (kysely-store's insertAuditEvents): a crash cannot keep the change and lose its delivery.

/** A delivery's id, its `webhook-id` on every attempt. */
export function deliveryId(): string {
  return `msg_${randomBytes(16).toString("hex")}`;
}

/** The webhook events audit events stand for; token names are filled in by `tokenFacts`. */
export function webhookEventsOf(events: AuditEvents): WebhookEventInput[] {
  const out: WebhookEventInput[] = [];
  for (const e of events) {
    if (e.applicationId === null) continue;
    const base = { applicationId: e.applicationId, at: e.createdAt };
    const token = { tokenId: e.tokenId, userId: e.userId };
    switch (e.action) {
      case "token.created":
        out.push({
          ...base,
          type: "token.created",
          data: {
            ...token,
            scopes:
              typeof e.detail.scopes === "string" && e.detail.scopes !== ""
                ? e.detail.scopes.split(" ")
                : [],
            expiresAt: (e.detail.expiresAt as string | null | undefined) ?? null,
          },
        });
        break;
      case "token.revoked":
        out.push({ ...base, type: "token.revoked", data: { ...token, reason: e.reason } });
        if (e.reason === "leaked") {
          out.push({ ...base, type: "token.leaked", data: { ...token, revoked: true } });
        }
        break;
      case "token.secret_ended":
        // An old secret in its grace period reported leaked: it ends, the token lives on.
        if (e.reason === "leaked") {
          out.push({ ...base, type: "token.leaked", data: { ...token, revoked: false } });
        }
        break;
      case "token.regenerated":
        out.push({
          ...base,
          type: "token.regenerated",
          data: { ...token, graceSeconds: Number(e.detail.graceSeconds ?? 0) },
        });
        break;
      case "member.added":
        out.push({
          ...base,
          type: "member.added",
          data: { userId: e.userId, role: (e.detail.role as string | undefined) ?? null },
        });
        break;
      case "member.removed":
        out.push({
          ...base,
          type: "member.removed",
          data: { userId: e.userId, role: (e.detail.role as string | undefined) ?? null },
        });
        break;
      default:
        break;
    }
  }
  return out;
}

/**
 * Inserts one delivery per event and subscribed webhook of its application, in `trx`.
 * Token events get the token's name and expiry; nothing else about it is sent.
 */
export async function enqueueWebhookEvents(
  trx: Kysely<Database>,
  events: readonly WebhookEventInput[],
): Promise<void> {
  if (events.length === 0) return;
  const applicationIds = [...new Set(events.map((e) => e.applicationId))];
  const hooks = await trx
    .selectFrom("webhooks")
    .select(["id", "application_id", "events"])
    .where("application_id", "in", applicationIds)
    .where("deleted_at", "is", null)
    .execute();
  if (hooks.length === 0) return;
  const subscribed = (applicationId: string, type: WebhookEventType) =>
    hooks.filter(
      (h) =>
        h.application_id === applicationId && (JSON.parse(h.events) as string[]).includes(type),
    );
  const tokenIds = [
    ...new Set(
      events
        .filter((e) => subscribed(e.applicationId, e.type).length > 0)
        .map((e) => e.data.tokenId)
        .filter((id): id is string => typeof id === "string"),
    ),
  ];
  const tokens =
    tokenIds.length === 0
      ? []
      : await trx
          .selectFrom("tokens")
          .select(["id", "name", "expires_at"])
          .where("id", "in", tokenIds)
          .execute();
  const byId = new Map(tokens.map((t) => [t.id, t]));
  const rows = [];
  for (const event of events) {
    const token = typeof event.data.tokenId === "string" ? byId.get(event.data.tokenId) : undefined;
    const data = {
      applicationId: event.applicationId,
      ...event.data,
      ...(token ? { name: token.name } : {}),
      ...(token && event.type !== "token.created"
        ? {
            expiresAt:
              token.expires_at === null ? null : new Date(Number(token.expires_at)).toISOString(),
          }
        : {}),
    };
    const payload = JSON.stringify({
      type: event.type,
      timestamp: new Date(event.at).toISOString(),
      data,
    });
    for (const hook of subscribed(event.applicationId, event.type)) {
      rows.push({
        id: deliveryId(),
        webhook_id: hook.id,
        application_id: event.applicationId,
        event_type: event.type,
        payload,
        created_at: event.at,
        status: "pending",
        next_attempt_at: event.at,
      });
    }
  }
  if (rows.length > 0) await trx.insertInto("webhook_deliveries").values(rows).execute();
}
