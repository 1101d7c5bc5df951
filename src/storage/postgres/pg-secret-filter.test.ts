import { createHash, randomBytes } from "node:crypto";
import { Client } from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { prefixOfBinaryHash } from "../../core/token.js";
import { pollUntil } from "../../test-support/poll.js";
import {
  adminQuery,
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../../test-support/postgres.js";
import { TcpProxy } from "../../test-support/tcp-proxy.js";
import { INVALIDATE_ALL_PAYLOAD, INVALIDATION_CHANNEL } from "./pg-invalidation.js";
import {
  FENCE_FRESH_MS,
  FENCES_CHANNEL,
  type PgSecretFilter,
  type PgSecretFilterOptions,
  SECRET_SETTLE_MS,
  SECRETS_ADDED_CHANNEL,
  settleSecret,
  startPgSecretFilter,
} from "./pg-secret-filter.js";
import { createPostgresStore, type PostgresStore } from "./postgres-store.js";

const enabled = postgresAvailable();

/** A random secret hash as Keyward stores it (64 hex digits). */
function randomHash(): string {
  return createHash("sha256").update(randomBytes(32)).digest("hex");
}

/** The first 32 bits of a hex hash, as the request path hands them to `absentNow`. */
function prefixOfHex(hash: string): number {
  return prefixOfBinaryHash(Buffer.from(hash, "hex").toString("latin1"));
}

describe.skipIf(!enabled)("PgSecretFilter", () => {
  let database: TestDatabase;
  /** Migrated, with no filter of its own; the tests' writer. */
  let store: PostgresStore;
  let writer: Client;
  const open: PgSecretFilter[] = [];
  const now = Date.UTC(2030, 0, 1);

  beforeAll(async () => {
    database = await createTestDatabase();
    store = await createPostgresStore({ url: database.url, secretFilter: false });
    writer = new Client({ connectionString: database.url });
    await writer.connect();
    await store.users.insertUser({
      id: "usr_f",
      email: "f@example.com",
      name: "F",
      passwordHash: "x",
      createdAt: now,
    });
    await store.applications.insertApplication({
      id: "app_f",
      name: "F",
      ownerId: "usr_f",
      scopes: [],
      createdAt: now,
      returnOrigins: [],
      branding: null,
    });
    await insertToken("tok_f", randomHash());
  });
  afterEach(async () => {
    for (const filter of open.splice(0)) await filter.close();
  });
  afterAll(async () => {
    await writer?.end();
    await store?.close();
    await database?.drop();
  });

  let tokenCount = 0;
  async function insertToken(id: string, secretHash: string): Promise<void> {
    tokenCount++;
    const result = await store.tokens.insertToken(
      {
        id,
        applicationId: "app_f",
        userId: "usr_f",
        name: `token ${tokenCount}`,
        hint: "kw_…abcd",
        scopes: [],
        createdAt: now,
        expiresAt: null,
        secretHash,
      },
      { maxActivePerUser: 10_000, now },
    );
    expect(result).toEqual({ ok: true });
  }

  /** Secrets of tok_f inserted by one statement, as an import or an operator would. */
  async function insertSecrets(hashes: string[]): Promise<void> {
    await writer.query(
      "insert into token_secrets (hash, token_id, created_at) select h, 'tok_f', 0 from unnest($1::text[]) as h",
      [hashes],
    );
  }

  /** A filter on the test database (or `options.url`, a proxy in front of it), closed after the test. */
  async function start(options: Partial<PgSecretFilterOptions> = {}) {
    const filter = await startPgSecretFilter({
      url: database.url,
      applicationName: "keyward-secrets-test",
      reconnectDelayMs: { initial: 20, max: 200 },
      ...options,
    });
    open.push(filter);
    return filter;
  }

  it("loads every stored secret, and refuses an absent one only after a fence", async () => {
    const stored = randomHash();
    await insertSecrets([stored]);
    // A clock that stands still: "recent" below is about the fence, not about how fast a
    // loaded machine gets from one line to the next (FENCE_FRESH_MS is a few ms).
    const filter = await start({ now: () => 1_000 });
    expect(filter.ready).toBe(true);
    expect(filter.mayHold(stored)).toBe(true);
    const absent = randomHash();
    // No fence has come back yet: the answer waits for one.
    const answer = filter.mayHold(absent);
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBe(false);
    // That fence is recent now: the same question is answered at once, from memory.
    expect(filter.mayHold(absent)).toBe(false);
    expect(filter.absentNow(prefixOfHex(absent))).toBe(true);
    expect(filter.absentNow(prefixOfHex(stored))).toBe(false);
  });

  it("answers from memory only within FENCE_FRESH_MS of a fence's sending", async () => {
    let clock = 1_000;
    const filter = await start({ now: () => clock });
    const absent = randomHash();
    expect(await filter.mayHold(absent)).toBe(false);
    // The fence was sent at 1,000 (the clock stood still): fresh until 1,000 + FENCE_FRESH_MS.
    clock += FENCE_FRESH_MS;
    expect(filter.mayHold(absent)).toBe(false);
    expect(filter.absentNow(prefixOfHex(absent))).toBe(true);
    clock += 1;
    expect(filter.absentNow(prefixOfHex(absent))).toBe(false);
    const answer = filter.mayHold(absent);
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBe(false);
  });

  it("waits SECRET_SETTLE_MS after a new secret's commit, by the monotonic clock", async () => {
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await settleSecret();
      expect(performance.now() - started).toBeGreaterThanOrEqual(SECRET_SETTLE_MS);
    }
    expect(FENCE_FRESH_MS).toBeLessThan(SECRET_SETTLE_MS);
  });

  it("shares one process's fence rate with the other processes fencing", async () => {
    // Another process under a flood of made-up tokens, fencing all the while.
    const other = await start();
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        const answer = other.mayHold(randomHash());
        if (answer !== false) await answer;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    let clock = 1_000;
    const filter = await start({ now: () => clock });
    const absent = randomHash();
    try {
      // The other's fences heard for a while (this filter's clock stands still meanwhile):
      // the other takes the whole rate, so this one gets an equal share, every
      // FENCE_FRESH_MS instead of every FENCE_FRESH_MS / 2.
      await pollUntil(
        "the other process's fences",
        () => filter.fenceIntervalMs >= FENCE_FRESH_MS - 0.1,
      );
      expect(await filter.mayHold(absent)).toBe(false);
      const sent = filter.fencesSent;
      // Half as old as FENCE_FRESH_MS: alone, the next fence would go now. Sharing, not
      // before the last is FENCE_FRESH_MS old.
      clock += FENCE_FRESH_MS / 2 + 0.5;
      expect(filter.absentNow(prefixOfHex(absent))).toBe(true);
      expect(filter.fencesSent).toBe(sent);
      // Held back, not dropped: it goes when its turn comes (a real timer).
      await pollUntil("the held fence", () => filter.fencesSent === sent + 1, { intervalMs: 1 });
    } finally {
      flooding = false;
      await flood;
    }
    await other.close();
    // A fence sent after the other closed comes back after every fence it sent.
    clock += 10 * SECRET_SETTLE_MS;
    expect(await filter.mayHold(absent)).toBe(false);
    // Not heard from for a second (this filter's clock): alone again, at the full rate.
    clock += 1_001;
    expect(filter.fenceIntervalMs).toBe(0);
    expect(await filter.mayHold(absent)).toBe(false);
    const sent = filter.fencesSent;
    clock += FENCE_FRESH_MS / 2 + 0.5;
    expect(filter.absentNow(prefixOfHex(absent))).toBe(true);
    expect(filter.fencesSent).toBe(sent + 1);
  });

  it("knows a secret committed elsewhere the moment after its commit, through the fence", async () => {
    // A clock that stands still far from the last fence: every absent prefix waits for a
    // fence sent after it was asked for, never the filter alone.
    let clock = 0;
    const filter = await start({ now: () => clock });
    for (let i = 0; i < 20; i++) {
      clock += 10 * SECRET_SETTLE_MS;
      const hash = randomHash();
      await insertSecrets([hash]);
      // Asked right after the commit, before its notice has had time to arrive.
      const answer = filter.mayHold(hash);
      expect(answer === true || (await answer) === true).toBe(true);
    }
  });

  it("knows a token another process created the moment its creation returns", async () => {
    // The real clock, and fences kept fresh by a stream of made-up tokens, as under a
    // flood: absent prefixes are answered from memory, without waiting.
    const filter = await start();
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        const answer = filter.mayHold(randomHash());
        if (answer !== false) expect(await answer).toBe(false);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    let checkedWhileFresh = 0;
    try {
      for (let i = 0; i < 30; i++) {
        const hash = randomHash();
        await insertToken(`tok_created_${i}`, hash);
        // Whether an absent prefix would be answered at once right now.
        if (filter.absentNow(prefixOfHex(randomHash()))) checkedWhileFresh++;
        // Creation returned: refusing the token now would break the promise that a token
        // works on every process as soon as its owner has it.
        const answer = filter.mayHold(hash);
        expect(answer === true || (await answer) === true).toBe(true);
      }
    } finally {
      flooding = false;
      await flood;
    }
    // Otherwise the test could not fail: every check would have waited for a fence. (On
    // a quiet machine most are fresh; a loaded one makes fences slower.)
    expect(checkedWhileFresh).toBeGreaterThan(0);
  });

  it("answers maybe while a fence is late, and drops its connection when one never returns", async () => {
    const proxy = await TcpProxy.inFrontOf(database.url);
    let clock = 1_000;
    const filter = await start({
      url: proxy.urlFor(database.url),
      connectTimeoutMs: 5_000,
      fenceTimeoutMs: 100,
      now: () => clock,
    });
    try {
      const absent = randomHash();
      expect(await filter.mayHold(absent)).toBe(false);
      // The network stops carrying anything: the next fence does not come back.
      proxy.blackhole();
      clock += 10 * SECRET_SETTLE_MS;
      const waiting = filter.mayHold(absent);
      expect(waiting).toBeInstanceOf(Promise);
      // After fenceTimeoutMs the waiting lookup reads storage; and the fence, late now,
      // makes every one after it read storage at once, until the fence is back.
      expect(await waiting).toBe(true);
      await pollUntil("the fence marked late", () => filter.mayHold(absent) === true);
      expect(filter.absentNow(prefixOfHex(absent))).toBe(false);
      expect(filter.ready).toBe(true);
      // Back in time: the late fence returns, and absent prefixes are answered again.
      proxy.restore();
      await pollUntil("the late fence", () => filter.mayHold(absent) === false);
      // Out for fenceTimeoutMs × 15: the connection is taken for dead and the filter with
      // it; lookups read storage until it is back and loaded.
      proxy.blackhole();
      clock += 10 * SECRET_SETTLE_MS;
      expect(await filter.mayHold(absent)).toBe(true);
      await pollUntil("the dead connection dropped", () => !filter.ready);
      expect(filter.mayHold(absent)).toBe(true);
      proxy.restore();
      await pollUntil("the filter back", () => filter.ready);
      clock += 10 * SECRET_SETTLE_MS;
      expect(await filter.mayHold(absent)).toBe(false);
      // Closed while it reconnects through a network that carries nothing: close ends the
      // connect under way instead of waiting out its timeout (5 s).
      proxy.cut();
      await pollUntil("the connection lost", () => !filter.ready);
      proxy.blackhole();
      await pollUntil("a connect under way", () => proxy.connections > 0);
      const closing = performance.now();
      await filter.close();
      expect(performance.now() - closing).toBeLessThan(1_000);
    } finally {
      await filter.close();
      await proxy.close();
    }
  });

  it("takes only its own connection's fences for proof, never one sent in its name by another session", async () => {
    const proxy = await TcpProxy.inFrontOf(database.url);
    const listener = new Client({ connectionString: database.url });
    listener.on("error", () => {});
    try {
      const heard: string[] = [];
      listener.on("notification", (n) => {
        if (n.channel === FENCES_CHANNEL) heard.push(n.payload ?? "");
      });
      await listener.connect();
      await listener.query(`listen ${FENCES_CHANNEL}`);
      let clock = 1_000;
      const filter = await start({
        url: proxy.urlFor(database.url),
        fenceTimeoutMs: 300,
        now: () => clock,
      });
      const absent = randomHash();
      expect(await filter.mayHold(absent)).toBe(false);
      // Its fences carry its id and a sequence number, which any listener reads.
      await pollUntil("the filter's fence heard", () => heard.length > 0);
      const [fencer, seq] = (heard.at(-1) ?? "").split(":");
      // Its next fence is held on the way; what the server sends still reaches it.
      proxy.holdRequests();
      clock += 10 * SECRET_SETTLE_MS;
      const waiting = filter.mayHold(absent);
      expect(waiting).toBeInstanceOf(Promise);
      expect(filter.fenceIntervalMs).toBe(0);
      // Another session sends that very fence. It proves nothing of this filter's channel
      // (a secret committed before the real fence may not have been heard yet): the filter
      // counts it as another process's fence, which is how it is seen to have arrived.
      await writer.query("select pg_notify($1, $2)", [
        FENCES_CHANNEL,
        `${fencer}:${Number(seq) + 1}`,
      ]);
      await pollUntil("the forged fence heard as another's", () => filter.fenceIntervalMs > 0);
      // So the lookup waits for its own fence, which comes too late: it reads storage.
      expect(await waiting).toBe(true);
      expect(filter.absentNow(prefixOfHex(absent))).toBe(false);
      // Its own fence, once through, counts.
      proxy.restore();
      await pollUntil("its own fence back", () => filter.mayHold(absent) === false);
    } finally {
      proxy.restore();
      await listener.end().catch(() => {});
      await proxy.close();
    }
  });

  it("limits a lookup's wait from when it began, not from when a fence held back by the shared rate went out", async () => {
    const proxy = await TcpProxy.inFrontOf(database.url);
    let clock = 1_000;
    const fenceTimeoutMs = 200;
    try {
      const filter = await start({
        url: proxy.urlFor(database.url),
        fenceTimeoutMs,
        now: () => clock,
      });
      const absent = randomHash();
      expect(await filter.mayHold(absent)).toBe(false);
      // Many processes heard fencing at the whole shared rate (sent here by one session, as
      // a crowd or a forger would): this filter's fences are held back as far as they may
      // be, half of fenceTimeoutMs.
      await writer.query(
        `select pg_notify($1, lpad(to_hex(i % 32), 16, '0') || ':' || i) from generate_series(1, 300) as i`,
        [FENCES_CHANNEL],
      );
      await pollUntil(
        "the crowd's fences heard",
        () => filter.fenceIntervalMs === fenceTimeoutMs / 2,
      );
      // The fence this lookup waits for goes out about 90 ms from now, and then does not
      // come back.
      proxy.holdRequests();
      const sent = filter.fencesSent;
      clock += FENCE_FRESH_MS + 1;
      const waiting = filter.mayHold(absent);
      expect(waiting).toBeInstanceOf(Promise);
      expect(filter.fencesSent).toBe(sent);
      // Given up fenceTimeoutMs after it began (storage is read), while the fence, out for
      // less than that, is not yet late: the next lookup waits (for the fence after it).
      // Counted from the fence's sending, the wait would end only when the fence is late,
      // and the next lookup would then read storage at once.
      expect(await waiting).toBe(true);
      expect(filter.fencesSent).toBe(sent + 1);
      const next = filter.mayHold(absent);
      expect(next).toBeInstanceOf(Promise);
      proxy.restore();
      await next;
    } finally {
      proxy.restore();
      await proxy.close();
    }
  });

  it("closes at once when the server hangs up during the handshake", async () => {
    const proxy = await TcpProxy.inFrontOf(database.url);
    proxy.hangUp();
    let filter: PgSecretFilter | undefined;
    try {
      filter = await startPgSecretFilter({
        url: proxy.urlFor(database.url),
        reconnectDelayMs: { initial: 20, max: 200 },
        connectTimeoutMs: 5_000,
      });
      expect(filter.ready).toBe(false);
      const closing = performance.now();
      await filter.close();
      expect(performance.now() - closing).toBeLessThan(500);
    } finally {
      await filter?.close();
      await proxy.close();
    }
  });

  it("closes within its goodbye's limit when connected over a network that carries nothing", async () => {
    const proxy = await TcpProxy.inFrontOf(database.url);
    let filter: PgSecretFilter | undefined;
    try {
      filter = await startPgSecretFilter({ url: proxy.urlFor(database.url) });
      expect(filter.ready).toBe(true);
      proxy.blackhole();
      const closing = performance.now();
      await filter.close();
      // A second of goodbye, then the socket is cut (pg's own end() never returned here).
      expect(performance.now() - closing).toBeLessThan(3_000);
    } finally {
      await filter?.close();
      await proxy.close();
    }
  });

  it("hears an import of thousands of secrets in one statement, in several notices", async () => {
    const filter = await start();
    const notices: string[] = [];
    const listener = new Client({ connectionString: database.url });
    await listener.connect();
    try {
      listener.on("notification", (m) => notices.push(m.payload ?? ""));
      await listener.query(`listen ${SECRETS_ADDED_CHANNEL}`);
      const hashes = Array.from({ length: 2000 }, randomHash);
      const sizeBefore = filter.size;
      await insertSecrets(hashes);
      await pollUntil("the filter to hear 2,000 secrets", () => filter.size >= sizeBefore + 1990);
      for (const hash of hashes) expect(filter.mayHold(hash)).toBe(true);
      await pollUntil("three notices", () => notices.length === 3);
      // 800 prefixes of 8 hex digits a notice, under PostgreSQL's 8000-byte payload limit.
      expect(notices.map((n) => n.split(",").length).sort()).toEqual([400, 800, 800]);
      expect(notices.join(",").split(",").sort()).toEqual(hashes.map((h) => h.slice(0, 8)).sort());
    } finally {
      await listener.end();
    }
  });

  it("says nothing of stored text that is not a hash, and announces it as 00000000", async () => {
    await insertSecrets(["not-a-hash"]);
    // A clock that stands still, so the fence below stays recent however slow the machine.
    const filter = await start({ now: () => 1_000 });
    expect(filter.mayHold("not-a-hash")).toBe(true);
    // A fence that has just come back: an absent prefix is answered at once, so prefix 0
    // is not absent because it is held, not because the filter is unsure.
    const absent = randomHash();
    expect(await filter.mayHold(absent)).toBe(false);
    expect(filter.absentNow(prefixOfHex(absent))).toBe(true);
    expect(filter.absentNow(0)).toBe(false);
  });

  it("answers maybe while its connection is down, and reloads when it is back", async () => {
    // A reconnect slow enough for the insert below to land while no one listens.
    const filter = await start({ reconnectDelayMs: { initial: 600, max: 600 } });
    const absent = randomHash();
    expect(await filter.mayHold(absent)).toBe(false);
    await adminQuery(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'keyward-secrets-test'",
    );
    await pollUntil("the filter to notice", () => !filter.ready);
    expect(filter.mayHold(absent)).toBe(true);
    expect(filter.absentNow(prefixOfHex(absent))).toBe(false);
    // Inserted while no one listened: found by the reload, not by a notice.
    const missed = randomHash();
    await insertSecrets([missed]);
    await pollUntil("the filter to come back", () => filter.ready);
    expect(filter.mayHold(missed)).toBe(true);
    expect(await filter.mayHold(absent)).toBe(false);
  });

  it("reloads on the invalidation channel's '*', for secrets written with triggers off", async () => {
    const filter = await start();
    const hidden = randomHash();
    const quiet = new Client({ connectionString: database.url });
    await quiet.connect();
    try {
      // As a data-only restore does: no trigger fires, so no notice is sent.
      await quiet.query("set session_replication_role = replica");
      await quiet.query(
        "insert into token_secrets (hash, token_id, created_at) values ($1, 'tok_f', 0)",
        [hidden],
      );
    } finally {
      await quiet.end();
    }
    expect(await filter.mayHold(hidden)).toBe(false);
    await writer.query("select pg_notify($1, $2)", [INVALIDATION_CHANNEL, INVALIDATE_ALL_PAYLOAD]);
    await pollUntil("the reload to find it", () => filter.mayHold(hidden) === true);
  });
});

describe.skipIf(!enabled)("PgSecretFilter's loads", () => {
  let database: TestDatabase;
  let writer: Client;
  const open: PgSecretFilter[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const store = await createPostgresStore({ url: database.url, secretFilter: false });
    await store.close();
    writer = new Client({ connectionString: database.url });
    await writer.connect();
    // Secrets need a token; the foreign keys are not what these tests are about.
    await writer.query("alter table token_secrets drop constraint token_secrets_token_id_fkey");
  });
  afterEach(async () => {
    for (const filter of open.splice(0)) await filter.close();
  });
  afterAll(async () => {
    await writer?.end();
    await database?.drop();
  });

  async function insertSecrets(hashes: string[], options: { quietly?: boolean } = {}) {
    if (options.quietly) await writer.query("set session_replication_role = replica");
    try {
      await writer.query(
        "insert into token_secrets (hash, token_id, created_at) select h, 'tok_x', 0 from unnest($1::text[]) as h",
        [hashes],
      );
    } finally {
      if (options.quietly) await writer.query("set session_replication_role = origin");
    }
  }

  it("loads in chunks, in order of hash, every secret", async () => {
    const hashes = Array.from({ length: 25 }, randomHash);
    await insertSecrets(hashes);
    const filter = await startPgSecretFilter({
      url: database.url,
      applicationName: "keyward-secrets-chunks",
      loadChunk: 4,
    });
    open.push(filter);
    for (const hash of hashes) expect(filter.mayHold(hash)).toBe(true);
    expect(filter.size).toBeGreaterThanOrEqual(25);
    expect(await filter.mayHold(randomHash())).toBe(false);
  });

  it("reloads again for a '*' that came during a reload, which may have read too early", async () => {
    await insertSecrets(Array.from({ length: 4000 }, randomHash));
    // One secret a statement: the reload takes long enough (seconds) to be caught in the
    // middle, also by a poll slowed down on a loaded machine.
    const filter = await startPgSecretFilter({
      url: database.url,
      applicationName: "keyward-secrets-again",
      loadChunk: 1,
    });
    open.push(filter);
    const notifyAll = () =>
      writer.query("select pg_notify($1, $2)", [INVALIDATION_CHANNEL, INVALIDATE_ALL_PAYLOAD]);
    await notifyAll();
    await pollUntil(
      "the reload to be reading",
      async () => {
        const rows = await adminQuery(
          "select 1 from pg_stat_activity where application_name = 'keyward-secrets-again-load' and state = 'active' and query like '%token_secrets%'",
        );
        return rows.length > 0;
      },
      { timeoutMs: 15_000, intervalMs: 5 },
    );
    // Smaller than every other hash: the reload under way has read past it already.
    const hidden = `00000001${randomHash().slice(8)}`;
    await insertSecrets([hidden], { quietly: true });
    await notifyAll();
    await pollUntil("a second reload to find it", () => filter.mayHold(hidden) === true, {
      timeoutMs: 15_000,
    });
  }, 60_000);
});

describe.skipIf(!enabled)("PostgresStore with its secret filter", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it("refuses made-up tokens without a lookup", async () => {
    const store = await createPostgresStore({ url: database.url });
    try {
      const before = store.stats.secretLookups;
      // The first waits for a fence; those after it are answered from memory.
      expect(await store.tokens.findSecret(randomHash())).toBeUndefined();
      for (let i = 0; i < 50; i++)
        expect(await store.tokens.findSecret(randomHash())).toBeUndefined();
      expect(store.stats.secretLookups).toBe(before);
      expect(
        store.tokens.mayHoldSecret?.(Buffer.from(randomHash(), "hex").toString("latin1")),
      ).toBe(false);
    } finally {
      await store.close();
    }
  });
});
