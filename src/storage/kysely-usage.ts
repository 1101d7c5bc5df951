import { type Kysely, sql } from "kysely";
import type { UsageStore } from "../services/ports.js";
import type { Guard, RunTransaction } from "./kysely-store.js";
import { enqueueWebhookEvents } from "./kysely-webhook-queue.js";
import { num } from "./rows.js";
import type { Database, TokenUsageDailyTable } from "./schema.js";

/** `token.refused` goes to webhooks at most this often per token. */
const REFUSED_EVENT_EVERY_MS = 3_600_000;

/** Rows per multi-row usage statement: well under SQLite's and PostgreSQL's parameter limits. */
const USAGE_ROWS_PER_STATEMENT = 500;

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `flushTransaction` runs a usage flush's transaction: the dialect may commit it without
 * waiting for the disk, since usage counts are the one write whose last second may be
 * lost on power loss.
 */
export function createKyselyUsageStore(
  db: Kysely<Database>,
  guard: Guard,
  flushTransaction: RunTransaction,
): UsageStore {
  return {
    applyUsage: (increments) =>
      guard(async () => {
        if (increments.length === 0) return;
        // One lock order for every flush (token, then day), so two processes flushing the
        // same tokens at once wait for each other instead of deadlocking.
        const ordered = [...increments].sort(
          (a, b) => compareText(a.tokenId, b.tokenId) || compareText(a.day, b.day),
        );
        // One row per (token, day): a statement may not touch a row twice (PostgreSQL
        // refuses it in an upsert).
        const daily: TokenUsageDailyTable[] = [];
        for (const inc of ordered) {
          const prev = daily[daily.length - 1];
          if (prev?.token_id === inc.tokenId && prev.day === inc.day) {
            prev.requests += inc.requests;
            prev.last_used_at = Math.max(prev.last_used_at ?? 0, inc.lastUsedAt);
          } else {
            daily.push({
              token_id: inc.tokenId,
              day: inc.day,
              requests: inc.requests,
              last_used_at: inc.lastUsedAt,
            });
          }
        }
        // Multi-row statements: a flush of thousands of tokens is a few statements, not
        // one per token (each prepared anew, and on PostgreSQL one round trip each). The
        // last use goes in the same row, so a flush writes one row per token and day and
        // never a row of `tokens`: those are scattered over the largest table, and
        // updating them was most of a flush's time with many tokens.
        await flushTransaction(async (trx) => {
          for (let i = 0; i < daily.length; i += USAGE_ROWS_PER_STATEMENT) {
            await trx
              .insertInto("token_usage_daily")
              .values(daily.slice(i, i + USAGE_ROWS_PER_STATEMENT))
              .onConflict((oc) =>
                oc.columns(["token_id", "day"]).doUpdateSet({
                  requests: sql`token_usage_daily.requests + excluded.requests`,
                  // Forward only: a flush that arrives late never moves it back.
                  last_used_at: sql`case
                    when token_usage_daily.last_used_at is null
                      or token_usage_daily.last_used_at < excluded.last_used_at
                    then excluded.last_used_at
                    else token_usage_daily.last_used_at end`,
                }),
              )
              .execute();
          }
        });
      }),
    dailyUsage: (tokenId, fromDay) =>
      guard(async () => {
        const rows = await db
          .selectFrom("token_usage_daily")
          .select(["day", "requests"])
          .where("token_id", "=", tokenId)
          .where("day", ">=", fromDay)
          .orderBy("day", "asc")
          .execute();
        return rows.map((r) => ({ day: r.day, requests: num(r.requests) }));
      }),
    usageOfTokens: (tokenIds, fromDay) =>
      guard(async () => {
        const totals = new Map<string, number>();
        const daily = new Map<string, Array<{ day: string; requests: number }>>();
        const distinct = [...new Set(tokenIds)];
        // Chunks keep each statement's parameters well under both dialects' limits.
        for (let i = 0; i < distinct.length; i += USAGE_ROWS_PER_STATEMENT) {
          const ids = distinct.slice(i, i + USAGE_ROWS_PER_STATEMENT);
          const [sums, days] = await Promise.all([
            db
              .selectFrom("token_usage_daily")
              .select((eb) => ["token_id", eb.fn.sum<number | string>("requests").as("total")])
              .where("token_id", "in", ids)
              .groupBy("token_id")
              .execute(),
            db
              .selectFrom("token_usage_daily")
              .select(["token_id", "day", "requests"])
              .where("token_id", "in", ids)
              .where("day", ">=", fromDay)
              .orderBy("token_id")
              .orderBy("day", "asc")
              .execute(),
          ]);
          for (const row of sums) totals.set(row.token_id, num(row.total));
          for (const row of days) {
            const list = daily.get(row.token_id) ?? [];
            list.push({ day: row.day, requests: num(row.requests) });
            daily.set(row.token_id, list);
          }
        }
        return tokenIds.map((tokenId) => ({
          tokenId,
          total: totals.get(tokenId) ?? 0,
          daily: daily.get(tokenId) ?? [],
        }));
      }),
    applyRefusals: (refusals) =>
      guard(async () => {
        if (refusals.length === 0) return;
        const ordered = [...refusals].sort((a, b) => compareText(a.tokenId, b.tokenId));
        await db.transaction().execute(async (trx) => {
          for (const r of ordered) {
            await trx
              .updateTable("tokens")
              .set((eb) => ({
                refused_count: eb("refused_count", "+", r.count),
                refused_last_at: sql<number>`case when refused_last_at is null or refused_last_at < cast(${r.lastAt} as bigint) then cast(${r.lastAt} as bigint) else refused_last_at end`,
              }))
              .where("id", "=", r.tokenId)
              .execute();
            // A webhook hears of it at most once per token per hour: the conditional update
            // lets one flush (of one process) queue it.
            const announced = await trx
              .updateTable("tokens")
              .set({ refused_event_at: r.lastAt })
              .where("id", "=", r.tokenId)
              .where((eb) =>
                eb.or([
                  eb("refused_event_at", "is", null),
                  eb("refused_event_at", "<=", r.lastAt - REFUSED_EVENT_EVERY_MS),
                ]),
              )
              .returning(["id", "application_id", "user_id", "revoked_at", "expires_at"])
              .executeTakeFirst();
            if (announced) {
              await enqueueWebhookEvents(trx, [
                {
                  applicationId: announced.application_id,
                  type: "token.refused",
                  at: r.lastAt,
                  data: {
                    tokenId: announced.id,
                    userId: announced.user_id,
                    status: announced.revoked_at === null ? "expired" : "revoked",
                  },
                },
              ]);
            }
          }
        });
      }),
    totalUsage: (tokenId) =>
      guard(async () => {
        const row = await db
          .selectFrom("token_usage_daily")
          .select((eb) => eb.fn.sum<number | string | null>("requests").as("total"))
          .where("token_id", "=", tokenId)
          .executeTakeFirst();
        return row?.total == null ? 0 : num(row.total);
      }),
  };
}
