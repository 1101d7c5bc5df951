import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import * as policiesWebhooks from "../migrations/0011-policies-webhooks.js";
import { createSqliteStore } from "./sqlite-store.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-0011-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("migration 0011 (token policies, webhooks) on SQLite", () => {
  it("runs again without harm on a database it already changed (a crash before it was recorded)", async () => {
    const path = join(dir, "k.db");
    const store = await createSqliteStore({ path, role: "server" });
    await store.close();
    const sqlite = new SqliteDatabase(path);
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      await expect(policiesWebhooks.up(db)).resolves.toBeUndefined();
      const columns = sqlite.prepare("pragma table_info(tokens)").all() as Array<{ name: string }>;
      expect(columns.filter((c) => c.name === "expiring_sent_at")).toHaveLength(1);
    } finally {
      await db.destroy();
    }
  });
});
