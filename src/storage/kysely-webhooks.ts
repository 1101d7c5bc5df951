import { type Kysely, sql } from "kysely";
import type { DeliveryStatus, Webhook, WebhookDelivery, WebhookEventType } from "../core/model.js";
import type { PolicyStore, WebhookStore } from "../services/ports.js";
import { claimDueRows, markTokensExpiring } from "./kysely-queue.js";
import { type Guard, insertAuditEvents, writeAudited } from "./kysely-store.js";
import { enqueueWebhookEvents } from "./kysely-webhook-queue.js";
import { CREATOR_COLUMNS, creatorOf, num, numOrNull } from "./rows.js";
import type { Database } from "./schema.js";

function toWebhook(row: {
  id: string;
  application_id: string;
  url: string;
  events: string;
  created_at: number | string;
}): Webhook {
  return {
    id: row.id,
    applicationId: row.application_id,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEventType[],
    createdAt: num(row.created_at),
  };
}

function toDelivery(row: {
  id: string;
  webhook_id: string;
  event_type: string;
  created_at: number | string;
  status: string;
  attempts: number | string;
  next_attempt_at: number | string;
  last_attempt_at: number | string | null;
  last_status: number | string | null;
  last_error: string | null;
}): WebhookDelivery {
  const status = row.status as DeliveryStatus;
  return {
    id: row.id,
    webhookId: row.webhook_id,
    eventType: row.event_type as WebhookEventType,
    createdAt: num(row.created_at),
    status,
    attempts: num(row.attempts),
    nextAttemptAt: status === "pending" ? num(row.next_attempt_at) : null,
    lastAttemptAt: numOrNull(row.last_attempt_at),
    lastStatus: numOrNull(row.last_status),
    lastError: row.last_error,
  };
}

export function createKyselyWebhookStore(db: Kysely<Database>, guard: Guard): WebhookStore {
  return {
    insertWebhook: (webhook, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto("webhooks")
            .values({
              id: webhook.id,
              application_id: webhook.applicationId,
              url: webhook.url,
              events: JSON.stringify(webhook.events),
              secret: webhook.secret,
              created_at: webhook.createdAt,
              created_by: webhook.createdBy,
              deleted_at: null,
            })
            .execute();
          await insertAuditEvents(trx, audit ?? []);
        }),
      ),
    listWebhooks: (applicationId) =>
      guard(async () => {
        const rows = await db
          .selectFrom("webhooks as w")
          .leftJoin("users as u", "u.id", "w.created_by")
          .leftJoin("memberships as m", (join) =>
            join
              .onRef("m.application_id", "=", "w.application_id")
              .onRef("m.user_id", "=", "w.created_by"),
          )
          .select(["w.id", "w.application_id", "w.url", "w.events", "w.created_at"])
          .select(CREATOR_COLUMNS)
          .where("w.application_id", "=", applicationId)
          .where("w.deleted_at", "is", null)
          .orderBy("w.created_at", "desc")
          .orderBy("w.id", "desc")
          .execute();
        return rows.map((row) => ({ ...toWebhook(row), creator: creatorOf(row) }));
      }),
    findWebhook: (applicationId, webhookId) =>
      guard(async () => {
        const row = await db
          .selectFrom("webhooks")
          .select(["id", "application_id", "url", "events", "created_at"])
          .where("application_id", "=", applicationId)
          .where("id", "=", webhookId)
          .where("deleted_at", "is", null)
          .executeTakeFirst();
        return row ? toWebhook(row) : undefined;
      }),
    deleteWebhook: ({ applicationId, webhookId, now }, audit) =>
      writeAudited(
        db,
        guard,
        audit,
        async (executor) => {
          const result = await executor
            .updateTable("webhooks")
            .set({ deleted_at: now })
            .where("application_id", "=", applicationId)
            .where("id", "=", webhookId)
            .where("deleted_at", "is", null)
            .executeTakeFirst();
          const deleted = Number(result.numUpdatedRows) > 0;
          if (deleted) {
            // Nobody is listening any more: what was still to send is dropped.
            await executor
              .updateTable("webhook_deliveries")
              .set({ status: "failed", last_error: "webhook deleted" })
              .where("webhook_id", "=", webhookId)
              .where("status", "=", "pending")
              .execute();
          }
          return deleted;
        },
        (deleted) => deleted,
      ),
    listDeliveries: (webhookId, limit) =>
      guard(async () => {
        const rows = await db
          .selectFrom("webhook_deliveries")
          .select([
            "id",
            "webhook_id",
            "event_type",
            "created_at",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status",
            "last_error",
          ])
          .where("webhook_id", "=", webhookId)
          .orderBy("created_at", "desc")
          .orderBy("id", "desc")
          .limit(limit)
          .execute();
        return rows.map(toDelivery);
      }),
    redeliver: ({ webhookId, deliveryId, now }) =>
      guard(async () => {
        const result = await db
          .updateTable("webhook_deliveries")
          .set({ status: "pending", next_attempt_at: now, last_error: null, locked_until: null })
          .where("id", "=", deliveryId)
          .where("webhook_id", "=", webhookId)
          .executeTakeFirst();
        return Number(result.numUpdatedRows) > 0;
      }),
    enqueue: (events) =>
      guard(() => db.transaction().execute((trx) => enqueueWebhookEvents(trx, events))),
    claimDue: (now, limit, lockUntil) =>
      guard(async () => {
        const claimed = await claimDueRows<{
          id: string;
          webhook_id: string;
          payload: string;
          attempts: number | string;
        }>(
          db,
          "webhook_deliveries",
          ["id", "webhook_id", "payload", "attempts"],
          now,
          limit,
          lockUntil,
        );
        if (claimed.length === 0) return [];
        const hooks = await db
          .selectFrom("webhooks")
          .select(["id", "url", "secret"])
          .where("id", "in", [...new Set(claimed.map((r) => r.webhook_id))])
          .execute();
        const byId = new Map(hooks.map((h) => [h.id, h]));
        return claimed.flatMap((r) => {
          const hook = byId.get(r.webhook_id);
          if (!hook) return [];
          return [
            {
              id: r.id,
              webhookId: r.webhook_id,
              url: hook.url,
              secret: hook.secret,
              payload: r.payload,
              attempts: num(r.attempts),
            },
          ];
        });
      }),
    recordAttempt: (input) =>
      guard(async () => {
        await db
          .updateTable("webhook_deliveries")
          .set({
            status: input.status,
            next_attempt_at: input.nextAttemptAt,
            locked_until: null,
            last_attempt_at: input.now,
            last_status: input.lastStatus,
            last_error: input.lastError,
          })
          .where("id", "=", input.deliveryId)
          // Still this attempt's claim: not redelivered meanwhile, nor taken again.
          .where("locked_until", "=", input.lockedUntil)
          // A delivery deleted meanwhile (its webhook removed) stays as it is.
          .where("status", "=", "pending")
          .execute();
      }),
    nextDue: () =>
      guard(async () => {
        const row = await db
          .selectFrom("webhook_deliveries")
          .select((eb) =>
            eb.fn
              .min(
                sql<number>`case when locked_until is not null and locked_until > next_attempt_at then locked_until else next_attempt_at end`,
              )
              .as("at"),
          )
          .where("status", "=", "pending")
          .executeTakeFirst();
        return row?.at === null || row?.at === undefined ? undefined : num(row.at);
      }),
    queueExpiring: (now, horizon, limit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const marked = await markTokensExpiring(trx, "expiring_sent_at", now, horizon, limit);
          await enqueueWebhookEvents(
            trx,
            marked.map((t) => ({
              applicationId: t.application_id,
              type: "token.expiring" as const,
              at: now,
              data: { tokenId: t.id, userId: t.user_id },
            })),
          );
          return marked.length;
        }),
      ),
  };
}

export function createKyselyPolicyStore(db: Kysely<Database>, guard: Guard): PolicyStore {
  return {
    listUnusedTokens: (now, limit) =>
      guard(async () => {
        const lastUse = sql<
          number | string | null
        >`coalesce((select d.last_used_at from token_usage_daily d where d.token_id = t.id order by d.day desc limit 1), t.last_used_at)`;
        const rows = await db
          .selectFrom("tokens as t")
          .innerJoin("applications as a", "a.id", "t.application_id")
          .select([
            "t.id",
            "t.application_id",
            "t.user_id",
            "t.created_at",
            "a.policy_revoke_unused_days",
            lastUse.as("last_used_at"),
          ])
          .where("a.policy_revoke_unused_days", "is not", null)
          .where("t.revoked_at", "is", null)
          .where((eb) => eb.or([eb("t.expires_at", "is", null), eb("t.expires_at", ">", now)]))
          .where(
            sql<boolean>`coalesce(${lastUse}, t.created_at) + cast(a.policy_revoke_unused_days as bigint) * 86400000 <= ${now}`,
          )
          .limit(limit)
          .execute();
        return rows.map((r) => ({
          id: r.id,
          applicationId: r.application_id,
          userId: r.user_id,
          createdAt: num(r.created_at),
          lastUsedAt: numOrNull(r.last_used_at),
          revokeUnusedAfterDays: num(r.policy_revoke_unused_days ?? 0),
        }));
      }),
    acquireLease: ({ name, holder, now, until }) =>
      guard(async () => {
        await db
          .insertInto("job_leases")
          .values({ name, holder: "", until: 0 })
          .onConflict((oc) => oc.column("name").doNothing())
          .execute();
        const result = await db
          .updateTable("job_leases")
          .set({ holder, until })
          .where("name", "=", name)
          .where((eb) => eb.or([eb("until", "<=", now), eb("holder", "=", holder)]))
          .executeTakeFirst();
        return Number(result.numUpdatedRows) > 0;
      }),
    releaseLease: ({ name, holder }) =>
      guard(async () => {
        await db
          .updateTable("job_leases")
          .set({ until: 0 })
          .where("name", "=", name)
          .where("holder", "=", holder)
          .execute();
      }),
  };
}
