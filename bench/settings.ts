import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH_DIR, "..");
/** The server under test runs from the build, as a user runs it. */
export const CLI = join(ROOT, "dist", "cli", "main.js");
export const HOST = "127.0.0.1";
export const RESULTS_DIR = join(BENCH_DIR, "results");

export const HELP = `Usage: npm run bench -- [options]   (npx tsx bench/run.ts [options])

  --quick               smoke run: small store, 1 s slices, one pair per case (BENCH_QUICK=1)
  --tokens <n>          tokens in the large store (default 1000000; quick: 2000)
  --pg-tokens <n>       tokens in the PostgreSQL store (default: as --tokens)
  --slice <seconds>     length of one slice (default 3; quick: 1)
  --pairs <n>           slice pairs (case 1 + case N) per case (default 3; quick: 1)
  --connections <n>     wrk connections (default 16)
  --cases <list>        only these cases, e.g. 2,4 (case 1 always runs; 0 is bare node:http,
                        12 Better Auth's API-key plugin, the peer; 14 the service verify)
  --backends <list>     sqlite,postgres (default both; PostgreSQL only when available)
  --no-postgres         skip PostgreSQL even when TEST_DATABASE_URL is set
  --no-extra            skip the extra stages (cache off, logging cost)
  --profile             run the servers under node --cpu-prof (profiles in bench/results/)
  --out <file>          JSON results (default bench/results/bench-<time>.json)
  --log-level <level>   LOG_LEVEL of every server (default: the server's own, info)
  --work-dir <dir>      keep the seeded stores there and reuse them in later runs
                        (for working on performance; default: a fresh folder, deleted)

PostgreSQL cases run when TEST_DATABASE_URL points at a server the bench may create
databases on (they are dropped afterwards) and the PostgreSQL store starts.`;

/** The sizes and durations of one run; written as-is into the JSON results. */
export interface BenchSettings {
  quick: boolean;
  tokens: number;
  pgTokens: number;
  smallTokens: number;
  sessionUsers: number;
  fakeTokens: number;
  sliceSeconds: number;
  pairs: number;
  warmupSeconds: number;
  connections: number;
  revocations: number;
  flushIntervalMs: number;
  extra: boolean;
  profile: boolean;
  budgetMs: number;
}

export type Backend = "sqlite" | "postgres";

export interface BenchOptions {
  settings: BenchSettings;
  /** Cases asked for with --cases; undefined: all of them. */
  onlyCases: ReadonlySet<number> | undefined;
  backends: ReadonlySet<string>;
  /** LOG_LEVEL of every server, when --log-level is given. */
  logLevel: string | undefined;
  /** Where the stores and token files go; deleted at the end unless keepWork. */
  workDir: string;
  keepWork: boolean;
  outFile: string;
  /** The start time, as used in file names. */
  stamp: string;
  startedAt: number;
}

/** A command-line mistake: the message is for the user, with exit code 64. */
export class BenchUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BenchUsageError";
  }
}

function parseFlags(args: string[]) {
  return parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      tokens: { type: "string" },
      "pg-tokens": { type: "string" },
      slice: { type: "string" },
      pairs: { type: "string" },
      connections: { type: "string" },
      cases: { type: "string" },
      backends: { type: "string", default: "sqlite,postgres" },
      "no-postgres": { type: "boolean", default: false },
      "no-extra": { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      out: { type: "string" },
      "work-dir": { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
}

function positiveNumber(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new BenchUsageError(`${name} must be a positive number (got "${text}")`);
  return value;
}

/**
 * Reads the command line and BENCH_QUICK; "help" when --help is given.
 * Throws BenchUsageError on a bad option.
 */
export function parseBenchOptions(
  args: string[],
  env: NodeJS.ProcessEnv,
  startedAt: number,
): BenchOptions | "help" {
  let flags: ReturnType<typeof parseFlags>["values"];
  try {
    flags = parseFlags(args).values;
  } catch (error) {
    throw new BenchUsageError(error instanceof Error ? error.message : String(error));
  }
  if (flags.help) return "help";

  const quick = flags.quick || env.BENCH_QUICK === "1";
  const tokens = positiveNumber(flags.tokens, quick ? 2000 : 1_000_000, "--tokens");
  const settings: BenchSettings = {
    quick,
    tokens,
    pgTokens: positiveNumber(flags["pg-tokens"], tokens, "--pg-tokens"),
    smallTokens: 1000,
    sessionUsers: quick ? 50 : 2000,
    fakeTokens: quick ? 1000 : 100_000,
    sliceSeconds: positiveNumber(flags.slice, quick ? 1 : 3, "--slice"),
    pairs: positiveNumber(flags.pairs, quick ? 1 : 3, "--pairs"),
    warmupSeconds: quick ? 0 : 2,
    connections: positiveNumber(flags.connections, 16, "--connections"),
    revocations: quick ? 5 : 40,
    flushIntervalMs: quick ? 250 : 1000,
    extra: !flags["no-extra"],
    profile: flags.profile,
    // The full run must finish within 10 minutes: stages that would start later are skipped.
    budgetMs: quick ? 120_000 : 9.5 * 60_000,
  };
  const backends = new Set(flags.backends.split(",").map((b) => b.trim()));
  if (flags["no-postgres"]) backends.delete("postgres");

  const stamp = new Date(startedAt).toISOString().replace(/[:.]/g, "-");
  const workDirFlag = flags["work-dir"];
  return {
    settings,
    onlyCases: flags.cases
      ? new Set(flags.cases.split(",").map((c) => Number(c.trim())))
      : undefined,
    backends,
    logLevel: flags["log-level"],
    workDir:
      workDirFlag !== undefined ? resolve(workDirFlag) : join(RESULTS_DIR, `work-${process.pid}`),
    keepWork: workDirFlag !== undefined,
    outFile: flags.out ?? join(RESULTS_DIR, `bench-${stamp}.json`),
    stamp,
    startedAt,
  };
}
