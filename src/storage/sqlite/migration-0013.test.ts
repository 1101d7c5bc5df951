import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import * as importedTokens from "../migrations/0013-imported-tokens.js";
import { createSqliteStore } from "./sqlite-store.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-0013-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("migration 0013 (imported tokens) on SQLite", () => {
  it("run again after a crash between its column and its index, it creates the index", async () => {
    const path = join(dir, "k.db");
    const store = await createSqliteStore({ path, role: "server" });
    await store.close();
    const sqlite = new SqliteDatabase(path);
    sqlite.exec("drop index tokens_imported");
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      await expect(importedTokens.up(db)).resolves.toBeUndefined();
      const columns = sqlite.prepare("pragma table_info(tokens)").all() as Array<{ name: string }>;
      expect(columns.filter((c) => c.name === "imported_at")).toHaveLength(1);
      const indexes = sqlite.prepare("pragma index_list(tokens)").all() as Array<{ name: string }>;
      expect(indexes.map((i) => i.name)).toContain("tokens_imported");
    } finally {
      await db.destroy();
    }
  });
});
