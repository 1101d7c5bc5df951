import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import * as email from "../migrations/0015-email.js";
import { createSqliteStore } from "./sqlite-store.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-0015-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("migration 0015 (email) on SQLite", () => {
  it("runs again without harm on a database it already changed (a crash before it was recorded)", async () => {
    const path = join(dir, "k.db");
    const store = await createSqliteStore({ path, role: "server" });
    await store.close();
    const sqlite = new SqliteDatabase(path);
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      await expect(email.up(db)).resolves.toBeUndefined();
      const columns = (table: string) =>
        (sqlite.prepare(`pragma table_info(${table})`).all() as Array<{ name: string }>).map(
          (c) => c.name,
        );
      expect(columns("users").filter((c) => c === "email_confirmed_at")).toHaveLength(1);
      expect(columns("tokens").filter((c) => c === "expiry_reminder_sent_at")).toHaveLength(1);
      expect(columns("mail_outbox")).toContain("locked_until");
      expect(columns("account_codes")).toContain("used_at");
    } finally {
      await db.destroy();
    }
  });
});
