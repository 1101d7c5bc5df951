import { createHash } from "node:crypto";
import SqliteDatabase from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { prefixSql, SecretFilter } from "./secret-filter.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("SecretFilter", () => {
  it("never says absent for a hash it was given, through every growth", () => {
    const filter = new SecretFilter();
    const added: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      const hash = sha256(`stored ${i}`);
      filter.add(hash);
      added.push(hash);
    }
    expect(added.every((hash) => filter.mayContain(hash))).toBe(true);
    // Distinct 32-bit prefixes: two of 50,000 hashes may share one.
    expect(filter.size).toBeGreaterThan(49_990);
  });

  it("says absent for nearly every other hash", () => {
    const filter = new SecretFilter();
    for (let i = 0; i < 50_000; i++) filter.add(sha256(`stored ${i}`));
    let maybes = 0;
    for (let i = 0; i < 50_000; i++) if (filter.mayContain(sha256(`made up ${i}`))) maybes++;
    // 50,000 prefixes of 32 bits: about 0.6 false "maybe" expected among 50,000.
    expect(maybes).toBeLessThan(10);
  });

  it("handles a hash whose first 32 bits are zero", () => {
    const filter = new SecretFilter();
    const zero = `00000000${"f".repeat(56)}`;
    expect(filter.mayContain(zero)).toBe(false);
    filter.add(zero);
    expect(filter.mayContain(zero)).toBe(true);
  });
});

describe("prefixSql", () => {
  it("gives SQLite's prefix of a stored hash the same value the filter computes", () => {
    const sqlite = new SqliteDatabase(":memory:");
    sqlite.exec("create table t (hash text)");
    const hashes = [`00000000${"a".repeat(56)}`, `ffffffff${"0".repeat(56)}`];
    for (let i = 0; i < 2000; i++) hashes.push(sha256(`stored ${i}`));
    const insert = sqlite.prepare("insert into t (hash) values (?)");
    for (const hash of hashes) insert.run(hash);
    const filter = new SecretFilter(hashes.length);
    const prefixes = sqlite
      .prepare(`select ${prefixSql("hash")} from t`)
      .pluck()
      .all() as number[];
    for (const prefix of prefixes) filter.addPrefix(prefix);
    sqlite.close();
    expect(prefixes).toContain(0xffffffff);
    expect(hashes.every((hash) => filter.mayContain(hash))).toBe(true);
    expect(filter.mayContain(sha256("never stored"))).toBe(false);
  });
});
