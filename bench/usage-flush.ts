import { copyFileSync, rmSync } from "node:fs";
import SqliteDatabase from "better-sqlite3";
import type { UsageIncrement } from "../src/services/ports.js";
import { createSqliteStore } from "../src/storage/sqlite/sqlite-store.js";

/**
 * What a usage flush costs per token on a large SQLite store, written as the usage
 * recorder writes it (transactions of 500 tokens), with the tokens in the order they
 * were first used ("scattered") or sorted by id ("sorted", what the recorder does), in
 * alternating rounds. After each 500-token transaction, 500 secret lookups run, as the
 * requests the event loop serves between two transactions would: they compete for
 * SQLite's page cache as in the server. Prints CPU µs per token, lookups included, and
 * the lookups' own cost measured alone.
 *
 *   npx tsx --conditions=keyward-source bench/usage-flush.ts <store.db> [rounds]
 *
 * The store is copied first (to <store.db>.usage-flush), so the seeded one is not
 * changed; seed one with bench/seed.ts, or use the bench's `large.db` (`--work-dir`).
 */
const source = process.argv[2];
if (!source) throw new Error("usage: bench/usage-flush.ts <store.db> [rounds]");
const ROUNDS = Number(process.argv[3] ?? 6);
const TOKENS_PER_FLUSH = 10_000;
const CHUNK = 500;

const copy = `${source}.usage-flush`;
for (const suffix of ["", "-wal", "-shm"]) rmSync(`${copy}${suffix}`, { force: true });
copyFileSync(source, copy);

const raw = new SqliteDatabase(copy, { readonly: true });
const tokenIds = raw.prepare("select id from tokens").pluck().all() as string[];
const hashes = raw.prepare("select hash from token_secrets").pluck().all() as string[];
raw.close();
const store = await createSqliteStore({ path: copy });

// A fixed sequence, so both orders get the same kind of tokens.
let state = 12345;
const next = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state;
};
const day = new Date().toISOString().slice(0, 10);
const cpuMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

async function lookups(count: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await store.tokens.findSecret(hashes[next() % hashes.length] ?? "");
}

async function flush(order: "scattered" | "sorted"): Promise<number> {
  const batch: UsageIncrement[] = [];
  for (let i = 0; i < TOKENS_PER_FLUSH; i++) {
    batch.push({
      tokenId: tokenIds[next() % tokenIds.length] ?? "",
      day,
      requests: 1,
      lastUsedAt: Date.now(),
    });
  }
  if (order === "sorted")
    batch.sort((a, b) => (a.tokenId < b.tokenId ? -1 : a.tokenId > b.tokenId ? 1 : 0));
  const started = cpuMicros();
  for (let start = 0; start < batch.length; start += CHUNK) {
    await store.usage.applyUsage(batch.slice(start, start + CHUNK));
    await lookups(CHUNK);
  }
  return (cpuMicros() - started) / TOKENS_PER_FLUSH;
}

const results: Record<"scattered" | "sorted", number[]> = { scattered: [], sorted: [] };
await flush("sorted"); // warm-up: the pages of the usage table's first writes
for (let round = 0; round < ROUNDS; round++) {
  for (const order of round % 2 === 0
    ? (["scattered", "sorted"] as const)
    : (["sorted", "scattered"] as const)) {
    results[order].push(await flush(order));
  }
}
const started = cpuMicros();
await lookups(TOKENS_PER_FLUSH);
const lookupMicros = (cpuMicros() - started) / TOKENS_PER_FLUSH;
await store.close();
for (const suffix of ["", "-wal", "-shm"]) rmSync(`${copy}${suffix}`, { force: true });

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
console.log(
  `tokens in the store: ${tokenIds.length}; ${ROUNDS} rounds of ${TOKENS_PER_FLUSH} tokens each way`,
);
for (const order of ["scattered", "sorted"] as const) {
  console.log(
    `${order.padEnd(9)} CPU µs per token, a lookup included: median ${median(results[order]).toFixed(1)} (${results[order].map((v) => v.toFixed(1)).join(", ")})`,
  );
}
console.log(`a lookup alone: ${lookupMicros.toFixed(1)} CPU µs`);
