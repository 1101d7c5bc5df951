import type { Kysely } from "kysely";

// Frozen in time: see 0001-initial.ts.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  // When a valid token was first sent over plain HTTP from a remote client: it may have
  // been read on the wire, so its owner is asked to regenerate it.
  await db.schema.alterTable("tokens").addColumn("exposed_at", "bigint").execute();
}
