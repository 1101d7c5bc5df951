import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./test-support/process.js";
import { testCodeReason, unshippableReason } from "./test-support/shipped-files.js";

// ---------------------------------------------------------------------------------------
// Reading imports. TypeScript's own parser (already a dev dependency) reads every form:
// multi-line imports, `export ... from`, `import type`, dynamic `import()`, `import("x").T`
// types and `require()` / `createRequire(...)()` calls.

interface ModuleImport {
  specifier: string;
  /** Erased from the output: `import type {...}`, `export type {...}`, `import("x").T`. */
  typeOnly: boolean;
}

function importsOf(fileName: string, text: string): ModuleImport[] {
  const kind = fileName.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, kind);
  const found: ModuleImport[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      // `import { type A } from "x"` keeps `import "x"` under verbatimModuleSyntax: only a
      // clause-level `import type` is erased, so only that one counts as type-only.
      const typeOnly = node.importClause?.isTypeOnly ?? false;
      found.push({ specifier: node.moduleSpecifier.text, typeOnly });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true });
    } else if (ts.isCallExpression(node) && isModuleLoad(node)) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument))
        found.push({ specifier: argument.text, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** `import("x")`, `require("x")` and `createRequire(import.meta.url)("x")`. */
function isModuleLoad(call: ts.CallExpression): boolean {
  const callee = call.expression;
  if (callee.kind === ts.SyntaxKind.ImportKeyword) return true;
  if (ts.isIdentifier(callee)) return callee.text === "require";
  return (
    ts.isCallExpression(callee) &&
    ts.isIdentifier(callee.expression) &&
    callee.expression.text === "createRequire"
  );
}

/**
 * The file a relative specifier names. ESM source says `./x.js` for `./x.ts` (or `.tsx`);
 * other files (CSS, JSON) are named as they are.
 */
function resolveRelative(
  fromFile: string,
  specifier: string,
  exists: (path: string) => boolean,
): string | undefined {
  const base = resolve(dirname(fromFile), specifier);
  const stem = base.replace(/\.[cm]?jsx?$/, "");
  const candidates =
    stem !== base
      ? [`${stem}.ts`, `${stem}.tsx`, `${stem}.mts`, `${stem}.cts`, base]
      : [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts"), join(base, "index.tsx")];
  return candidates.find(exists);
}

// ---------------------------------------------------------------------------------------
// Cycles.

/** One cycle per back edge found by a depth-first walk, each as a path a → … → a. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    state.set(node, "open");
    path.push(node);
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      const seen = state.get(next);
      if (seen === "open") cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (seen === undefined) visit(next);
    }
    path.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

// ---------------------------------------------------------------------------------------
// Layers and the packages each may import.

/** A module's layer: web, a folder of src/ (core, services, http...), or root for src/*.ts. */
function layerOf(repoPath: string): string {
  if (repoPath.startsWith("web/src/")) return "web";
  const parts = repoPath.replace(/^src\//, "").split("/");
  return parts.length > 1 ? (parts[0] ?? "root") : "root";
}

// The layers of STYLE.md: each may import only from the layers listed for it.
// core ← services ← storage, http, platform ← compose/config ← cli. contract/ (the wire
// schemas) sits beside core: http builds its routes from it, and web takes its types.
const ALLOWED: Record<string, string[]> = {
  core: ["core"],
  contract: ["core", "contract"],
  services: ["core", "services"],
  storage: ["core", "services", "storage"],
  http: ["core", "contract", "services", "http"],
  platform: ["core", "services", "platform"],
  cli: ["cli", "root", "storage", "core"],
  root: ["core", "contract", "services", "storage", "http", "platform", "root"],
  "test-support": ["core", "services", "storage", "http", "platform", "root", "test-support"],
};

interface PackageRule {
  packages: (specifier: string) => boolean;
  /** The layers that may load these packages. */
  loadedBy: readonly string[];
  /** Layers that may name their types only (`import type`, erased from the output). */
  typesAlsoIn?: readonly string[];
  why: string;
}

const SERVER_LAYERS = Object.keys(ALLOWED);
const packageName = (specifier: string) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");
const oneOf =
  (...names: string[]) =>
  (specifier: string) =>
    names.includes(packageName(specifier));

const PACKAGE_RULES: PackageRule[] = [
  {
    packages: oneOf("kysely", "better-sqlite3", "pg", "pg-connection-string"),
    loadedBy: ["storage"],
    why: "the database drivers and the query builder stay behind the storage ports",
  },
  {
    packages: (s) => packageName(s) === "fastify" || s.startsWith("@fastify/"),
    loadedBy: ["http"],
    // compose.ts hands the built app out (Keyward.app: FastifyInstance); http builds it.
    typesAlsoIn: ["root"],
    why: "HTTP is one adapter: only src/http builds and serves with Fastify",
  },
  {
    packages: oneOf("typebox", "@sinclair/typebox"),
    loadedBy: ["contract", "http"],
    why: "request and response schemas live in the contract and the routes that use it",
  },
  {
    packages: oneOf("keyward-client"),
    loadedBy: ["core"],
    why:
      "the client library shares the token format and the bearer header rules with core; " +
      "the rest of the server takes them from core",
  },
  {
    packages: oneOf("@node-rs/argon2"),
    loadedBy: ["platform"],
    why: "password hashing is a platform adapter behind the PasswordHasher port",
  },
  {
    packages: oneOf("otpauth"),
    loadedBy: ["platform"],
    why: "two-factor codes (RFC 6238) are a platform adapter behind the Totp port",
  },
  {
    packages: oneOf("nodemailer"),
    loadedBy: ["platform"],
    why: "sending email is a platform adapter behind the MailSender port",
  },
  {
    packages: (s) => isBuiltin(s),
    loadedBy: SERVER_LAYERS,
    why: "the UI runs in a browser",
  },
];

/** Layers that may import no package but these: they reach the world through ports. */
const ONLY_PACKAGES: Record<string, { allowed: readonly string[]; why: string }> = {
  core: {
    // token.ts hashes with node:crypto; it does no I/O. The token format and the bearer
    // header rules are one implementation, in the client package's pure entry points.
    allowed: ["node:crypto", "keyward-client/token-format", "keyward-client/bearer"],
    why: "core is pure: no I/O and no packages",
  },
  services: {
    allowed: [],
    why: "use cases reach storage, time and randomness through the ports passed in",
  },
  contract: {
    allowed: ["typebox"],
    why: "the contract is data describing JSON: schemas, no I/O",
  },
};

interface ImportEdge extends ModuleImport {
  /** Repository-relative path of the importing module. */
  from: string;
  /** Repository-relative path of the module a relative import names, if it is a module. */
  to?: string;
}

/** Every import that breaks a layer's package rules or the UI's type-only rule. */
function ruleViolations(edges: readonly ImportEdge[]): string[] {
  const problems: string[] = [];
  for (const edge of edges) {
    const layer = layerOf(edge.from);
    const what = `${edge.from} imports ${edge.typeOnly ? "type from " : ""}"${edge.specifier}"`;
    if (edge.specifier.startsWith(".")) {
      if (layer === "web" && edge.to && layerOf(edge.to) !== "web") {
        if (!edge.typeOnly)
          problems.push(`${what}: the UI takes only erased types from the server (import type)`);
        else if (layerOf(edge.to) !== "contract")
          problems.push(`${what}: the UI takes its types from the contract (src/contract) only`);
      }
      continue;
    }
    for (const rule of PACKAGE_RULES) {
      if (!rule.packages(edge.specifier) || rule.loadedBy.includes(layer)) continue;
      if (edge.typeOnly && rule.typesAlsoIn?.includes(layer)) continue;
      problems.push(`${what} (layer ${layer}): ${rule.why}`);
    }
    const only = ONLY_PACKAGES[layer];
    if (only && !only.allowed.includes(edge.specifier))
      problems.push(`${what} (layer ${layer}): ${only.why}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// The repository's modules.

function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path, keep);
    return keep(path) ? [path] : [];
  });
}

const SRC = join(REPO_ROOT, "src");
const WEB_SRC = join(REPO_ROOT, "web", "src");
const repoPath = (absolute: string) => relative(REPO_ROOT, absolute).split("\\").join("/");

const isSource = (path: string) => /\.tsx?$/.test(path) && !path.endsWith(".d.ts");
const modules = [...filesUnder(SRC, isSource), ...filesUnder(WEB_SRC, isSource)].sort();
const moduleSet = new Set(modules);

const unresolved: string[] = [];
const edges: ImportEdge[] = modules.flatMap((file) =>
  importsOf(file, readFileSync(file, "utf8")).map((imported) => {
    const edge: ImportEdge = { ...imported, from: repoPath(file) };
    if (!imported.specifier.startsWith(".")) return edge;
    const target = resolveRelative(file, imported.specifier, existsSync);
    if (!target) unresolved.push(`${edge.from}: "${imported.specifier}"`);
    else if (moduleSet.has(target)) edge.to = repoPath(target);
    return edge;
  }),
);

/** Shipped modules: what tsconfig.build.json compiles, not tests and their helpers. */
const isShipped = (path: string) => path.startsWith("web/src/") || !testCodeReason(path);

function importGraph(of: readonly ImportEdge[]): Map<string, string[]> {
  const graph = new Map<string, string[]>(modules.map((m) => [repoPath(m), []]));
  for (const { from, to } of of) if (to) graph.get(from)?.push(to);
  return graph;
}

// ---------------------------------------------------------------------------------------

describe("the rule checkers", () => {
  it("findCycles reports each cycle as a path and nothing for an acyclic graph", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
      ["e", ["e"]],
      ["f", ["a"]],
    ]);
    expect(findCycles(graph)).toEqual([
      ["a", "b", "c", "a"],
      ["e", "e"],
    ]);
    expect(
      findCycles(
        new Map([
          ["a", ["b", "c"]],
          ["b", ["c"]],
          ["c", []],
        ]),
      ),
    ).toEqual([]);
  });

  it("importsOf reads every import form and which ones are erased", () => {
    const text = `
      import type { A } from "./a.js";
      import { type B } from "./b.js";
      import {
        C,
      } from "./c.js";
      export { D } from "./d.js";
      export type { E } from "./e.js";
      type F = import("./f.js").F;
      const g = await import("./g.js");
      const h = createRequire(import.meta.url)("h-package/x.js");
      import "./i.css";
    `;
    expect(importsOf("fake.ts", text)).toEqual([
      { specifier: "./a.js", typeOnly: true },
      { specifier: "./b.js", typeOnly: false },
      { specifier: "./c.js", typeOnly: false },
      { specifier: "./d.js", typeOnly: false },
      { specifier: "./e.js", typeOnly: true },
      { specifier: "./f.js", typeOnly: true },
      { specifier: "./g.js", typeOnly: false },
      { specifier: "h-package/x.js", typeOnly: false },
      { specifier: "./i.css", typeOnly: false },
    ]);
  });

  it("resolveRelative maps .js to .ts or .tsx and keeps other files as named", () => {
    const files = new Set(["/r/src/a.ts", "/r/web/b.tsx", "/r/web/b.css", "/r/src/d/index.ts"]);
    const exists = (p: string) => files.has(p);
    expect(resolveRelative("/r/src/x.ts", "./a.js", exists)).toBe("/r/src/a.ts");
    expect(resolveRelative("/r/web/x.tsx", "./b.js", exists)).toBe("/r/web/b.tsx");
    expect(resolveRelative("/r/web/x.tsx", "./b.css", exists)).toBe("/r/web/b.css");
    expect(resolveRelative("/r/src/x.ts", "./d", exists)).toBe("/r/src/d/index.ts");
    expect(resolveRelative("/r/src/x.ts", "./missing.js", exists)).toBeUndefined();
  });

  it("ruleViolations flags a forbidden package, an impure core and a value import into the UI", () => {
    const fake: ImportEdge[] = [
      { from: "src/http/routes/x.ts", specifier: "kysely", typeOnly: false },
      { from: "src/services/x.ts", specifier: "pg", typeOnly: true },
      { from: "src/compose.ts", specifier: "fastify", typeOnly: false },
      { from: "src/cli/x.ts", specifier: "fastify", typeOnly: true },
      { from: "src/storage/x.ts", specifier: "@fastify/static", typeOnly: false },
      { from: "src/core/x.ts", specifier: "node:fs", typeOnly: false },
      { from: "src/core/x.ts", specifier: "zod", typeOnly: false },
      { from: "src/services/x.ts", specifier: "node:crypto", typeOnly: false },
      { from: "web/src/x.tsx", specifier: "node:fs", typeOnly: false },
      {
        from: "web/src/x.ts",
        specifier: "../../src/contract/index.js",
        to: "src/contract/index.ts",
        typeOnly: false,
      },
      {
        from: "web/src/x.ts",
        specifier: "../../src/http/wire.js",
        to: "src/http/wire.ts",
        typeOnly: true,
      },
      { from: "src/contract/x.ts", specifier: "node:fs", typeOnly: false },
      { from: "src/http/x.ts", specifier: "keyward-client/bearer", typeOnly: false },
    ];
    expect(ruleViolations(fake)).toHaveLength(fake.length + 1); // pg also breaks services' list
    const allowed: ImportEdge[] = [
      { from: "src/storage/sqlite/x.ts", specifier: "better-sqlite3", typeOnly: false },
      { from: "src/http/app.ts", specifier: "@fastify/cookie", typeOnly: false },
      { from: "src/compose.ts", specifier: "fastify", typeOnly: true },
      { from: "src/contract/x.ts", specifier: "typebox", typeOnly: false },
      { from: "src/core/token.ts", specifier: "node:crypto", typeOnly: false },
      { from: "src/core/token.ts", specifier: "keyward-client/token-format", typeOnly: false },
      {
        from: "web/src/x.ts",
        specifier: "../../src/contract/index.js",
        to: "src/contract/index.ts",
        typeOnly: true,
      },
      { from: "web/src/x.tsx", specifier: "./y.js", to: "web/src/y.tsx", typeOnly: false },
    ];
    expect(ruleViolations(allowed)).toEqual([]);
  });

  it("unshippableReason names test code and benchmark code, and passes the rest", () => {
    for (const path of [
      "dist/http/tokens.test.js",
      "dist/http/tokens.test.js.map",
      "package/dist/test-support/harness.js",
      "dist/storage/store-contract.js",
      "dist/cli/seed-bench.js",
      "package/bench/run.mjs",
      "dist/tools/token-bench.js",
    ])
      expect(unshippableReason(path), path).toBeDefined();
    for (const path of ["dist/http/app.js", "dist/web/assets/index-x.css", "docs/performance.md"])
      expect(unshippableReason(path), path).toBeUndefined();
  });
});

describe("layering", () => {
  it("finds the modules and resolves every relative import", () => {
    expect(modules.filter((m) => m.startsWith(SRC)).length).toBeGreaterThan(20);
    expect(modules.filter((m) => m.startsWith(WEB_SRC)).length).toBeGreaterThan(10);
    expect(unresolved).toEqual([]);
  });

  it("has no import cycle in src/ or web/src/, type-only imports included", () => {
    const cycles = findCycles(importGraph(edges)).map((cycle) => cycle.join(" → "));
    expect(cycles, `import cycles:\n${cycles.join("\n")}`).toEqual([]);
  });

  it.each(
    modules.filter((m) => m.startsWith(SRC) && !repoPath(m).endsWith(".test.ts")).map(repoPath),
  )("%s imports only from allowed layers", (file) => {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    expect(allowed, `unknown layer ${from}`).toBeDefined();
    for (const edge of edges.filter((e) => e.from === file && e.to)) {
      const to = layerOf(edge.to as string);
      expect(allowed, `${file} imports ${edge.specifier} (${from} → ${to})`).toContain(to);
    }
  });

  it("keeps packages in their layers, core and services free of I/O, and the UI on types", () => {
    const shipped = edges.filter((e) => isShipped(e.from));
    const problems = ruleViolations(shipped);
    expect(problems, problems.join("\n")).toEqual([]);
  });

  it("keeps migrations free of application code", () => {
    const dir = join(SRC, "storage", "migrations");
    for (const name of readdirSync(dir).filter((n) => n !== "index.ts")) {
      const text = readFileSync(join(dir, name), "utf8");
      expect(text, name).not.toMatch(/from\s+"\.\.?\//);
    }
  });
});

// ---------------------------------------------------------------------------------------
// What the build ships. `npm test` builds first (pretest), so dist/ is there; a bare
// `vitest run` on a fresh checkout skips these with a notice rather than building.

const DIST = join(REPO_ROOT, "dist");
const built = existsSync(join(DIST, "cli", "main.js"));
// CI runs npm test, which builds first: there a missing dist/ is a failure, not a skip.
if (!built && process.env.CI) throw new Error("dist/ is absent under CI: npm test builds it first");
if (!built)
  console.warn(
    "dist/ is absent: the checks of what the build ships are SKIPPED. " +
      'Run "npm run build" first (npm test does).',
  );

const RUNTIME_DEPENDENCIES = Object.keys(
  (
    JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    }
  ).dependencies ?? {},
);

describe.skipIf(!built)("what the build ships", () => {
  const distFiles = built ? filesUnder(DIST, () => true).map(repoPath) : [];
  const stale = "(left from an older build? rm -rf dist && npm run build)";

  it("dist/ holds no test code, test helpers or benchmark tools", () => {
    const problems = distFiles.flatMap((path) => {
      const reason = unshippableReason(path);
      return reason ? [`${path}: ${reason}`] : [];
    });
    expect(problems, `${problems.join("\n")}\n${stale}`).toEqual([]);
  });

  it("dist/ server code imports only runtime dependencies and Node built-ins", () => {
    const serverJs = distFiles.filter((p) => p.endsWith(".js") && !p.startsWith("dist/web/"));
    expect(serverJs.length).toBeGreaterThan(20);
    const problems = serverJs.flatMap((path) =>
      importsOf(path, readFileSync(join(REPO_ROOT, path), "utf8"))
        .filter(({ specifier }) => !specifier.startsWith(".") && !isBuiltin(specifier))
        .filter(({ specifier }) => !RUNTIME_DEPENDENCIES.includes(packageName(specifier)))
        .map(({ specifier }) => `${path} imports "${specifier}", not a runtime dependency`),
    );
    expect(problems, `${problems.join("\n")}\n${stale}`).toEqual([]);
  });

  it("the packed tarball lists no test code, test helpers or benchmark tools", () => {
    // --ignore-scripts: list what is built now instead of rebuilding under other tests.
    const output = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    const [pack] = JSON.parse(output) as { files: { path: string }[] }[];
    const paths = (pack?.files ?? []).map((f) => f.path);
    expect(paths).toContain("dist/cli/main.js");
    const problems = paths.flatMap((path) => {
      const reason = unshippableReason(path);
      return reason ? [`${path}: ${reason}`] : [];
    });
    expect(problems, problems.join("\n")).toEqual([]);
  });
});
