import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATION_LOCK_TABLE, MIGRATION_TABLE } from "../migrate.js";
import { migrations } from "../migrations/index.js";
import { createSqliteStore } from "./sqlite-store.js";

const root = mkdtempSync(join(tmpdir(), "keyward-migration-0005-"));
let files = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const T0 = 1_900_000_000_000;

/** A database as version 0004 of the schema left it, with one used token in it. */
async function databaseAt0004(options: { orphanSecret?: boolean } = {}): Promise<string> {
  const path = join(root, `${++files}.db`);
  const sqlite = new SqliteDatabase(path);
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
  const result = await migrator.migrateTo("0004-rate-counters");
  expect(result.error).toBeUndefined();
  sqlite.exec(`
    insert into users (id, email, name, password_hash, created_at)
      values ('usr_1', 'a@example.com', 'A', 'x', ${T0});
    insert into applications (id, name, owner_id, created_at) values ('app_1', 'App', 'usr_1', ${T0});
    insert into memberships (application_id, user_id, role, created_at)
      values ('app_1', 'usr_1', 'owner', ${T0});
    insert into tokens (id, application_id, user_id, name, hint, created_at, last_used_at)
      values ('tok_1', 'app_1', 'usr_1', 'ci', 'kw_…abcd', ${T0}, ${T0 + 5000});
    insert into token_secrets (hash, token_id, created_at) values ('${"a".repeat(64)}', 'tok_1', ${T0});
    insert into token_usage_daily (token_id, day, requests) values ('tok_1', '2030-03-17', 7);
  `);
  if (options.orphanSecret) {
    sqlite.pragma("foreign_keys = off");
    sqlite.exec(
      `insert into token_secrets (hash, token_id, created_at) values ('${"b".repeat(64)}', 'tok_gone', ${T0})`,
    );
  }
  await db.destroy();
  return path;
}

function tableSql(path: string, table: string): string {
  const sqlite = new SqliteDatabase(path, { readonly: true });
  try {
    const row = sqlite
      .prepare<[string], { sql: string }>("select sql from sqlite_master where name = ?")
      .get(table);
    return row?.sql ?? "";
  } finally {
    sqlite.close();
  }
}

describe("migration 0005 on SQLite", () => {
  it("rebuilds the hot tables WITHOUT ROWID and keeps every row, index and last use", async () => {
    const path = await databaseAt0004();
    const store = await createSqliteStore({ path });
    try {
      const token = await store.tokens.findToken("app_1", "tok_1");
      expect(token?.lastUsedAt).toBe(T0 + 5000);
      expect(await store.usage.totalUsage("tok_1")).toBe(7);
      expect((await store.tokens.findSecret("a".repeat(64)))?.tokenId).toBe("tok_1");
      // A later use moves it on, through the usage row.
      await store.usage.applyUsage([
        { tokenId: "tok_1", day: "2030-03-18", requests: 1, lastUsedAt: T0 + 90_000 },
      ]);
      expect((await store.tokens.findToken("app_1", "tok_1"))?.lastUsedAt).toBe(T0 + 90_000);
    } finally {
      await store.close();
    }
    for (const table of ["tokens", "token_secrets", "token_usage_daily"]) {
      expect(tableSql(path, table)).toMatch(/WITHOUT ROWID$/);
    }
    expect(tableSql(path, "tokens_owner")).toContain("CREATE INDEX");
    expect(tableSql(path, "token_secrets_token_id")).toContain("CREATE INDEX");
    // Foreign keys still hold on the rebuilt tables.
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma("foreign_keys = on");
    expect(() =>
      sqlite.exec(
        `insert into token_secrets (hash, token_id, created_at) values ('c', 'tok_missing', 1)`,
      ),
    ).toThrow(/FOREIGN KEY/);
    sqlite.exec("delete from tokens where id = 'tok_1'");
    expect(sqlite.prepare("select count(*) as n from token_secrets").get()).toEqual({ n: 0 });
    sqlite.close();
  });

  it("runs again without harm on a database it already changed (a crash before it was recorded)", async () => {
    const path = await databaseAt0004();
    const store = await createSqliteStore({ path });
    await store.close();
    // Its `up` once more, as a restart would run it: run directly, since later migrations
    // are recorded after it and Kysely refuses to run an earlier one out of order.
    const rerun = new Kysely<unknown>({
      dialect: new SqliteDialect({ database: new SqliteDatabase(path) }),
    });
    try {
      await migrations["0005-usage-last-used"]?.up(rerun);
    } finally {
      await rerun.destroy();
    }
    const again = await createSqliteStore({ path });
    try {
      expect((await again.tokens.findToken("app_1", "tok_1"))?.lastUsedAt).toBe(T0 + 5000);
      expect((await again.tokens.findSecret("a".repeat(64)))?.tokenId).toBe("tok_1");
    } finally {
      await again.close();
    }
    expect(tableSql(path, "tokens")).toMatch(/WITHOUT ROWID$/);
  });

  it("changes nothing when the data breaks a foreign key, and says so", async () => {
    const path = await databaseAt0004({ orphanSecret: true });
    await expect(createSqliteStore({ path })).rejects.toThrow(
      /migration 0005-usage-last-used failed: foreign key check failed/i,
    );
    expect(tableSql(path, "tokens")).not.toMatch(/WITHOUT ROWID/);
    expect(tableSql(path, "token_usage_daily")).not.toContain("last_used_at");
    const sqlite = new SqliteDatabase(path, { readonly: true });
    expect(sqlite.prepare("select count(*) as n from token_secrets").get()).toEqual({ n: 2 });
    expect(
      sqlite.prepare("select name from keyward_migration order by name desc limit 1").get(),
    ).toEqual({ name: "0004-rate-counters" });
    sqlite.close();
  });
});
