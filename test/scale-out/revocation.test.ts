import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateToken } from "../../src/core/token.js";
import { cryptoRandom } from "../../src/platform/system.js";
import {
  bearer,
  Client,
  createApp,
  createServiceKey,
  createToken,
  signUpUser,
} from "../../src/test-support/harness.js";
import { pollUntil } from "../../src/test-support/poll.js";
import {
  adminQuery,
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../../src/test-support/postgres.js";
import { requireBuild, type ServerProcess } from "../../src/test-support/process.js";
import { Cluster, fmt, killListener, listenerConnected, summarize } from "./cluster.js";

// The published bound (docs/deployment.md): after a revocation is acknowledged by one
// process, every other process refuses the token within 100 ms at p99 and 1 s at worst.
const TRIALS = 200;
const P99_BOUND_MS = 100;
const MAX_BOUND_MS = 1000;
const CACHE_MAX_AGE_MS = 5000;

const enabled = postgresAvailable();

describe.skipIf(!enabled)("revocation across processes on PostgreSQL", () => {
  const cluster = new Cluster();
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  let owner: Client;
  let appId: string;
  const apiA = () => new Client(a.baseUrl);

  beforeAll(async () => {
    requireBuild();
    database = await createTestDatabase({ durable: true });
    [a, b] = (await cluster.start(2, {
      DATABASE_URL: database.url,
      VERIFY_CACHE_MAX_AGE_MS: String(CACHE_MAX_AGE_MS),
      TOKEN_CREATIONS_PER_USER_PER_HOUR: "1000000",
      MAX_ACTIVE_TOKENS_PER_USER: "1000",
      // The flood of made-up tokens below comes from one address.
      BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "100000000",
    })) as [ServerProcess, ServerProcess];
    ({ client: owner } = await signUpUser(a.baseUrl));
    appId = await createApp(owner);
  });
  afterAll(async () => {
    await cluster.stop();
    await database?.drop();
  });

  /** The status `POST /api/v1/service/verify` answers on `server` with `key`. */
  async function serviceVerifyStatus(server: ServerProcess, key: string): Promise<number> {
    const res = await fetch(`${server.baseUrl}/api/v1/service/verify`, {
      method: "POST",
      headers: { ...bearer(key), "content-type": "application/json" },
      body: JSON.stringify({ token: `kw_${"a".repeat(36)}` }),
    });
    await res.text();
    return res.status;
  }

  /** A counter of a process, from its `/metrics`. */
  async function counter(server: ServerProcess, name: string): Promise<number> {
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const line = new RegExp(`^${name} (\\d+)`, "m").exec(text);
    if (!line?.[1]) throw new Error(`no ${name} in /metrics: ${text.slice(0, 200)}`);
    return Number(line[1]);
  }

  const keyLookups = (server: ServerProcess) =>
    counter(server, "keyward_service_key_lookups_total");
  const secretLookups = (server: ServerProcess) => counter(server, "keyward_secret_lookups_total");

  /** A new token, already verified (and so cached) on `server`. */
  async function cachedToken(server: ServerProcess, name: string) {
    return cache(server, await createToken(owner, appId, { name }));
  }

  async function cache(server: ServerProcess, token: { id: string; token: string }) {
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(token.token))).status).toBe(200);
    expect((await api.get("/api", bearer(token.token))).status).toBe(200);
    return { ...token, api };
  }

  /**
   * Revokes through A, then asks `api` (on B) as fast as it answers until it refuses.
   * Returns the time from A's acknowledgement (204) to B's first 401, and from the start
   * of the revoke request.
   */
  async function revokeAndPoll(token: { id: string; token: string; api: Client }) {
    const sent = performance.now();
    const revoked = await owner.delete(`/api/v1/applications/${appId}/tokens/${token.id}`);
    const acknowledged = performance.now();
    expect(revoked.status).toBe(204);
    let polls = 0;
    // Not pollUntil: no pause between requests, since the time to the first 401 and the
    // number of requests it took are what is measured.
    for (;;) {
      polls++;
      const res = await token.api.get("/api", bearer(token.token));
      if (res.status === 401) break;
      expect(res.status).toBe(200);
      if (performance.now() - acknowledged > 2 * CACHE_MAX_AGE_MS) throw new Error("never refused");
    }
    const refused = performance.now();
    return { fromAck: refused - acknowledged, fromSend: refused - sent, polls };
  }

  it(`refuses a token revoked on A within ${P99_BOUND_MS} ms (p99) on B, over ${TRIALS} trials`, async () => {
    const fromAck: number[] = [];
    const fromSend: number[] = [];
    let firstRequestRefused = 0;
    // Created up front (not part of what is measured), ten at a time.
    const tokens: Array<{ id: string; token: string }> = [];
    for (let i = 0; i < TRIALS; i += 10) {
      tokens.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, j) =>
            createToken(owner, appId, { name: `trial ${i + j}` }),
          ),
        )),
      );
    }
    for (const created of tokens) {
      const token = await cache(b, created);
      const t = await revokeAndPoll(token);
      fromAck.push(t.fromAck);
      fromSend.push(t.fromSend);
      if (t.polls === 1) firstRequestRefused++;
    }
    const ack = summarize(fromAck);
    const send = summarize(fromSend);
    console.log(
      `revocation A -> B over ${TRIALS} trials, from A's 204: p50 ${fmt(ack.p50)}, p99 ${fmt(ack.p99)}, max ${fmt(ack.max)}` +
        `; from the revoke request: p50 ${fmt(send.p50)}, p99 ${fmt(send.p99)}, max ${fmt(send.max)}` +
        `; B refused its first request after the 204 in ${firstRequestRefused}/${TRIALS} trials`,
    );
    expect(ack.p99).toBeLessThanOrEqual(P99_BOUND_MS);
    expect(ack.max).toBeLessThanOrEqual(MAX_BOUND_MS);
  }, 120_000);

  it("refuses a service key revoked on A within the same bound on B, which serves it from memory", async () => {
    const SERVICE_TRIALS = 20;
    const fromAck: number[] = [];
    for (let i = 0; i < SERVICE_TRIALS; i++) {
      const { key, id } = await createServiceKey(owner, appId, `trial ${i}`);
      const verifyOnB = () => serviceVerifyStatus(b, key);
      expect(await verifyOnB()).toBe(200);
      if (i === 0) {
        // B answers from memory, so the refusal below is the notification's doing: twenty
        // calls in a row that read no key. B caches nothing while its channel is down or
        // when a change is heard during the read, so this waits for such a run (a call that
        // reads each time never makes one), and says what B's channel did if none comes.
        await pollUntil(
          () =>
            `B to answer twenty calls in a row from memory; B's channel said:\n${b
              .output()
              .split("\n")
              .filter((line) => line.includes("channel"))
              .join("\n")}`,
          async () => {
            const before = await keyLookups(b);
            for (let j = 0; j < 20; j++) expect(await verifyOnB()).toBe(200);
            return (await keyLookups(b)) === before;
          },
          { timeoutMs: 2 * CACHE_MAX_AGE_MS },
        );
      }
      const revoked = await owner.delete(`/api/v1/applications/${appId}/service-keys/${id}`);
      const acknowledged = performance.now();
      expect(revoked.status).toBe(204);
      for (;;) {
        const status = await verifyOnB();
        if (status === 401) break;
        expect(status).toBe(200);
        if (performance.now() - acknowledged > 2 * CACHE_MAX_AGE_MS)
          throw new Error("never refused");
      }
      fromAck.push(performance.now() - acknowledged);
    }
    const s = summarize(fromAck);
    console.log(
      `service-key revocation A -> B over ${SERVICE_TRIALS} trials, from A's 204: p50 ${fmt(s.p50)}, p99 ${fmt(s.p99)}, max ${fmt(s.max)}`,
    );
    expect(s.p99).toBeLessThanOrEqual(P99_BOUND_MS);
    expect(s.max).toBeLessThanOrEqual(MAX_BOUND_MS);
  }, 60_000);

  it("refuses a service key revoked while B's listening connection is down, without waiting for the maximum age", async () => {
    const { key, id } = await createServiceKey(owner, appId, "listener down");
    const verifyOnB = () => serviceVerifyStatus(b, key);
    expect(await verifyOnB()).toBe(200);
    expect(await verifyOnB()).toBe(200);
    expect(await killListener(b)).toBe(true);
    const revoked = await owner.delete(`/api/v1/applications/${appId}/service-keys/${id}`);
    const acknowledged = performance.now();
    expect(revoked.status).toBe(204);
    // B cannot hear the notification; it stops trusting its caches when its channel drops
    // (and empties them when it is back), so it does not keep the key for its maximum age.
    await pollUntil("B to refuse the key", async () => (await verifyOnB()) === 401, {
      timeoutMs: 2 * CACHE_MAX_AGE_MS,
    });
    const elapsed = performance.now() - acknowledged;
    console.log(`service key revoked with B's listener down: refused after ${fmt(elapsed)}`);
    expect(elapsed).toBeLessThanOrEqual(MAX_BOUND_MS);
    await pollUntil("B's listener to come back", () => listenerConnected(b), { timeoutMs: 10_000 });
  });

  it("accepts on B a token the moment A has created it, while B refuses a flood of made-up tokens from memory", async () => {
    // B's secret filter answers made-up tokens without a lookup, and the flood keeps its
    // fences fresh, so B answers absent prefixes at once: each new token must be in B's
    // filter by the time it is presented there. (The margin for that, the creator's wait
    // after its commit, is tested where a question can follow a commit more closely than
    // two HTTP requests can: pg-secret-filter.test.ts.)
    const lookupsBefore = await secretLookups(b);
    let flooding = true;
    let madeUp = 0;
    // A wrong answer stops the flood and is reported after it, as itself.
    let wrong: string | undefined;
    const flood = Array.from({ length: 4 }, async () => {
      const api = new Client(b.baseUrl);
      while (flooding && wrong === undefined) {
        const res = await api.get("/api", bearer(generateToken(cryptoRandom, "kw")));
        if (res.status !== 401) wrong = `a made-up token got ${res.status}`;
        madeUp++;
      }
    });
    const created = 30;
    try {
      await pollUntil("the flood under way", () => madeUp >= 200 || wrong !== undefined);
      const onB = new Client(b.baseUrl);
      for (let i = 0; i < created; i++) {
        const token = await createToken(owner, appId, { name: `created under a flood ${i}` });
        const res = await onB.get("/api", bearer(token.token));
        expect(res.status, `token ${i}`).toBe(200);
      }
    } finally {
      flooding = false;
      await Promise.all(flood);
    }
    expect(wrong).toBeUndefined();
    // Each created token was looked up once; none of the made-up ones was.
    expect(await secretLookups(b)).toBeLessThanOrEqual(lookupsBefore + created);
    expect(madeUp).toBeGreaterThan(10 * created);
  });

  it("refuses on B from memory once B hears of the revocation: B does not look the token up again", async () => {
    // So B's refusal waits for the notification only, never for a storage read (which a
    // busy database can make slow).
    const token = await cachedToken(b, "from memory");
    const misses = await counter(b, "keyward_verify_cache_misses_total");
    const revoked = await owner.delete(`/api/v1/applications/${appId}/tokens/${token.id}`);
    expect(revoked.status).toBe(204);
    await pollUntil(
      "B to refuse the revoked token",
      async () => (await token.api.get("/api", bearer(token.token))).status === 401,
    );
    expect((await token.api.get("/api", bearer(token.token))).status).toBe(401);
    expect(await counter(b, "keyward_verify_cache_misses_total")).toBe(misses);
  });

  it("serves B from memory: a change made behind Keyward's back is seen only when the cache entry ages out", async () => {
    // The control for the test above: B really answers from its cache (so the prompt
    // refusal there is the notification's doing), and the maximum age still holds when no
    // notification ever comes.
    const token = await cachedToken(b, "silent");
    const revokedAt = Date.now();
    await adminQuery("select 1"); // warm the admin path, so timing below is the UPDATE's
    const { url } = database;
    const { Client: PgClient } = await import("pg");
    const pg = new PgClient({ connectionString: url });
    await pg.connect();
    try {
      await pg.query("update tokens set revoked_at = $1, revoked_reason = 'admin' where id = $2", [
        revokedAt,
        token.id,
      ]);
    } finally {
      await pg.end();
    }
    const updated = performance.now();
    expect((await token.api.get("/api", bearer(token.token))).status).toBe(200);
    await pollUntil(
      "B to refuse the token changed behind its back",
      async () => (await token.api.get("/api", bearer(token.token))).status === 401,
      { timeoutMs: 2 * CACHE_MAX_AGE_MS },
    );
    const elapsed = performance.now() - updated;
    console.log(
      `without a notification, B refused after ${fmt(elapsed)} (max age ${CACHE_MAX_AGE_MS} ms)`,
    );
    expect(elapsed).toBeLessThanOrEqual(CACHE_MAX_AGE_MS + 100);
  });

  it("stays within the cache maximum age when B's listening connection is killed", async () => {
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const token = await cachedToken(b, `killed ${i}`);
      expect(await killListener(b)).toBe(true);
      const t = await revokeAndPoll(token);
      times.push(t.fromAck);
      await pollUntil("B's listener to come back", () => listenerConnected(b), {
        timeoutMs: 10_000,
      });
    }
    // After the channel is back, B answers from memory again and hears revocations.
    const token = await cachedToken(b, "after reconnect");
    const back = await revokeAndPoll(token);
    const s = summarize(times);
    console.log(
      `revocation with B's listener killed (${times.length} trials): p50 ${fmt(s.p50)}, max ${fmt(s.max)}; after reconnect: ${fmt(back.fromAck)}`,
    );
    expect(s.max).toBeLessThanOrEqual(CACHE_MAX_AGE_MS);
    expect(back.fromAck).toBeLessThanOrEqual(MAX_BOUND_MS);
    // A still works throughout: its own cache and channel were untouched.
    expect((await apiA().get("/healthz")).status).toBe(200);
  });
});
