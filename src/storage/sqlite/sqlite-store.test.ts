import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { StorageUnavailableError } from "../../core/errors.js";
import { insertOwnedTokens, OWNED_TOKENS_AT } from "../../test-support/owned-tokens.js";
import { defineStoreContract } from "../../test-support/store-contract.js";
import type { Database } from "../schema.js";
import { asUsageFlush, createSqliteStore } from "./sqlite-store.js";

const root = mkdtempSync(join(tmpdir(), "keyward-sqlite-contract-"));
let files = 0;

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

defineStoreContract("SQLite", () => createSqliteStore({ path: join(root, `${++files}.db`) }));

const T0 = OWNED_TOKENS_AT;

describe("SQLite secret filter", () => {
  it("refuses a made-up secret without a storage read, and knows the stored ones after a restart", async () => {
    const path = join(root, "filter.db");
    const first = await createSqliteStore({ path });
    const stored = createHash("sha256").update("stored").digest("hex");
    await insertOwnedTokens(first, "f", [stored]);
    expect((await first.tokens.findSecret(stored))?.tokenId).toBe("tok_f1");
    const reads = first.stats.reads;
    expect(
      await first.tokens.findSecret(createHash("sha256").update("made up").digest("hex")),
    ).toBe(undefined);
    expect(first.stats.reads).toBe(reads);
    const regenerated = createHash("sha256").update("regenerated").digest("hex");
    expect(
      await first.tokens.replaceSecret({
        tokenId: "tok_f1",
        secretHash: regenerated,
        hint: "kw_…efgh",
        now: T0 + 1,
        oldSecretsExpireAt: T0 + 60_000,
      }),
    ).toBe(true);
    await first.close();

    const second = await createSqliteStore({ path });
    try {
      expect((await second.tokens.findSecret(stored))?.tokenId).toBe("tok_f1");
      expect((await second.tokens.findSecret(regenerated))?.tokenId).toBe("tok_f1");
    } finally {
      await second.close();
    }
  });
});

describe("SQLite secret lookups", () => {
  it("reads the lookups of one turn in one read transaction, each answered with its own token", async () => {
    const statements: string[] = [];
    const store = await createSqliteStore({
      path: join(root, "grouped.db"),
      traceStatements: (text) => statements.push(text),
    });
    try {
      const hashes = [1, 2, 3].map((n) =>
        createHash("sha256").update(`grouped ${n}`).digest("hex"),
      );
      await insertOwnedTokens(store, "g", hashes);
      statements.length = 0;
      const found = await Promise.all(hashes.map((hash) => store.tokens.findSecret(hash)));
      expect(found.map((record) => record?.tokenId)).toEqual(["tok_g1", "tok_g2", "tok_g3"]);
      expect(statements.map((text) => text.split(" ")[0])).toEqual([
        "begin",
        "select",
        "select",
        "select",
        "commit",
      ]);
    } finally {
      await store.close();
    }
  });

  it("refuses, as storage unavailable, a lookup still waiting for its turn's end when the store closes", async () => {
    const store = await createSqliteStore({ path: join(root, "closing.db") });
    const hash = createHash("sha256").update("closing").digest("hex");
    await insertOwnedTokens(store, "c", [hash]);
    const waiting = store.tokens.findSecret(hash);
    await store.close();
    await expect(waiting).rejects.toBeInstanceOf(StorageUnavailableError);
  });
});

describe("asUsageFlush", () => {
  it("runs its work without fsync, foreign-key checks or a statement journal on disk, and puts the server's settings back, also when the work fails", async () => {
    const sqlite = new SqliteDatabase(join(root, "sync.db"));
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = FULL");
    sqlite.pragma("foreign_keys = ON");
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    const settings = async (conn: Kysely<Database>) => ({
      synchronous: (await sql<{ synchronous: number }>`pragma synchronous`.execute(conn)).rows[0]
        ?.synchronous,
      foreignKeys: (await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(conn)).rows[0]
        ?.foreign_keys,
      tempStore: (await sql<{ temp_store: number }>`pragma temp_store`.execute(conn)).rows[0]
        ?.temp_store,
    });
    const server = { synchronous: 2, foreignKeys: 1, tempStore: 0 };
    try {
      expect(await settings(db)).toEqual(server);
      expect(await asUsageFlush(db, settings)).toEqual({
        synchronous: 1,
        foreignKeys: 0,
        tempStore: 2,
      });
      expect(await settings(db)).toEqual(server);
      await expect(
        asUsageFlush(db, async () => {
          throw new Error("flush failed");
        }),
      ).rejects.toThrow("flush failed");
      expect(await settings(db)).toEqual(server);
    } finally {
      await db.destroy();
    }
  });

  it("fails, instead of leaving foreign-key checks off, when the work leaves a transaction open", async () => {
    const sqlite = new SqliteDatabase(join(root, "left-open.db"));
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      await expect(
        asUsageFlush(db, async (conn) => {
          await sql`begin`.execute(conn);
        }),
      ).rejects.toThrow(/foreign-key checks could not be turned back on/);
      sqlite.exec("rollback");
      expect(sqlite.pragma("foreign_keys", { simple: true })).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});
