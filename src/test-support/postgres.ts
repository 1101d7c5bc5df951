import { randomBytes } from "node:crypto";
import { Client } from "pg";

/**
 * PostgreSQL for tests. `TEST_DATABASE_URL` points at a server where we may create
 * databases (e.g. postgres://postgres@127.0.0.1:5432/postgres); every test file makes its
 * own database with a random name and drops it afterwards, so runs never see each
 * other's data.
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || undefined;

/** True when PostgreSQL tests can run; otherwise says once, loudly, that they are skipped. */
export function postgresAvailable(): boolean {
  if (TEST_DATABASE_URL !== undefined) return true;
  // vitest.config.ts has already said it for this run when the flag is set.
  if (!process.env.KEYWARD_POSTGRES_SKIP_NOTICE) {
    process.env.KEYWARD_POSTGRES_SKIP_NOTICE = "shown";
    console.warn(
      "TEST_DATABASE_URL is not set: the PostgreSQL tests are SKIPPED. Set it, e.g. " +
        "TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres, to run them.",
    );
  }
  return false;
}

export interface TestDatabase {
  /** Connection URL of the new, empty database. */
  url: string;
  name: string;
  /** Drops the database, disconnecting whoever is still connected. */
  drop(): Promise<void>;
}

function adminUrl(): string {
  if (TEST_DATABASE_URL === undefined) {
    throw new Error("TEST_DATABASE_URL is not set; PostgreSQL tests cannot run.");
  }
  return TEST_DATABASE_URL;
}

async function withAdmin<T>(run: (client: Client) => Promise<T>, url = adminUrl()): Promise<T> {
  const client = new Client({ connectionString: url, application_name: "keyward-tests" });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** The URL of `database` on the test server. */
export function databaseUrl(database: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Creates an empty database with a random name. Unless `durable`, commits do not wait for
 * their fsync: tests never survive a server crash anyway, and it makes the PostgreSQL runs
 * several times faster on a slow CI disk without changing behaviour. Measurements that
 * are published (revocation latency) use `durable: true`, PostgreSQL's default.
 */
export async function createTestDatabase(
  options: { durable?: boolean } = {},
): Promise<TestDatabase> {
  const name = `keyward_test_${Date.now().toString(36)}_${randomBytes(6).toString("hex")}`;
  await withAdmin(async (c) => {
    await c.query(`create database "${name}"`);
    if (!options.durable) await c.query(`alter database "${name}" set synchronous_commit = off`);
  });
  return { name, url: databaseUrl(name), drop: () => dropTestDatabase(name) };
}

export async function dropTestDatabase(name: string): Promise<void> {
  if (!/^keyward_test_[a-z0-9_]+$/.test(name)) throw new Error(`not a test database: ${name}`);
  // FORCE (PostgreSQL 13+) ends sessions a server under test may still hold.
  await withAdmin((c) => c.query(`drop database if exists "${name}" with (force)`));
}

/** Runs one query on the test server's admin database, e.g. to inspect pg_stat_activity. */
export async function adminQuery<R extends object = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
  /** Another server's URL (one a test runs itself); the test server's admin database otherwise. */
  url?: string,
): Promise<R[]> {
  return withAdmin(async (c) => (await c.query<R>(text, values)).rows, url);
}

/** Test databases older than this are leftovers of a crashed run (names carry their time). */
const STALE_AFTER_MS = 6 * 3_600_000;

/**
 * Vitest global setup: drops test databases that crashed runs left behind. Only old ones,
 * so a run going on at the same time on the same server keeps its own.
 */
export async function setup(): Promise<void> {
  if (TEST_DATABASE_URL === undefined) return;
  const rows = await adminQuery<{ datname: string }>(
    "select datname from pg_database where datname like 'keyward\\_test\\_%'",
  );
  for (const { datname } of rows) {
    const created = Number.parseInt(datname.split("_")[2] ?? "", 36);
    if (Number.isFinite(created) && Date.now() - created > STALE_AFTER_MS) {
      await dropTestDatabase(datname);
    }
  }
}
