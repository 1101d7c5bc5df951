import { type Kysely, sql } from "kysely";
import type {
  RevocationEvent,
  RevocationEventStore,
  RevocationEventType,
} from "../services/ports.js";
import { type Guard, insertRevocationEvents, type RevocationEventRow } from "./kysely-store.js";
import { num } from "./rows.js";
import type { Database } from "./schema.js";

// A literal, not a parameter: the partial index token_secrets_ending is chosen only for a
// query whose WHERE names the index's own constant.
const NOT_ANNOUNCED = sql<number>`0`;

export function createKyselyRevocationStore(
  db: Kysely<Database>,
  guard: Guard,
): RevocationEventStore {
  return {
    bounds: () =>
      guard(async () => {
        const row = await db
          .selectFrom("revocation_events")
          .select((eb) => [eb.fn.min("seq").as("floor"), eb.fn.max("seq").as("head")])
          .executeTakeFirst();
        return {
          floor: row?.floor == null ? 0 : num(row.floor),
          head: row?.head == null ? 0 : num(row.head),
        };
      }),
    listAfter: (afterSeq, limit, applicationId) =>
      guard(async () => {
        let query = db
          .selectFrom("revocation_events")
          .select(["seq", "application_id", "token_id", "type", "at"])
          .where("seq", ">", afterSeq);
        if (applicationId !== undefined) query = query.where("application_id", "=", applicationId);
        const rows = await query.orderBy("seq", "asc").limit(limit).execute();
        return rows.map(
          (r): RevocationEvent => ({
            seq: num(r.seq),
            applicationId: r.application_id,
            tokenId: r.token_id,
            type: r.type as RevocationEventType,
            at: num(r.at),
          }),
        );
      }),
    nextSecretEnd: () =>
      guard(async () => {
        const row = await db
          .selectFrom("token_secrets")
          .select((eb) => eb.fn.min("expires_at").as("next"))
          .where("expires_at", "is not", null)
          .where("ended_announced", "=", NOT_ANNOUNCED)
          .executeTakeFirst();
        return row?.next == null ? undefined : num(row.next);
      }),
    announceEndedSecrets: (now) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          // Marked first: on PostgreSQL a second process running the same UPDATE waits for
          // these rows, then finds them announced and writes nothing.
          const ended = await trx
            .updateTable("token_secrets")
            .set({ ended_announced: 1 })
            .where("expires_at", "is not", null)
            .where("ended_announced", "=", NOT_ANNOUNCED)
            .where("expires_at", "<=", now)
            .returning(["token_id", "expires_at"])
            .execute();
          if (ended.length === 0) return [];
          // One event per token, at the end of its last old secret.
          const endOf = new Map<string, number>();
          for (const row of ended) {
            const at = num(row.expires_at ?? now);
            endOf.set(row.token_id, Math.max(endOf.get(row.token_id) ?? at, at));
          }
          const tokens = await trx
            .selectFrom("tokens")
            .select(["id", "application_id"])
            .where("id", "in", [...endOf.keys()])
            .orderBy("id")
            .execute();
          const rows: RevocationEventRow[] = tokens.map((t) => ({
            application_id: t.application_id,
            token_id: t.id,
            type: "secret.ended",
            at: endOf.get(t.id) ?? now,
          }));
          await insertRevocationEvents(trx, rows);
          return rows.map((r) => r.token_id);
        }),
      ),
    prune: (before) =>
      guard(async () => {
        const mark = await db
          .selectFrom("revocation_events")
          .select((eb) => eb.fn.max("seq").as("seq"))
          .where("at", "<", before)
          .executeTakeFirst();
        if (mark?.seq == null) return 0;
        // The newest old row stays: it is the floor, below which a reader cannot be replayed.
        const result = await db
          .deleteFrom("revocation_events")
          .where("seq", "<", num(mark.seq))
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
  };
}
