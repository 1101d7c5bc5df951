import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { findSecretQuery } from "../src/storage/kysely-tokens.js";
import type { Database } from "../src/storage/schema.js";

/**
 * What the verifier's secret lookup (the server's prepared four-table join) costs on a
 * seeded SQLite store, in process, with SQLite's page cache at the sizes given, in
 * alternating rounds. Prints the page cache a connection gets by default (better-sqlite3
 * builds SQLite with its own default), then µs per lookup for each size and round.
 *
 *   npx tsx --conditions=keyward-source bench/secret-lookup.ts <store.db> [sizes] [rounds]
 *
 * `sizes`: comma-separated `cache_size` values in KiB (default: "default,4096,2048";
 * `default` leaves the connection as opened), each optionally followed by `/raw`: rows
 * read as arrays, as the server reads them since the fifteenth part, where without it
 * better-sqlite3 builds an object per row (e.g. "default,default/raw"). The store is
 * opened read-only; use the bench's `large.db` and `small.db` (`npm run bench --
 * --work-dir <dir>`).
 */
const path = process.argv[2];
if (!path) throw new Error("usage: bench/secret-lookup.ts <store.db> [sizes] [rounds]");
const entries = (process.argv[3] ?? "default,4096,2048").split(",");
const ROUNDS = Number(process.argv[4] ?? 4);
const settings = entries.map((entry) => {
  const [size = "", form, ...rest] = entry.split("/");
  if (size !== "default" && !(Number.isInteger(Number(size)) && Number(size) > 0))
    throw new Error(`not a page cache size in KiB: ${size}`);
  if ((form !== undefined && form !== "raw") || rest.length > 0)
    throw new Error(`not a size with an optional /raw: ${entry}`);
  return { entry, size, asArrays: form === "raw" };
});
if (!(Number.isInteger(ROUNDS) && ROUNDS > 0))
  throw new Error(`not a number of rounds: ${process.argv[4]}`);
const LOOKUPS = 100_000;

const raw = new SqliteDatabase(path, { readonly: true });
const hashes = raw.prepare("select hash from token_secrets").pluck().all() as string[];
const sql = findSecretQuery(
  new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) }),
  "",
).compile().sql;
console.log(
  `${hashes.length} secrets; a new connection's page cache: cache_size ${String(raw.pragma("cache_size", { simple: true }))} (negative: KiB)`,
);
raw.close();

// A fixed sequence, restarted for every loop: every size looks up the same tokens in the
// same order, in its warm-up and in each round.
let state = 0;
const restart = (seed: number) => {
  state = seed;
};
const next = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state;
};

const connections = settings.map(({ entry, size, asArrays }) => {
  const db = new SqliteDatabase(path, { readonly: true });
  if (size !== "default") db.pragma(`cache_size = -${Number(size)}`);
  const statement = db.prepare(sql).raw(asArrays);
  // Warm-up: the page cache filled as a running server's would be.
  restart(1);
  for (let i = 0; i < 2 * LOOKUPS; i++) statement.get(hashes[next() % hashes.length]);
  return { entry, statement };
});

for (let round = 0; round < ROUNDS; round++) {
  const line: string[] = [];
  for (const { entry, statement } of round % 2 === 0 ? connections : [...connections].reverse()) {
    let found = 0;
    restart(1000 + round);
    const start = process.hrtime.bigint();
    for (let i = 0; i < LOOKUPS; i++) if (statement.get(hashes[next() % hashes.length])) found++;
    const micros = Number(process.hrtime.bigint() - start) / 1000 / LOOKUPS;
    if (found !== LOOKUPS) throw new Error(`only ${found} of ${LOOKUPS} secrets found`);
    line.push(`${entry}: ${micros.toFixed(1)} µs`);
  }
  console.log(`round ${round + 1}: ${line.join(", ")}`);
}
