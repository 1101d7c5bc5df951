import { type Kysely, sql } from "kysely";
import type { CounterStore } from "../services/ports.js";
import type { Guard } from "./kysely-store.js";
import { num } from "./rows.js";
import type { Database } from "./schema.js";

export function createKyselyCounterStore(db: Kysely<Database>, guard: Guard): CounterStore {
  return {
    increment: (key, windowMs, now) =>
      guard(async () => {
        // One statement, so two processes counting the same key never lose an increment.
        const row = await db
          .insertInto("rate_counters")
          .values({ key, window_start: now, count: 1 })
          .onConflict((oc) =>
            oc.column("key").doUpdateSet({
              count: sql<number>`case when rate_counters.window_start + ${windowMs} <= ${now} then 1 else rate_counters.count + 1 end`,
              window_start: sql<number>`case when rate_counters.window_start + ${windowMs} <= ${now} then cast(${now} as bigint) else rate_counters.window_start end`,
            }),
          )
          .returning(["count", "window_start"])
          .executeTakeFirstOrThrow();
        return { count: num(row.count), windowStart: num(row.window_start) };
      }),
    read: (key, windowMs, now) =>
      guard(async () => {
        const row = await db
          .selectFrom("rate_counters")
          .select(["count", "window_start"])
          .where("key", "=", key)
          .executeTakeFirst();
        if (!row || num(row.window_start) + windowMs <= now) return { count: 0, windowStart: now };
        return { count: num(row.count), windowStart: num(row.window_start) };
      }),
    prune: (before) =>
      guard(async () => {
        const result = await db
          .deleteFrom("rate_counters")
          .where("window_start", "<", before)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
  };
}
