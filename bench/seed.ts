import { createCipheriv, createHash } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { hash as argon2Hash } from "@node-rs/argon2";
import SqliteDatabase from "better-sqlite3";
import pg from "pg";
import { openStore } from "../src/compose.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { generateId, generateSessionSecret } from "../src/core/ids.js";
import type { RandomSource } from "../src/core/random.js";
import { generateToken, hashToken, tokenHint } from "../src/core/token.js";

/**
 * The benchmark's seeder: a benchmarking tool, not part of the product, so it lives here
 * and `keyward` never loads it (nor the drivers it imports at the top). It fills
 * an EMPTY database with synthetic users, applications and tokens straight through the
 * driver (prepared statements or `unnest` arrays, one transaction per chunk), far faster
 * than the API could, and writes the plaintext tokens to a file for the load generator.
 * Everything derives from `--seed`, so the same seed gives the same tokens.
 *
 * `bench/run.ts` imports `seedBench`; run alone it is a command:
 *   DATABASE_URL=sqlite:./bench.db npm run bench:seed -- --tokens=1000 --tokens-out=t.txt
 */
export const SEED_BENCH_HELP = `Usage: npm run bench:seed -- [options]   (npx tsx bench/seed.ts [options])

Benchmarking tool: fills an empty database (DATABASE_URL) with synthetic data.

Options:
  --tokens <n>            tokens to create (default 1000)
  --tokens-per-user <n>   tokens per owner, at most the per-user cap (default 100)
  --session-users <n>     extra users, each owning an empty application and holding a
                          signed-in session, for token-creation load (default 0)
  --seed <text>           seed of every id and secret (default "keyward-bench")
  --tokens-out <file>     plaintext tokens, one per line (default: not written)
  --sessions-out <file>   "<session cookie value> <application id>" per session user
  --chunk <n>             rows per transaction (default 50000)`;

/** Members per synthetic application: the first is its owner, the others members. */
const MEMBERS_PER_APPLICATION = 100;
/** The password of every synthetic user (they sign in through seeded sessions instead). */
const BENCH_PASSWORD = "keyward-bench-password";
const SESSION_TTL_MS = 7 * 86_400_000;
export const DEFAULT_TOKENS_PER_USER = 100;
/** Rows per transaction. */
export const DEFAULT_CHUNK = 50_000;

export interface SeedBenchOptions {
  tokens: number;
  tokensPerUser: number;
  sessionUsers: number;
  seed: string;
  tokensOut: string | undefined;
  sessionsOut: string | undefined;
  chunk: number;
}

export interface SeedBenchSummary {
  tokens: number;
  users: number;
  applications: number;
  sessionUsers: number;
  seconds: number;
}

export function parseSeedBenchArgs(args: string[]): SeedBenchOptions {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(args);
  } catch (error) {
    throw new SeedBenchUsageError(error instanceof Error ? error.message : String(error));
  }
  const values = parsed.values;
  const count = (name: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new SeedBenchUsageError(`--${name} must be an integer from ${min} to ${max}`);
    }
    return value;
  };
  return {
    tokens: count("tokens", values.tokens, 0, 100_000_000),
    tokensPerUser: count("tokens-per-user", values["tokens-per-user"], 1, 100_000),
    sessionUsers: count("session-users", values["session-users"], 0, 10_000_000),
    seed: values.seed,
    tokensOut: values["tokens-out"],
    sessionsOut: values["sessions-out"],
    chunk: count("chunk", values.chunk, 100, 1_000_000),
  };
}

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    options: {
      tokens: { type: "string", default: "1000" },
      "tokens-per-user": { type: "string", default: String(DEFAULT_TOKENS_PER_USER) },
      "session-users": { type: "string", default: "0" },
      seed: { type: "string", default: "keyward-bench" },
      "tokens-out": { type: "string" },
      "sessions-out": { type: "string" },
      chunk: { type: "string", default: String(DEFAULT_CHUNK) },
    },
    strict: true,
    allowPositionals: false,
  });
}

export class SeedBenchUsageError extends Error {
  constructor(message: string) {
    super(`${message}\n\n${SEED_BENCH_HELP}`);
    this.name = "SeedBenchUsageError";
  }
}

/** A deterministic byte stream: AES-256-CTR keyed by the seed. Benchmark data only. */
export function seededRandom(seed: string): RandomSource {
  // The key's label keeps the tool's old name: the same seed keeps giving the same tokens.
  const key = createHash("sha256").update(`keyward-seed-bench\0${seed}`).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1 << 16);
  let buffer = cipher.update(zeros);
  let offset = 0;
  return {
    bytes(length) {
      while (offset + length > buffer.length) {
        buffer = Buffer.concat([buffer.subarray(offset), cipher.update(zeros)]);
        offset = 0;
      }
      const out = buffer.subarray(offset, offset + length);
      offset += length;
      return out;
    },
  };
}

type Value = string | number | null;

/** Rows of one table, column by column: `value(i)` is the column's value in row `i`. */
interface TableRows {
  table: string;
  count: number;
  columns: { name: string; type: "text" | "bigint"; value: (i: number) => Value }[];
}

/** What differs between SQLite and PostgreSQL: how rows get in. */
interface Sink {
  countUsers(): Promise<number>;
  /** Inserts the rows in the given order, in transactions of at most `chunk` rows. */
  insert(rows: TableRows, chunk: number): Promise<void>;
  /** Rebuilds what was set aside for the load and closes the connection. */
  finish(): Promise<void>;
  /** Closes the connection without finishing (after a failure). */
  abort(): Promise<void>;
}

/** Everything but the tokens' plaintexts, which go straight to the file. */
interface BenchData {
  userIds: string[];
  /** Users that own tokens; the session users come after them. */
  tokenOwners: number;
  applicationIds: string[];
  applicationOwners: string[];
  /** Per user: index of its application, and its role there. */
  userApplication: Uint32Array;
  userIsOwner: Uint8Array;
  tokenIds: string[];
  tokenHashes: string[];
  tokenHints: string[];
  /** Per token: index of its owner, and its number among the owner's tokens. */
  tokenOwner: Uint32Array;
  tokenNumber: Uint32Array;
  sessionHashes: string[];
}

/**
 * Generates every row from the seed. Plaintext tokens and session secrets are handed to
 * the callbacks and not kept; ids and hashes are, so that the rows can go in sorted by
 * primary key: random keys inserted in random order cost far more B-tree work than the
 * same keys appended in order.
 */
function generateData(
  options: SeedBenchOptions,
  prefix: string,
  onToken: (token: string) => void,
  onSession: (secret: string, applicationId: string) => void,
): BenchData {
  const random = seededRandom(options.seed);
  const tokenOwners = Math.ceil(options.tokens / options.tokensPerUser);
  const users = tokenOwners + options.sessionUsers;
  const data: BenchData = {
    userIds: [],
    tokenOwners,
    applicationIds: [],
    applicationOwners: [],
    userApplication: new Uint32Array(users),
    userIsOwner: new Uint8Array(users),
    tokenIds: [],
    tokenHashes: [],
    tokenHints: [],
    tokenOwner: new Uint32Array(options.tokens),
    tokenNumber: new Uint32Array(options.tokens),
    sessionHashes: [],
  };
  const newApplication = (owner: number): number => {
    data.applicationIds.push(generateId(random, "app"));
    data.applicationOwners.push(data.userIds[owner] as string);
    data.userIsOwner[owner] = 1;
    return data.applicationIds.length - 1;
  };

  let token = 0;
  let application = 0;
  for (let user = 0; user < tokenOwners; user++) {
    data.userIds.push(generateId(random, "usr"));
    if (user % MEMBERS_PER_APPLICATION === 0) application = newApplication(user);
    data.userApplication[user] = application;
    const count = Math.min(options.tokens - token, options.tokensPerUser);
    for (let n = 0; n < count; n++, token++) {
      const plaintext = generateToken(random, prefix);
      onToken(plaintext);
      data.tokenIds.push(generateId(random, "tok"));
      data.tokenHashes.push(hashToken(plaintext));
      data.tokenHints.push(tokenHint(plaintext, prefix));
      data.tokenOwner[token] = user;
      data.tokenNumber[token] = n;
    }
  }
  // Session users: each owns an application of its own and holds no token yet.
  for (let user = tokenOwners; user < users; user++) {
    data.userIds.push(generateId(random, "usr"));
    data.userApplication[user] = newApplication(user);
    const secret = generateSessionSecret(random);
    data.sessionHashes.push(hashToken(secret));
    onSession(secret, data.applicationIds[data.userApplication[user] as number] as string);
  }
  return data;
}

/** Row indexes ordered by a string key, so inserts append to the primary-key B-tree. */
function orderBy(keys: readonly string[]): Uint32Array {
  const order = new Uint32Array(keys.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => ((keys[a] as string) < (keys[b] as string) ? -1 : 1));
}

function tablesOf(data: BenchData, passwordHash: string, now: number): TableRows[] {
  const at = (order: Uint32Array, i: number) => order[i] as number;
  const byUserId = orderBy(data.userIds);
  const byApplicationId = orderBy(data.applicationIds);
  const byTokenId = orderBy(data.tokenIds);
  const byTokenHash = orderBy(data.tokenHashes);
  const userId = (user: number) => data.userIds[user] as string;
  const applicationOfUser = (user: number) =>
    data.applicationIds[data.userApplication[user] as number] as string;
  const sessionUser = (i: number) => data.tokenOwners + i;
  const text = (name: string, value: (i: number) => Value) =>
    ({ name, type: "text", value }) as const;
  const bigint = (name: string, value: (i: number) => Value) =>
    ({ name, type: "bigint", value }) as const;
  return [
    {
      table: "users",
      count: data.userIds.length,
      columns: [
        text("id", (i) => userId(at(byUserId, i))),
        text("email", (i) => `bench-${at(byUserId, i)}@bench.keyward.invalid`),
        text("name", (i) => `Bench user ${at(byUserId, i)}`),
        text("password_hash", () => passwordHash),
        bigint("created_at", () => now),
      ],
    },
    {
      table: "applications",
      count: data.applicationIds.length,
      columns: [
        text("id", (i) => data.applicationIds[at(byApplicationId, i)] as string),
        text("name", (i) => `Bench application ${at(byApplicationId, i)}`),
        text("owner_id", (i) => data.applicationOwners[at(byApplicationId, i)] as string),
        text("scopes", () => "[]"),
        bigint("created_at", () => now),
      ],
    },
    {
      table: "memberships",
      count: data.userIds.length,
      columns: [
        text("application_id", (i) => applicationOfUser(i)),
        text("user_id", (i) => userId(i)),
        text("role", (i) => (data.userIsOwner[i] === 1 ? "owner" : "member")),
        bigint("created_at", () => now),
      ],
    },
    {
      table: "tokens",
      count: data.tokenIds.length,
      columns: [
        text("id", (i) => data.tokenIds[at(byTokenId, i)] as string),
        text("application_id", (i) =>
          applicationOfUser(data.tokenOwner[at(byTokenId, i)] as number),
        ),
        text("user_id", (i) => userId(data.tokenOwner[at(byTokenId, i)] as number)),
        text("name", (i) => `bench token ${data.tokenNumber[at(byTokenId, i)]}`),
        text("hint", (i) => data.tokenHints[at(byTokenId, i)] as string),
        text("scopes", () => "[]"),
        bigint("created_at", () => now),
      ],
    },
    {
      table: "token_secrets",
      count: data.tokenHashes.length,
      columns: [
        text("hash", (i) => data.tokenHashes[at(byTokenHash, i)] as string),
        text("token_id", (i) => data.tokenIds[at(byTokenHash, i)] as string),
        bigint("created_at", () => now),
        bigint("expires_at", () => null),
      ],
    },
    {
      table: "sessions",
      count: data.sessionHashes.length,
      columns: [
        text("id_hash", (i) => data.sessionHashes[i] as string),
        text("user_id", (i) => userId(sessionUser(i))),
        bigint("created_at", () => now),
        bigint("expires_at", () => now + SESSION_TTL_MS),
        // Migration 0012: the id the session list shows, and when it was last used and
        // signed in to (now: fresh, so neither the idle limit nor recent sign-in refuses it).
        text("public_id", (i) => `ses_${String(i).padStart(20, "0")}`),
        bigint("last_seen_at", () => now),
        bigint("reauthenticated_at", () => now),
      ],
    },
  ];
}

/**
 * The command: parses the arguments, seeds, and returns an exit code (64 for a usage
 * error). Configuration and storage errors propagate to the caller.
 */
export async function runSeedBench(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(SEED_BENCH_HELP);
    return 0;
  }
  try {
    await seedBench(env, parseSeedBenchArgs(args));
    return 0;
  } catch (error) {
    if (!(error instanceof SeedBenchUsageError)) throw error;
    console.error(error.message);
    return 64;
  }
}

/** Fills the database named by DATABASE_URL; refuses one that already has users. */
export async function seedBench(
  env: Record<string, string | undefined>,
  options: SeedBenchOptions,
  log: (line: string) => void = console.log,
): Promise<SeedBenchSummary> {
  const started = performance.now();
  const config = loadConfig(env);
  // Opening the store runs the migrations; the rows then go in through the raw driver.
  const store = await openStore(config);
  await store.close();

  const sink =
    config.database.kind === "sqlite"
      ? sqliteSink(config.database.path)
      : await postgresSink(config.database.url);
  let finished = false;
  try {
    const existing = await sink.countUsers();
    if (existing > 0) {
      throw new SeedBenchUsageError(
        `the bench seeder fills an empty database only; this one has ${existing} users. ` +
          "Point DATABASE_URL at a new file or database.",
      );
    }
    const passwordHash = await argon2Hash(BENCH_PASSWORD, {
      memoryCost: 19_456,
      timeCost: 2,
      parallelism: 1,
    });
    // Where the time goes, reported with the summary: seconds per phase.
    const phases: string[] = [];
    let phaseStart = started;
    const phase = (name: string) => {
      const now = performance.now();
      phases.push(`${name} ${((now - phaseStart) / 1000).toFixed(1)}`);
      phaseStart = now;
    };
    phase("open");
    const tokensFile = lineWriter(options.tokensOut);
    const sessionsFile = lineWriter(options.sessionsOut);
    let data: BenchData;
    try {
      data = generateData(
        options,
        config.tokenPrefix,
        (token) => tokensFile.write(token),
        (secret, applicationId) => sessionsFile.write(`${secret} ${applicationId}`),
      );
    } finally {
      tokensFile.close();
      sessionsFile.close();
    }
    phase("generate");
    for (const rows of tablesOf(data, passwordHash, Date.now())) {
      await sink.insert(rows, options.chunk);
      if (rows.count > 0) phase(rows.table);
    }
    await sink.finish();
    phase("indexes");
    finished = true;
    const summary: SeedBenchSummary = {
      tokens: data.tokenIds.length,
      users: data.userIds.length,
      applications: data.applicationIds.length,
      sessionUsers: data.sessionHashes.length,
      seconds: (performance.now() - started) / 1000,
    };
    log(
      `seed: ${summary.tokens} tokens, ${summary.users} users, ` +
        `${summary.applications} applications, ${summary.sessionUsers} session users ` +
        `in ${summary.seconds.toFixed(1)} s (${phases.join(", ")})`,
    );
    return summary;
  } finally {
    if (!finished) await sink.abort();
  }
}

/** Appends lines to a file in large writes; a no-op without a path. */
function lineWriter(path: string | undefined): { write(line: string): void; close(): void } {
  if (path === undefined) return { write() {}, close() {} };
  const fd = openSync(path, "w");
  let lines: string[] = [];
  const flush = () => {
    if (lines.length > 0) writeSync(fd, `${lines.join("\n")}\n`);
    lines = [];
  };
  return {
    write(line) {
      lines.push(line);
      if (lines.length >= 50_000) flush();
    },
    close() {
      flush();
      closeSync(fd);
    },
  };
}

function sqliteSink(path: string): Sink {
  const db = new SqliteDatabase(path);
  // For the seed only: the file is synthetic, so a crash mid-seed may lose it. No
  // journal, no fsync, a large page cache; the server reopens the file with its own
  // settings (WAL, synchronous = FULL).
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.pragma("foreign_keys = OFF");
  db.pragma("cache_size = -262144");
  // Secondary indexes of the big tables are dropped and rebuilt once at the end: one
  // sort is far cheaper than a million scattered B-tree inserts. Their definitions come
  // from the database itself, so they stay exactly what the migrations made.
  const secondaryIndexes = db
    .prepare<[], { name: string; sql: string }>(
      "select name, sql from sqlite_master where type = 'index' and sql is not null " +
        "and tbl_name in ('tokens', 'token_secrets')",
    )
    .all();
  for (const index of secondaryIndexes) db.exec(`drop index "${index.name}"`);
  const close = () => {
    if (db.open) db.close();
  };
  return {
    countUsers: async () =>
      (db.prepare("select count(*) as n from users").get() as { n: number }).n,
    insert: async (rows, chunk) => {
      const names = rows.columns.map((c) => c.name).join(", ");
      const marks = rows.columns.map(() => "?").join(", ");
      const statement = db.prepare(`insert into ${rows.table} (${names}) values (${marks})`);
      const values: Value[] = new Array(rows.columns.length);
      const insertRange = db.transaction((from: number, to: number) => {
        for (let i = from; i < to; i++) {
          for (let c = 0; c < rows.columns.length; c++)
            values[c] = (rows.columns[c] as TableRows["columns"][number]).value(i);
          statement.run(values);
        }
      });
      for (let from = 0; from < rows.count; from += chunk)
        insertRange(from, Math.min(rows.count, from + chunk));
    },
    finish: async () => {
      try {
        for (const index of secondaryIndexes) db.exec(index.sql);
        db.pragma("journal_mode = WAL");
      } finally {
        close();
      }
    },
    abort: async () => close(),
  };
}

async function postgresSink(url: string): Promise<Sink> {
  const client = new pg.Client({ connectionString: url, application_name: "keyward-seed-bench" });
  await client.connect();
  const close = async () => {
    await client.end().catch(() => {});
  };
  // For the seed only, in this session: commits do not wait for the WAL flush, and
  // index builds get memory to sort in.
  await client.query("set synchronous_commit = off");
  await client.query("set maintenance_work_mem = '256MB'");
  // Skips the per-row foreign-key triggers (the rows are consistent by construction).
  // Only a superuser may; anyone else simply seeds with the checks on.
  await client.query("set session_replication_role = replica").catch(() => {});
  // As on SQLite: secondary indexes of the big tables are rebuilt once at the end.
  const secondaryIndexes = (
    await client.query<{ name: string; definition: string }>(
      `select i.indexname as name, i.indexdef as definition from pg_indexes i
        where i.schemaname = current_schema() and i.tablename in ('tokens', 'token_secrets')
          and not exists (select 1 from pg_constraint c where c.conname = i.indexname)`,
    )
  ).rows;
  for (const index of secondaryIndexes) await client.query(`drop index "${index.name}"`);
  return {
    countUsers: async () => {
      const result = await client.query<{ n: string }>("select count(*) as n from users");
      return Number(result.rows[0]?.n ?? 0);
    },
    // One statement per chunk: each column travels as one array parameter.
    insert: async (rows, chunk) => {
      const names = rows.columns.map((c) => c.name).join(", ");
      const arrays = rows.columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(", ");
      const text = `insert into ${rows.table} (${names}) select * from unnest(${arrays})`;
      for (let from = 0; from < rows.count; from += chunk) {
        const to = Math.min(rows.count, from + chunk);
        const params = rows.columns.map((c) => {
          const values: Value[] = new Array(to - from);
          for (let i = from; i < to; i++) values[i - from] = c.value(i);
          return values;
        });
        await client.query(text, params);
      }
    },
    finish: async () => {
      try {
        for (const index of secondaryIndexes) await client.query(index.definition);
        // Fresh planner statistics, as a long-running database would have.
        await client.query(
          "analyze users, applications, memberships, tokens, token_secrets, sessions",
        );
      } finally {
        await close();
      }
    },
    abort: close,
  };
}

// Run as a command (`tsx bench/seed.ts`), not when bench/run.ts imports it.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runSeedBench(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      // 78 as `keyward` answers a configuration error (EX_CONFIG).
      process.exit(error instanceof ConfigError ? 78 : 1);
    },
  );
}
