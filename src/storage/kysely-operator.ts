import { type ExpressionBuilder, type Kysely, sql } from "kysely";
import type {
  OperatorApplication,
  OperatorServiceKey,
  OperatorStore,
  OperatorUser,
} from "../services/ports.js";
import { AUDIT_EVENT_COLUMNS, auditEventsJoined, toAuditEvent } from "./kysely-audit.js";
import { dropResetLinks } from "./kysely-mail.js";
import { serviceKeysWithApplication } from "./kysely-service-keys.js";
import { type Guard, insertAuditEvents, insertRevocationEvents } from "./kysely-store.js";
import { tokenColumns } from "./kysely-tokens.js";
import { num, numOrNull, toApplication, toServiceKey, toTokenRecord } from "./rows.js";
import type { Database } from "./schema.js";

/** Rows per statement of an import: 10 parameters each, within SQLite's limit of 32,766. */
const IMPORT_CHUNK = 500;

/** Tokens neither revoked nor expired at `now`, as a predicate on the `t` alias. */
function activeAt(eb: ExpressionBuilder<Database & { t: Database["tokens"] }, "t">, now: number) {
  return eb.and([
    eb("t.revoked_at", "is", null),
    eb.or([eb("t.expires_at", "is", null), eb("t.expires_at", ">", now)]),
  ]);
}

function users(db: Kysely<Database>, now: number) {
  return db.selectFrom("users as u").select([
    "u.id",
    "u.email",
    "u.name",
    "u.created_at",
    "u.disabled_at",
    "u.application_id",
    "u.external_id",
    (eb) =>
      eb
        .selectFrom("tokens as t")
        .select((e) => e.fn.countAll<number | string>().as("n"))
        .whereRef("t.user_id", "=", "u.id")
        .where((e) => activeAt(e, now))
        .as("active_tokens"),
  ]);
}

function toOperatorUser(row: {
  id: string;
  email: string;
  name: string;
  created_at: number | string;
  disabled_at: number | string | null;
  application_id: string | null;
  external_id: string | null;
  active_tokens: number | string | null;
}): OperatorUser {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    createdAt: num(row.created_at),
    disabledAt: numOrNull(row.disabled_at),
    hostApplicationId: row.application_id,
    externalId: row.external_id,
    activeTokens: num(row.active_tokens ?? 0),
  };
}

function applications(db: Kysely<Database>, now: number) {
  return db
    .selectFrom("applications as a")
    .innerJoin("users as o", "o.id", "a.owner_id")
    .select([
      "a.id",
      "a.name",
      "a.owner_id",
      "a.scopes",
      "a.created_at",
      "a.return_origins",
      "a.branding",
      "o.email as owner_email",
      (eb) =>
        eb
          .selectFrom("memberships as m")
          .select((e) => e.fn.countAll<number | string>().as("n"))
          .whereRef("m.application_id", "=", "a.id")
          .as("members"),
      (eb) =>
        eb
          .selectFrom("tokens as t")
          .select((e) => e.fn.countAll<number | string>().as("n"))
          .whereRef("t.application_id", "=", "a.id")
          .where((e) => activeAt(e, now))
          .as("active_tokens"),
    ]);
}

function toOperatorApplication(
  row: Parameters<typeof toApplication>[0] & {
    owner_email: string;
    members: number | string | null;
    active_tokens: number | string | null;
  },
): OperatorApplication {
  return {
    ...toApplication(row),
    ownerEmail: row.owner_email,
    members: num(row.members ?? 0),
    activeTokens: num(row.active_tokens ?? 0),
  };
}

function toOperatorServiceKey(
  row: Parameters<typeof toServiceKey>[0] & { application_name: string },
): OperatorServiceKey {
  return { ...toServiceKey(row), applicationName: row.application_name };
}

export function createKyselyOperatorStore(
  db: Kysely<Database>,
  guard: Guard,
  /** Told of every secret hash before the transaction that writes it (the SQLite filter). */
  beforeSecretWrite?: (hash: string) => void,
): OperatorStore {
  return {
    listUsers: ({ search, limit, now }) =>
      guard(async () => {
        let query = users(db, now);
        if (search !== undefined && search !== "") {
          const pattern = `%${search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
          query = query.where((eb) =>
            eb.or([
              eb(sql`lower(u.email)`, "like", sql`${pattern} escape '\\'`),
              eb(sql`lower(u.name)`, "like", sql`${pattern} escape '\\'`),
            ]),
          );
        }
        const rows = await query
          .orderBy("u.created_at", "asc")
          .orderBy("u.id", "asc")
          .limit(limit)
          .execute();
        return rows.map(toOperatorUser);
      }),
    existingSecretHashes: (hashes) =>
      guard(async () => {
        if (hashes.length === 0) return [];
        const rows = await db
          .selectFrom("token_secrets")
          .select("hash")
          .where("hash", "in", [...hashes])
          .execute();
        return rows.map((r) => r.hash);
      }),
    importTokens: (tokens, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const present = new Set<string>();
          // Chunks keep each statement within SQLite's bound-parameter limit.
          for (let i = 0; i < tokens.length; i += IMPORT_CHUNK) {
            const hashes = tokens.slice(i, i + IMPORT_CHUNK).map((t) => t.secretHash);
            const rows = await trx
              .selectFrom("token_secrets")
              .select("hash")
              .where("hash", "in", hashes)
              .execute();
            for (const row of rows) present.add(row.hash);
          }
          // A hash twice in one batch is imported once.
          const fresh = tokens.filter((t) => {
            if (present.has(t.secretHash)) return false;
            present.add(t.secretHash);
            return true;
          });
          if (beforeSecretWrite) for (const t of fresh) beforeSecretWrite(t.secretHash);
          for (let i = 0; i < fresh.length; i += IMPORT_CHUNK) {
            const chunk = fresh.slice(i, i + IMPORT_CHUNK);
            await trx
              .insertInto("tokens")
              .values(
                chunk.map((t) => ({
                  id: t.id,
                  application_id: t.applicationId,
                  user_id: t.userId,
                  name: t.name,
                  hint: t.hint,
                  scopes: JSON.stringify(t.scopes),
                  created_at: t.createdAt,
                  expires_at: t.expiresAt,
                  imported_at: t.importedAt,
                  refused_count: 0,
                })),
              )
              .execute();
            await trx
              .insertInto("token_secrets")
              .values(
                chunk.map((t) => ({
                  hash: t.secretHash,
                  token_id: t.id,
                  created_at: t.createdAt,
                  expires_at: null,
                })),
              )
              .execute();
          }
          if (fresh.length > 0) await insertAuditEvents(trx, audit);
          return { imported: fresh.length, skipped: tokens.length - fresh.length };
        }),
      ),
    findUser: (idOrEmail, now) =>
      guard(async () => {
        const row = await users(db, now)
          .where((eb) =>
            eb.or([
              eb("u.id", "=", idOrEmail),
              eb.and([
                eb("u.email", "=", idOrEmail.trim().toLowerCase()),
                eb("u.application_id", "is", null),
              ]),
            ]),
          )
          .executeTakeFirst();
        return row ? toOperatorUser(row) : undefined;
      }),
    setUserDisabled: ({ userId, disabledAt }, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          const updated = await trx
            .updateTable("users")
            .set({ disabled_at: disabledAt })
            .where("id", "=", userId)
            .where("disabled_at", disabledAt === null ? "is not" : "is", null)
            .executeTakeFirst();
          if (Number(updated.numUpdatedRows) === 0) return { changed: false, endedSessions: 0 };
          let endedSessions = 0;
          if (disabledAt !== null) {
            const deleted = await trx
              .deleteFrom("sessions")
              .where("user_id", "=", userId)
              .executeTakeFirst();
            endedSessions = Number(deleted.numDeletedRows);
            // A host user's portal links not yet opened would sign them in once enabled
            // again: they go with the sessions.
            await trx.deleteFrom("portal_codes").where("user_id", "=", userId).execute();
            // Their live tokens are refused from now on: the revocation stream says so, in
            // the same transaction, so a host's cached answers drop within the stream's bound.
            const live = await trx
              .selectFrom("tokens")
              .select(["id", "application_id"])
              .where("user_id", "=", userId)
              .where("revoked_at", "is", null)
              .orderBy("id")
              .execute();
            await insertRevocationEvents(
              trx,
              live.map((t) => ({
                application_id: t.application_id,
                token_id: t.id,
                type: "token.revoked",
                at: disabledAt,
              })),
            );
          }
          await insertAuditEvents(trx, audit ?? []);
          return { changed: true, endedSessions };
        }),
      ),
    setPassword: ({ userId, passwordHash }, audit) =>
      guard(() =>
        db.transaction().execute(async (trx) => {
          await trx
            .updateTable("users")
            .set({ password_hash: passwordHash })
            .where("id", "=", userId)
            .execute();
          await dropResetLinks(trx, userId);
          const deleted = await trx
            .deleteFrom("sessions")
            .where("user_id", "=", userId)
            .executeTakeFirst();
          await insertAuditEvents(trx, audit ?? []);
          return { endedSessions: Number(deleted.numDeletedRows) };
        }),
      ),
    listApplications: (now) =>
      guard(async () => {
        const rows = await applications(db, now)
          .orderBy("a.created_at", "asc")
          .orderBy("a.id", "asc")
          .execute();
        return rows.map(toOperatorApplication);
      }),
    findApplication: (id, now) =>
      guard(async () => {
        const row = await applications(db, now).where("a.id", "=", id).executeTakeFirst();
        return row ? toOperatorApplication(row) : undefined;
      }),
    listTokens: (filter) =>
      guard(async () => {
        let query = tokenColumns(db)
          .innerJoin("applications as a", "a.id", "t.application_id")
          .select("a.name as application_name");
        if (filter.applicationId !== undefined)
          query = query.where("t.application_id", "=", filter.applicationId);
        if (filter.userId !== undefined) query = query.where("t.user_id", "=", filter.userId);
        if (filter.tokenId !== undefined) query = query.where("t.id", "=", filter.tokenId);
        const now = filter.activeAt;
        if (now !== undefined) query = query.where((eb) => activeAt(eb, now));
        const rows = await query.orderBy("t.created_at", "desc").orderBy("t.id", "desc").execute();
        return rows.map((row) => ({
          ...toTokenRecord(row),
          applicationName: row.application_name,
        }));
      }),
    listServiceKeys: (applicationId) =>
      guard(async () => {
        let query = serviceKeysWithApplication(db);
        if (applicationId !== undefined)
          query = query.where("k.application_id", "=", applicationId);
        const rows = await query.orderBy("k.created_at", "desc").orderBy("k.id", "desc").execute();
        return rows.map(toOperatorServiceKey);
      }),
    findServiceKey: (keyId) =>
      guard(async () => {
        const row = await serviceKeysWithApplication(db)
          .where("k.id", "=", keyId)
          .executeTakeFirst();
        return row ? toOperatorServiceKey(row) : undefined;
      }),
    auditPage: ({ since, applicationId, after, limit }) =>
      guard(async () => {
        let query = auditEventsJoined(db)
          .select([...AUDIT_EVENT_COLUMNS])
          .where("e.created_at", ">=", since);
        if (applicationId !== undefined)
          query = query.where("e.application_id", "=", applicationId);
        if (after !== undefined) {
          query = query.where((eb) =>
            eb.or([
              eb("e.created_at", ">", after.createdAt),
              eb.and([eb("e.created_at", "=", after.createdAt), eb("e.id", ">", after.id)]),
            ]),
          );
        }
        const rows = await query
          .orderBy("e.created_at", "asc")
          .orderBy("e.id", "asc")
          .limit(limit)
          .execute();
        return rows.map(toAuditEvent);
      }),
  };
}
