import pg from "pg";

/**
 * What a usage flush's new rows cost PostgreSQL with and without a foreign key from the
 * usage table to `tokens` (migration 0019 dropped it). Makes a database of its own with
 * 1,000,000 tokens and two usage tables shaped as `token_usage_daily`, one with the key and
 * one without, then writes flushes of 500 new (token, day) rows, sorted by token as the
 * usage recorder sorts them, each in its own transaction with `synchronous_commit = off` as
 * the PostgreSQL store commits a flush, into each table in turn. Prints the wall time per
 * row, the client's and PostgreSQL's together (the client's share is small: one statement
 * per 500 rows).
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/usage-foreign-key.ts [rounds]
 *
 * The database (`keyward_usage_fk_<pid>`) is dropped afterwards.
 */
const adminUrl = process.env.TEST_DATABASE_URL;
if (!adminUrl) throw new Error("TEST_DATABASE_URL is not set");
const ROUNDS = Number(process.argv[2] ?? 6);
if (!(Number.isInteger(ROUNDS) && ROUNDS > 0))
  throw new Error(`not a number of rounds: ${process.argv[2]}`);
const TOKENS = 1_000_000;
const ROWS_PER_FLUSH = 500;
const FLUSHES_PER_ROUND = 20;

const name = `keyward_usage_fk_${process.pid}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`create database ${name}`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;
const client = new pg.Client({ connectionString: url.toString() });
try {
  await client.connect();
  await client.query(
    "create table tokens (id text primary key, name text not null, hint text not null, scopes text not null default '[]', created_at bigint not null, application_id text not null, user_id text not null)",
  );
  await client.query(
    `insert into tokens select 'tok_' || md5(i::text), 'token ' || i, 'kw_' || i, '[]', 1, 'app', 'user' from generate_series(1, ${TOKENS}) i`,
  );
  await client.query("vacuum analyze tokens");
  const tables = { "with the key": "usage_with_key", "without it": "usage_without_key" };
  for (const [label, table] of Object.entries(tables)) {
    const key = label === "with the key" ? "references tokens (id) on delete cascade" : "";
    await client.query(
      `create table ${table} (token_id text not null ${key}, day text not null, requests bigint not null, last_used_at bigint, primary key (token_id, day))`,
    );
  }
  const ids = (await client.query<{ id: string }>("select id from tokens")).rows.map((r) => r.id);

  // A fixed sequence: both tables get the same kind of tokens.
  let state = 9;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state;
  };
  let day = 0;
  const flushes = async (table: string, count: number): Promise<number> => {
    const start = process.hrtime.bigint();
    let rows = 0;
    for (let f = 0; f < count; f++) {
      const chosen = [
        ...new Set(Array.from({ length: ROWS_PER_FLUSH }, () => ids[next() % ids.length] ?? "")),
      ].sort();
      // A new day for every flush: every row is new, as under a spread of many tokens.
      const date = `day-${day++}`;
      const params: unknown[] = [];
      const values = chosen.map((id, i) => {
        params.push(id, date, 1, 1000);
        return `($${4 * i + 1}, $${4 * i + 2}, $${4 * i + 3}, $${4 * i + 4})`;
      });
      await client.query("begin");
      await client.query("set local synchronous_commit = off");
      await client.query(
        `insert into ${table} (token_id, day, requests, last_used_at) values ${values.join(", ")} on conflict (token_id, day) do update set requests = ${table}.requests + excluded.requests`,
        params,
      );
      await client.query("commit");
      rows += chosen.length;
    }
    return Number(process.hrtime.bigint() - start) / 1000 / rows;
  };
  // Warm-up: both tables and the tokens' index in PostgreSQL's buffers.
  for (const table of Object.values(tables)) await flushes(table, 10);
  const entries = Object.entries(tables);
  for (let round = 0; round < ROUNDS; round++) {
    const line: string[] = [];
    for (const [label, table] of round % 2 === 0 ? entries : [...entries].reverse())
      line.push(`${label}: ${(await flushes(table, FLUSHES_PER_ROUND)).toFixed(1)} µs a row`);
    console.log(`round ${round + 1}: ${line.join(", ")}`);
  }
} finally {
  await client.end().catch(() => {});
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
