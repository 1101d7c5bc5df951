import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { hashToken } from "../src/core/token.js";
import { createPostgresStore } from "../src/storage/postgres/postgres-store.js";
import { seedBench } from "./seed.js";

/**
 * What the named prepared statement of the hot lookup saves: the store's `findSecret`
 * (a cache miss's whole storage cost) with `preparedStatements` on and off, on the same
 * database, in alternating rounds (ABAB...) so that drift on a shared machine lands on
 * both. Reports lookups per second and the ratio within this run.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *     npx tsx --conditions=keyward-source bench/prepared-statements.ts [pgbouncer URL]
 *
 * With a second argument (a PgBouncer in front of the same server, e.g. the one
 * test/scale-out/pgbouncer.test.ts starts), "off" is also measured through it.
 */
const admin = process.env.TEST_DATABASE_URL;
if (!admin) throw new Error("TEST_DATABASE_URL is not set");
const ROUNDS = 6;
const LOOKUPS_PER_ROUND = 10_000;
const IN_FLIGHT = 8;
const TOKENS = 10_000;

const name = `keyward_bench_prepared_${randomBytes(4).toString("hex")}`;
const adminClient = new pg.Client({ connectionString: admin });
await adminClient.connect();
await adminClient.query(`create database "${name}"`);
const url = new URL(admin);
url.pathname = `/${name}`;
const tokensFile = join(tmpdir(), `${name}.txt`);
try {
  await seedBench(
    { DATABASE_URL: url.toString() },
    {
      tokens: TOKENS,
      tokensPerUser: 100,
      sessionUsers: 0,
      seed: "prepared",
      tokensOut: tokensFile,
      sessionsOut: undefined,
      chunk: 50_000,
    },
    () => {},
  );
  const hashes = (await readFile(tokensFile, "utf8"))
    .split("\n")
    .filter((line) => line.length > 0)
    .map(hashToken);

  const variants: Array<{ label: string; url: string; prepared: boolean }> = [
    { label: "prepared (named statement)", url: url.toString(), prepared: true },
    { label: "unnamed statement", url: url.toString(), prepared: false },
  ];
  const pooler = process.argv[2];
  if (pooler) {
    const through = new URL(pooler);
    through.pathname = `/${name}`;
    variants.push({
      label: "unnamed, through PgBouncer",
      url: through.toString(),
      prepared: false,
    });
  }
  const stores = await Promise.all(
    variants.map((v) =>
      createPostgresStore({ url: v.url, poolSize: IN_FLIGHT, preparedStatements: v.prepared }),
    ),
  );
  const rates: number[][] = variants.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, store] of stores.entries()) {
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < LOOKUPS_PER_ROUND) {
            const hash = hashes[next++ % hashes.length] ?? "";
            const found = await store.tokens.findSecret(hash);
            if (found === undefined) throw new Error("seeded token not found");
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      // The first round warms both (plans, buffers, JIT); it is not counted.
      if (round > 0) rates[i]?.push(LOOKUPS_PER_ROUND / seconds);
    }
  }
  await Promise.all(stores.map((s) => s.close()));
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;
  const base = median(rates[0] ?? []);
  for (const [i, v] of variants.entries()) {
    const m = median(rates[i] ?? []);
    console.log(
      `${v.label.padEnd(28)} ${m.toFixed(0).padStart(6)} lookups/s (median of ${ROUNDS - 1} rounds of ${LOOKUPS_PER_ROUND}, ${IN_FLIGHT} in flight), ${(m / base).toFixed(2)}x the prepared rate`,
    );
  }
} finally {
  await rm(tokensFile, { force: true });
  await adminClient.query(`drop database if exists "${name}" with (force)`);
  await adminClient.end();
}
