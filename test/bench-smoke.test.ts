import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runNode } from "../src/test-support/process.js";

// The benchmark must not rot: its quick mode (small store, 1 s slices) runs here and is
// checked for completing and reporting every case. How fast anything is, is not checked:
// that is what `npm run bench` and docs/performance.md are for.

const hasWrk = !spawnSync("wrk", ["-v"], { stdio: "ignore" }).error;
const dir = mkdtempSync(join(tmpdir(), "keyward-bench-smoke-"));

interface BenchRow {
  backend: string;
  case: number;
  rps: number;
  p99Ms: number;
  writes: number;
  problem: string;
}
interface BenchResult {
  rows: BenchRow[];
  skipped: string[];
  revocation?: { revocations: number; p50Ms: number };
  revocationUnderLoad?: { revocations: number; servedRps: number };
  seedSeconds: { sqliteLarge?: number; postgres?: number };
  targets: { target: string; met: boolean }[];
  bare?: { bareRps: number; bareWithLineOverBare: number };
  peer?: { peerRps: number; peerRefused: number };
}

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  // As `npm run bench` runs it: under tsx, which `--import tsx` registers in this node, with
  // the client package loaded from its source (the keyward-source condition).
  return runNode(
    ["--conditions=keyward-source", "--import", "tsx", "bench/run.ts", "--quick", ...args],
    {
      ...process.env,
      BENCH_QUICK: "1",
    },
  );
}

beforeAll(() => {
  requireBuild();
  if (!hasWrk)
    console.log("bench smoke: wrk is absent, so cases 1-6 are skipped (apt-get install wrk)");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("npm run bench, quick mode", () => {
  it("runs every SQLite case and prints the table with ratios", async () => {
    const out = join(dir, "sqlite.json");
    const { code, output } = await runBench(["--backends=sqlite", `--out=${out}`]);
    expect(code, output).toBe(0);
    const result = JSON.parse(readFileSync(out, "utf8")) as BenchResult;
    // The store was filled by the bench's seeder (bench/seed.ts), with or without wrk.
    expect(result.seedSeconds.sqliteLarge, output).toBeGreaterThan(0);
    expect(output).toMatch(/seed: 2000 tokens, \d+ users/);
    if (!hasWrk) {
      expect(output).toContain("skipped: cases 1-6: wrk not found");
      return;
    }
    expect(output).toMatch(/\| store +\| case \| req\/s +\| × case 1 \|/);
    expect(output).toMatch(/targets \(issue 6; performance, round two\)/);
    // The reference cases: bare node:http (case 0) and the peer (case 12), each paired.
    expect(result.bare?.bareRps, output).toBeGreaterThan(0);
    // ... and node:http with an access line, the floor of the targets against case 0.
    expect(result.bare?.bareWithLineOverBare, output).toBeGreaterThan(0);
    expect(output).toMatch(/case 0 with an access line a request .*× case 0 \(paired\)/);
    expect(result.peer?.peerRps, output).toBeGreaterThan(0);
    expect(result.peer?.peerRefused, output).toBe(0);
    expect(output).toMatch(/case 2 ≥ 25 × case 12/);
    const cases = result.rows.filter((r) => r.backend === "sqlite").map((r) => r.case);
    // Case 14, the service verify, runs with a service key the bench gives the hot token's
    // application; its answers are checked like every case's.
    expect(cases).toEqual([1, 2, 3, 4, 5, 14, 6]);
    expect(output).toMatch(
      /case 14 \(POST \/api\/v1\/service\/verify\) ≥ 0\.8 × case 1 \(SQLite\)/,
    );
    for (const row of result.rows) {
      expect(row.rps, `case ${row.case}`).toBeGreaterThan(0);
      expect(row.problem, `case ${row.case} answers`).toBe("");
    }
    // The bare floor of the stack never writes to storage.
    expect(result.rows.find((r) => r.case === 1)?.writes).toBe(0);
  }, 120_000);

  it("runs PostgreSQL cases 2, 7 and 13 when TEST_DATABASE_URL is set, or says why not", async () => {
    const out = join(dir, "postgres.json");
    const { code, output } = await runBench([
      "--backends=postgres",
      "--cases=2,7,13",
      `--out=${out}`,
    ]);
    expect(code, output).toBe(0);
    const result = JSON.parse(readFileSync(out, "utf8")) as BenchResult;
    const skippedPostgres = result.skipped.filter((s) => s.startsWith("PostgreSQL"));
    if (!process.env.TEST_DATABASE_URL || !hasWrk) {
      expect(skippedPostgres.length, output).toBeGreaterThan(0);
      console.log(`bench smoke: ${skippedPostgres.join("; ")}`);
      return;
    }
    // With a server to use, the PostgreSQL store must seed, start and answer.
    expect(skippedPostgres, output).toEqual([]);
    expect(result.seedSeconds.postgres, output).toBeGreaterThan(0);
    expect(result.rows.filter((r) => r.backend === "postgres").map((r) => r.case)).toEqual([1, 2]);
    expect(result.revocation?.revocations).toBeGreaterThan(0);
    expect(output).toMatch(/case 7 \(PostgreSQL\): \d+ revocations/);
    expect(result.revocationUnderLoad?.revocations).toBeGreaterThan(0);
    expect(result.revocationUnderLoad?.servedRps).toBeGreaterThan(0);
    expect(output).toMatch(/case 13 \(PostgreSQL\): \d+ revocations while three processes served/);
  }, 180_000);
});
