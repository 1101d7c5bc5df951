import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// The layers of STYLE.md: each may import only from the layers listed for it.
// core ← services ← storage, http, platform ← compose/config ← cli.
const ALLOWED: Record<string, string[]> = {
  core: ["core"],
  services: ["core", "services"],
  storage: ["core", "services", "storage"],
  http: ["core", "services", "http"],
  platform: ["core", "services", "platform"],
  cli: ["cli", "root", "storage", "core"],
  root: ["core", "services", "storage", "http", "platform", "root"],
  "test-support": ["core", "services", "storage", "http", "platform", "root", "test-support"],
};

const SRC = join(import.meta.dirname);

function layerOf(file: string): string {
  const rel = relative(SRC, file);
  const first = rel.split("/")[0] ?? "";
  return rel.includes("/") ? first : "root";
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  });
}

describe("layering", () => {
  const files = sourceFiles(SRC);

  it("finds the layers", () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it.each(files.map((f) => [relative(SRC, f), f]))(
    "%s imports only from allowed layers",
    (_name, file) => {
      const text = readFileSync(file as string, "utf8");
      const from = layerOf(file as string);
      const allowed = ALLOWED[from];
      expect(allowed, `unknown layer ${from}`).toBeDefined();
      for (const match of text.matchAll(/^\s*(?:import|export)[^;]*?from\s+"(\.[^"]+)"/gms)) {
        const target = resolve(join(file as string, ".."), match[1] as string);
        const to = layerOf(target);
        expect(
          allowed,
          `${relative(SRC, file as string)} imports ${match[1]} (${from} → ${to})`,
        ).toContain(to);
      }
    },
  );

  it("keeps core free of I/O modules", () => {
    for (const file of files.filter((f) => layerOf(f) === "core")) {
      const text = readFileSync(file, "utf8");
      expect(text, file).not.toMatch(/from\s+"(node:)?(fs|net|http|https|child_process|zlib)"/);
      expect(text, file).not.toMatch(/from\s+"(kysely|fastify|better-sqlite3|pg)"/);
    }
  });

  it("keeps migrations free of application code", () => {
    const dir = join(SRC, "storage", "migrations");
    for (const name of readdirSync(dir).filter((n) => n !== "index.ts")) {
      const text = readFileSync(join(dir, name), "utf8");
      expect(text, name).not.toMatch(/from\s+"\.\.?\//);
    }
  });
});
