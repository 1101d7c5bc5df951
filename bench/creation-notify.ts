import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { createPostgresStore } from "../src/storage/postgres/postgres-store.js";

/**
 * Token creations per second on PostgreSQL from C concurrent creators, with migration
 * 0018's trigger (each creation sends a notification, and notifying transactions commit one
 * at a time) and with it disabled. Needs a spare database; the trigger is re-enabled at the end.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<spare> \
 *     npx tsx --conditions=keyward-source bench/creation-notify.ts [C ...]
 */
const url = process.env.TEST_DATABASE_URL;
if (!url) throw new Error("TEST_DATABASE_URL is not set");
const counts = process.argv.slice(2).map(Number);
const concurrency = counts.length > 0 ? counts : [1, 4, 16];
const SECONDS = Number(process.env.SECONDS ?? 4);
const now = Date.UTC(2030, 0, 1);

const store = await createPostgresStore({ url, secretFilter: false, poolSize: 40 });
const admin = new pg.Client({ connectionString: url });
await admin.connect();
const maxCreators = Math.max(...concurrency);
// This run's rows are its own, so the script can run again on the same database.
const run = randomBytes(4).toString("hex");
// One user and application per creator: a user's creations take its row's lock in turn.
for (let u = 0; u < maxCreators; u++) {
  await store.users.insertUser({
    id: `usr_cn${run}${u}`,
    email: `cn${run}${u}@example.com`,
    name: "C",
    passwordHash: "x",
    createdAt: now,
  });
  await store.applications.insertApplication({
    id: `app_cn${run}${u}`,
    name: "C",
    ownerId: `usr_cn${run}${u}`,
    scopes: [],
    createdAt: now,
    returnOrigins: [],
    branding: null,
  });
}
let n = 0;
async function creations(c: number): Promise<number> {
  let done = 0;
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: c }, async (_, u) => {
      while (performance.now() < until) {
        const i = n++;
        await store.tokens.insertToken(
          {
            id: `tok_cn${run}_${i}`,
            applicationId: `app_cn${run}${u}`,
            userId: `usr_cn${run}${u}`,
            name: `t ${i}`,
            hint: "kw_…abcd",
            scopes: [],
            createdAt: now,
            expiresAt: null,
            secretHash: createHash("sha256").update(`${run} ${i}`).digest("hex"),
          },
          { maxActivePerUser: 10_000_000, now },
        );
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}
console.log("| creators | trigger on, creations/s | trigger off |");
console.log("| --- | --- | --- |");
for (const c of concurrency) {
  const on1 = await creations(c);
  await admin.query("alter table token_secrets disable trigger token_secrets_announce");
  let off: number;
  try {
    off = await creations(c);
  } finally {
    await admin.query("alter table token_secrets enable trigger token_secrets_announce");
  }
  const on2 = await creations(c);
  console.log(`| ${c} | ${on1.toFixed(0)}, ${on2.toFixed(0)} | ${off.toFixed(0)} |`);
}
await admin.end();
await store.close();
