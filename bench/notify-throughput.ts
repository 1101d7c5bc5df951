import pg from "pg";
import { chunkPayloads, INVALIDATION_CHANNEL } from "../src/storage/postgres/pg-invalidation.js";

/**
 * How many token changes per second the LISTEN/NOTIFY channel carries to `LISTENERS`
 * listening connections, sent the way Keyward sends them (one `pg_notify` per payload,
 * one statement per revocation request, from `SENDERS` connections at once). Measures the
 * time from the first send until every listener has received every id.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *     npx tsx --conditions=keyward-source bench/notify-throughput.ts
 */
const url = process.env.TEST_DATABASE_URL;
if (!url) throw new Error("TEST_DATABASE_URL is not set");
const LISTENERS = Number(process.env.LISTENERS ?? 3);
const SENDERS = Number(process.env.SENDERS ?? 8);
const CHANGES = Number(process.env.CHANGES ?? 20_000);
const IDS_PER_STATEMENT = Number(process.env.IDS_PER_STATEMENT ?? 1);
const channel = `${INVALIDATION_CHANNEL}_bench_${process.pid}`;

const listeners = await Promise.all(
  Array.from({ length: LISTENERS }, async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`listen ${client.escapeIdentifier(channel)}`);
    return client;
  }),
);
let received = 0;
const expected = CHANGES * LISTENERS;
const allReceived = new Promise<void>((resolve) => {
  for (const client of listeners)
    client.on("notification", (message) => {
      received += (message.payload ?? "").split(",").length;
      if (received >= expected) resolve();
    });
});
const senders = await Promise.all(
  Array.from({ length: SENDERS }, async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return client;
  }),
);
const started = performance.now();
let next = 0;
await Promise.all(
  senders.map(async (client) => {
    while (next < CHANGES) {
      const ids: string[] = [];
      for (let i = 0; i < IDS_PER_STATEMENT && next < CHANGES; i++)
        ids.push(`tok_${(next++).toString().padStart(22, "0")}`);
      await client.query("select pg_notify($1, payload) from unnest($2::text[]) as payload", [
        channel,
        chunkPayloads(ids),
      ]);
    }
  }),
);
const sent = performance.now();
await allReceived;
const done = performance.now();
console.log(
  `${CHANGES} token changes (${IDS_PER_STATEMENT} per statement, ${SENDERS} senders) to ${LISTENERS} listeners: ` +
    `sent in ${((sent - started) / 1000).toFixed(2)} s, all received after ${((done - started) / 1000).toFixed(2)} s = ` +
    `${(CHANGES / ((done - started) / 1000)).toFixed(0)} changes/s`,
);
await Promise.all([...listeners, ...senders].map((c) => c.end()));
