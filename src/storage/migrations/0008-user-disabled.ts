import type { Kysely } from "kysely";

// Frozen in time: see 0001-initial.ts.

/**
 * An operator can disable a user (`keyward users disable`): a disabled user cannot sign
 * in, has no sessions and their tokens are refused, until enabled again. Null: enabled.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's schema types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("users").addColumn("disabled_at", "bigint").execute();
}
