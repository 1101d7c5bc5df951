import type { Kysely } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // Fixed-window counters shared by every process on one database (failed sign-ins,
  // token creations), so an abuse limit holds however requests are spread.
  await db.schema
    .createTable("rate_counters")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("window_start", "bigint", (c) => c.notNull())
    .addColumn("count", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("rate_counters_window_start")
    .on("rate_counters")
    .column("window_start")
    .execute();
}
