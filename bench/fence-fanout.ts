import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";
import { INVALIDATION_CHANNEL } from "../src/storage/postgres/pg-invalidation.js";
import {
  type PgSecretFilter,
  startPgSecretFilter,
} from "../src/storage/postgres/pg-secret-filter.js";
import { createPostgresStore } from "../src/storage/postgres/postgres-store.js";

/**
 * What the secret filter's fences cost PostgreSQL when many processes are flooded with
 * made-up tokens at once, and whether they delay the token-change notices that carry
 * revocations. For each process count N it starts N secret filters in this process (each
 * on its own connection, as N Keyward processes hold them) and N plain listeners on the
 * token-change channel (each process's second listening connection), asks every filter
 * about a made-up hash every millisecond as a flooded process would, and meanwhile sends a
 * token-change notice every 20 ms from another connection, timing its arrival at every
 * listener. With FLOOD=0 the filters are idle: the baseline.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a database with the schema> \
 *     npx tsx --conditions=keyward-source bench/fence-fanout.ts [N ...]
 *
 * PostgreSQL's CPU is read from /proc for every process named postgres, so the server
 * must run on this machine. The channels are the product's own: use a database no Keyward
 * process uses (the script migrates it).
 */
const url = process.env.TEST_DATABASE_URL;
if (!url) throw new Error("TEST_DATABASE_URL is not set");
const counts = process.argv.slice(2).map(Number);
const processCounts = counts.length > 0 ? counts : [1, 2, 4, 8, 16];
const SECONDS = Number(process.env.SECONDS ?? 5);
const FLOOD = process.env.FLOOD !== "0";
const PROBE_INTERVAL_MS = 20;

const CLOCK_TICKS = 100;
function postgresCpuMicros(): number {
  let total = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (!comm.startsWith("postgres")) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
    } catch {}
  }
  return total;
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

function madeUpHash(): string {
  return createHash("sha256").update(randomBytes(32)).digest("hex");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Probe {
  sentAt: number;
  arrivals: number;
}

async function measure(processes: number) {
  const probes = new Map<string, Probe>();
  const delays: number[] = [];
  const changeListeners: pg.Client[] = [];
  for (let i = 0; i < processes; i++) {
    const client = new pg.Client({ connectionString: url, application_name: `fanout-${i}` });
    await client.connect();
    await client.query(`listen ${INVALIDATION_CHANNEL}`);
    client.on("notification", (message) => {
      const probe = probes.get(message.payload ?? "");
      if (probe === undefined) return;
      // The filters listen on the channel too, but only for '*': the probe is timed at
      // the listeners that carry revocations.
      if (++probe.arrivals === processes) delays.push(performance.now() - probe.sentAt);
    });
    changeListeners.push(client);
  }
  const filters: PgSecretFilter[] = [];
  for (let i = 0; i < processes; i++)
    filters.push(
      await startPgSecretFilter({ url: url as string, applicationName: `fanout-filter-${i}` }),
    );
  let flooding = FLOOD;
  let immediate = 0;
  let waited = 0;
  const floods = filters.map(async (filter) => {
    while (flooding) {
      const answer = filter.mayHold(madeUpHash());
      if (answer === false) immediate++;
      else if (answer !== true) {
        await answer;
        waited++;
      }
      await sleep(1);
    }
  });
  const sender = new pg.Client({ connectionString: url });
  await sender.connect();
  await sleep(500);
  const fences0 = filters.reduce((n, f) => n + f.fencesSent, 0);
  immediate = 0;
  waited = 0;
  const cpu0 = postgresCpuMicros();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    const payload = `probe-${process.pid}-${n++}`;
    probes.set(payload, { sentAt: performance.now(), arrivals: 0 });
    await sender.query("select pg_notify($1, $2)", [INVALIDATION_CHANNEL, payload]);
    await sleep(PROBE_INTERVAL_MS);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = (postgresCpuMicros() - cpu0) / 1e6 / elapsed;
  const fences = (filters.reduce((n, f) => n + f.fencesSent, 0) - fences0) / elapsed;
  const answered = { immediate: immediate / elapsed, waited: waited / elapsed };
  flooding = false;
  await Promise.all(floods);
  await sleep(200);
  await Promise.all([
    ...filters.map((f) => f.close()),
    ...changeListeners.map((c) => c.end()),
    sender.end(),
  ]);
  const unheard = [...probes.values()].filter((p) => p.arrivals < processes).length;
  delays.sort((a, b) => a - b);
  return { processes, fences, cpu, answered, delays, unheard };
}

// The schema (the filter reads token_secrets).
const store = await createPostgresStore({ url, secretFilter: false });
await store.close();

console.log(
  `${FLOOD ? "every filter asked about a made-up hash every millisecond" : "no flood"}, ${SECONDS} s a row, a token-change notice every ${PROBE_INTERVAL_MS} ms`,
);
console.log(
  "| processes | fences/s, all processes | made-up hashes answered at once / after a fence, per s | PostgreSQL CPU (cores) | notice at every listener p50 / p99 / max ms |",
);
console.log("| --- | --- | --- | --- | --- |");
for (const processes of processCounts) {
  const r = await measure(processes);
  const f = (x: number) => x.toFixed(2);
  console.log(
    `| ${r.processes} | ${r.fences.toFixed(0)} | ${r.answered.immediate.toFixed(0)} / ${r.answered.waited.toFixed(0)} | ${f(r.cpu)} | ${f(percentile(r.delays, 50))} / ${f(percentile(r.delays, 99))} / ${f(r.delays[r.delays.length - 1] ?? Number.NaN)}${r.unheard > 0 ? ` (${r.unheard} not heard by all)` : ""} |`,
  );
}
