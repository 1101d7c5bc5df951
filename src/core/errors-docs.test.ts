import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { errorRegistry } from "./errors.js";

const docs = readFileSync(join(import.meta.dirname, "..", "..", "docs", "errors.md"), "utf8");

describe("docs/errors.md", () => {
  const rows = new Map<string, number>();
  for (const match of docs.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm))
    rows.set(match[1] as string, Number(match[2]));

  it("documents every error code with its status", () => {
    for (const [code, entry] of Object.entries(errorRegistry)) {
      expect(rows.get(code), `docs/errors.md is missing ${code}`).toBe(entry.status);
    }
  });

  it("documents no code that does not exist", () => {
    for (const code of rows.keys()) expect(errorRegistry).toHaveProperty(code);
  });

  it("uses only snake_case codes", () => {
    for (const code of Object.keys(errorRegistry)) expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });
});
