import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../test-support/process.js";

/**
 * A usage row names a token with no foreign key checking it: SQLite's usage flush turns
 * the checks off (asUsageFlush) and migration 0019 dropped the key on PostgreSQL. That
 * holds while no token is ever deleted, directly or by the cascade from its application
 * (`tokens.application_id ... on delete cascade`) or from its user. Only the stores reach
 * the database (src/architecture.test.ts), so their code is where a deletion would be.
 * A change that deletes tokens must delete their usage rows itself, and change this test.
 */
describe("no token is ever deleted", () => {
  it("has no statement in the stores that deletes tokens, applications or users, or drops a table", () => {
    const storage = join(REPO_ROOT, "src", "storage");
    const sources = readdirSync(storage, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
      // Migrations rebuild tables (copy, drop, rename) and keep every row.
      .filter((file) => !file.startsWith("migrations"))
      .map((file) => ({ file, text: readFileSync(join(storage, file), "utf8") }));
    expect(sources.length).toBeGreaterThan(10);
    const deleting =
      /deleteFrom\(\s*["'`](?:tokens|applications|users)\b|delete\s+from\s+["'`]?(?:tokens|applications|users)\b|drop\s+table/i;
    expect(sources.filter(({ text }) => deleting.test(text)).map(({ file }) => file)).toEqual([]);
  });
});
