import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { StorageUnavailableError } from "../../core/errors.js";
import { LookupGroup, LookupTransactionStuckError } from "./lookup-group.js";

const root = mkdtempSync(join(tmpdir(), "keyward-lookup-group-"));
let files = 0;

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A WAL file with three rows, every statement it runs recorded. */
function openStore() {
  const statements: string[] = [];
  const sqlite = new SqliteDatabase(join(root, `${++files}.db`), {
    verbose: (message?: unknown) => statements.push(String(message)),
  });
  sqlite.pragma("journal_mode = WAL");
  sqlite.exec("create table things (key text primary key, value text not null) without rowid");
  sqlite.exec("insert into things values ('a', 'A'), ('b', 'B'), ('c', 'C')");
  const select = sqlite.prepare<[string], string>("select value from things where key = ?").pluck();
  // Fails inside SQLite, at its step: malformed JSON.
  const failing = sqlite.prepare<[string], string>("select json(?)").pluck();
  // Leaves its statement running: the connection is then busy, and can neither commit nor
  // roll back (better-sqlite3 refuses any other statement while an iterator is open).
  const leftOpen = sqlite.prepare<[], string>("select value from things").pluck();
  const group = new LookupGroup(
    sqlite,
    (key) => {
      if (key === "fails") return failing.get("{");
      if (key === "leaves-open") return leftOpen.iterate().next().value as string;
      return select.get(key);
    },
    (error) => new Error(`fault: ${(error as Error).message}`),
  );
  statements.length = 0;
  return { sqlite, group, statements };
}

describe("LookupGroup", () => {
  it("reads the lookups asked for in one turn together, in one read transaction, each with its own answer", async () => {
    const { sqlite, group, statements } = openStore();
    const answers = Promise.all([group.load("a"), group.load("c"), group.load("none")]);
    // Nothing is read before the turn ends.
    expect(statements).toEqual([]);
    expect(await answers).toEqual(["A", "C", undefined]);
    expect(statements.map((s) => s.split(" ")[0])).toEqual([
      "begin",
      "select",
      "select",
      "select",
      "commit",
    ]);
    expect(sqlite.inTransaction).toBe(false);
    // The next turn's lookups are a group of their own.
    statements.length = 0;
    expect(await group.load("b")).toBe("B");
    expect(statements.map((s) => s.split(" ")[0])).toEqual(["select"]);
    sqlite.close();
  });

  it("reads inside a transaction the connection is already in, and leaves it open to its owner", async () => {
    const { sqlite, group, statements } = openStore();
    sqlite.exec("begin");
    sqlite.exec("insert into things values ('d', 'D')");
    statements.length = 0;
    // Inside the owner's transaction, as a single read always was: its own write is seen.
    expect(await Promise.all([group.load("a"), group.load("d")])).toEqual(["A", "D"]);
    expect(statements.map((s) => s.split(" ")[0])).toEqual(["select", "select"]);
    expect(sqlite.inTransaction).toBe(true);
    sqlite.exec("commit");
    sqlite.close();
  });

  it("reads inside a Kysely transaction that stays open across turns, which then commits as its owner meant", async () => {
    const { sqlite, group, statements } = openStore();
    const db = new Kysely<{ things: { key: string; value: string } }>({
      dialect: new SqliteDialect({ database: sqlite }),
    });
    let lookups: Promise<unknown[]> | undefined;
    await db.transaction().execute(async (trx) => {
      await trx.insertInto("things").values({ key: "d", value: "D" }).execute();
      statements.length = 0;
      lookups = Promise.all([group.load("a"), group.load("d")]);
      // The turn ends with the transaction open: the group runs inside it.
      await new Promise((resolve) => setImmediate(resolve));
      await trx.insertInto("things").values({ key: "e", value: "E" }).execute();
    });
    expect(await lookups).toEqual(["A", "D"]);
    expect(statements.some((text) => text.startsWith("begin"))).toBe(false);
    const committed = await sql<{ n: number }>`select count(*) as n from things`.execute(db);
    expect(committed.rows[0]?.n).toBe(5);
    await db.destroy();
  });

  it("gives each read's fault to its own caller, and ends the transaction after a failed read", async () => {
    const { sqlite, group } = openStore();
    const answers = [group.load("a"), group.load("fails"), group.load("b")];
    await expect(answers[0]).resolves.toBe("A");
    await expect(answers[1]).rejects.toThrow(/fault: malformed JSON/);
    await expect(answers[2]).resolves.toBe("B");
    expect(sqlite.inTransaction).toBe(false);
    // A writer's transaction can start.
    sqlite.exec("begin immediate; insert into things values ('e', 'E'); commit");
    sqlite.close();
  });

  it("rejects every lookup of a group whose connection closed before the group ran", async () => {
    const { sqlite, group } = openStore();
    const answers = [group.load("a"), group.load("b")];
    sqlite.close();
    for (const answer of answers) await expect(answer).rejects.toThrow(/fault: .*not open/);
  });

  it("refuses every later lookup (503) once a group's transaction can be neither committed nor rolled back", async () => {
    const { sqlite, group } = openStore();
    // This group's own reads were made on a live snapshot: they are answered.
    expect(await Promise.all([group.load("a"), group.load("leaves-open")])).toEqual(["A", "A"]);
    // Left open, the transaction would keep every later read on that snapshot, blind to
    // revocations and new tokens.
    expect(sqlite.inTransaction).toBe(true);
    for (const later of [[group.load("b")], [group.load("b"), group.load("c")]]) {
      for (const answer of later) {
        const error = await answer.then(
          () => undefined,
          (refusal: unknown) => refusal,
        );
        expect(error).toBeInstanceOf(StorageUnavailableError);
        expect((error as StorageUnavailableError).code).toBe("storage_unavailable");
        expect((error as Error).cause).toBeInstanceOf(LookupTransactionStuckError);
      }
    }
  });
});
