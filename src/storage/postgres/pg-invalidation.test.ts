import { Client } from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../test-support/poll.js";
import {
  adminQuery,
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../../test-support/postgres.js";
import { TcpProxy } from "../../test-support/tcp-proxy.js";
import {
  chunkPayloads,
  INVALIDATE_ALL_PAYLOAD,
  INVALIDATION_CHANNEL,
  MAX_PAYLOAD_BYTES,
  type PgInvalidation,
  REVOKED_PAYLOAD_PREFIX,
  revocationPayloads,
  startPgInvalidation,
  type VerificationCache,
} from "./pg-invalidation.js";
import { createPostgresStore, type PostgresStore } from "./postgres-store.js";

describe("chunkPayloads", () => {
  it("keeps every id, in order, in payloads under the byte limit", () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `tok_${String(i).padStart(20, "0")}`);
    const payloads = chunkPayloads(ids, 200);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(200);
    expect(payloads.join(",").split(",")).toEqual(ids);
    expect(chunkPayloads(["tok_a", "tok_b"])).toEqual(["tok_a,tok_b"]);
    expect(chunkPayloads([])).toEqual([]);
  });

  it("refuses an id that would corrupt the list", () => {
    expect(() => chunkPayloads(["tok_a,tok_b"])).toThrow();
  });

  it("splits a revocation of thousands of tokens under the payload limit, marked and plain", () => {
    const ids = Array.from({ length: 3000 }, (_, i) => `tok_${String(i).padStart(20, "0")}`);
    const payloads = revocationPayloads(ids);
    const marked = payloads.filter((p) => p.startsWith(REVOKED_PAYLOAD_PREFIX));
    const plain = payloads.filter((p) => !p.startsWith(REVOKED_PAYLOAD_PREFIX));
    expect(payloads.slice(0, marked.length)).toEqual(marked);
    expect(marked.length).toBeGreaterThan(1);
    // Split alike, so a receiver can match each plain copy to its marked one.
    expect(plain).toEqual(marked.map((p) => p.slice(REVOKED_PAYLOAD_PREFIX.length)));
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    expect(
      marked
        .map((p) => p.slice(REVOKED_PAYLOAD_PREFIX.length))
        .join(",")
        .split(","),
    ).toEqual(ids);
    expect(plain.join(",").split(",")).toEqual(ids);
  });
});

/** A cache that records what it was told, in order. */
function recordingCache() {
  const events: string[] = [];
  const cache: VerificationCache & { events: string[]; trusted: boolean } = {
    events,
    trusted: true,
    invalidate: (ids) => events.push(`invalidate:${ids.join(",")}`),
    revoke: (ids) => events.push(`revoke:${ids.join(",")}`),
    invalidateAll: () => events.push("invalidateAll"),
    setCacheTrusted: (trusted) => {
      cache.trusted = trusted;
      events.push(`trusted:${trusted}`);
    },
  };
  return cache;
}

const enabled = postgresAvailable();

describe.skipIf(!enabled)("LISTEN/NOTIFY invalidation", () => {
  let database: TestDatabase;
  let store: PostgresStore;
  const open: PgInvalidation[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    store = await createPostgresStore({ url: database.url });
  });
  afterEach(async () => {
    for (const listener of open.splice(0)) await listener.close();
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  async function start(name: string, cache = recordingCache()) {
    const listener = await startPgInvalidation({
      url: database.url,
      cache,
      notify: store.notify,
      applicationName: `keyward-listener-test:${name}`,
      reconnectDelayMs: { initial: 20, max: 200 },
    });
    open.push(listener);
    return { listener, cache };
  }

  it("evicts locally at once and in the other process on receipt", async () => {
    const a = await start("a");
    const b = await start("b");
    expect(a.listener.listening).toBe(true);
    expect(b.cache.trusted).toBe(true);
    await a.listener.tokenChanged(["tok_1", "tok_2"]);
    expect(a.cache.events).toContain("invalidate:tok_1,tok_2");
    await pollUntil("B to evict tok_1 and tok_2", () =>
      b.cache.events.includes("invalidate:tok_1,tok_2"),
    );
  });

  it("sends a revocation marked and plain: this version refuses from memory, an earlier one still evicts", async () => {
    const a = await start("a");
    const b = await start("b");
    // A process of the version before marked revocations, which read every payload but
    // '*' as a list of ids.
    const earlier: string[] = [];
    const old = new Client({ connectionString: database.url });
    await old.connect();
    old.on("notification", (message) => earlier.push(...(message.payload ?? "").split(",")));
    await old.query(`listen ${INVALIDATION_CHANNEL}`);
    await a.listener.tokensRevoked(["tok_1", "tok_2"]);
    expect(a.cache.events.slice(0, 4)).toEqual([
      "trusted:false",
      "invalidateAll",
      "trusted:true",
      "revoke:tok_1,tok_2",
    ]);
    // Acted on once: the plain copy, for earlier versions, is skipped. A change after it is not.
    await a.listener.tokenChanged(["tok_1"]);
    await pollUntil("B to hear the revocation and the change", () => b.cache.events.length === 5);
    expect(b.cache.events.slice(3)).toEqual(["revoke:tok_1,tok_2", "invalidate:tok_1"]);
    try {
      await pollUntil("the earlier version to hear both copies", () => earlier.length === 5);
      // The plain copy names both; the marked one reads as an id no token has, and tok_2.
      expect(earlier).toEqual(["revoked:tok_1", "tok_2", "tok_1", "tok_2", "tok_1"]);
    } finally {
      await old.end();
    }
  });

  it("delivers a change to thousands of tokens in several notifications", async () => {
    const a = await start("a");
    const b = await start("b");
    const ids = Array.from({ length: 3000 }, (_, i) => `tok_${String(i).padStart(20, "0")}`);
    await a.listener.tokenChanged(ids);
    const received = () =>
      b.cache.events
        .filter((e) => e.startsWith("invalidate:"))
        .flatMap((e) => e.slice("invalidate:".length).split(","));
    await pollUntil("every change to reach B", () => received().length === ids.length);
    expect(received()).toEqual(ids);
  });

  it("drops the whole cache on an operator's '*' notification", async () => {
    const b = await start("b");
    b.cache.events.length = 0;
    await store.notify(INVALIDATION_CHANNEL, [INVALIDATE_ALL_PAYLOAD]);
    await pollUntil("B to empty its cache", () => b.cache.events.includes("invalidateAll"));
  });

  it("distrusts the cache the moment its connection is killed, and trusts it again only after LISTEN is back and the cache is emptied", async () => {
    const b = await start("killed");
    b.cache.events.length = 0;
    const killed = await adminQuery<{ ok: boolean }>(
      "select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1",
      ["keyward-listener-test:killed"],
    );
    expect(killed).toEqual([{ ok: true }]);
    // Soon after the kill (2 s leaves room for a loaded machine), or this throws.
    await pollUntil("the cache to be distrusted", () => !b.cache.trusted, {
      timeoutMs: 2000,
      intervalMs: 2,
    });
    expect(b.listener.listening).toBe(false);
    await pollUntil("LISTEN to be back", () => b.listener.listening, { timeoutMs: 15_000 });
    // Distrusted first (once per failed attempt, if any), emptied, and only then trusted.
    expect(b.cache.events.slice(-2)).toEqual(["invalidateAll", "trusted:true"]);
    const before = b.cache.events.slice(0, -2);
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((e) => e === "trusted:false")).toBe(true);

    // And it hears changes again.
    const a = await start("a");
    await a.listener.tokenChanged(["tok_after"]);
    await pollUntil("B to evict tok_after", () => b.cache.events.includes("invalidate:tok_after"));
  });

  it("closes at once over a network that carries nothing, connected or connecting", async () => {
    const proxy = await TcpProxy.inFrontOf(database.url);
    try {
      for (const connecting of [false, true]) {
        const cache = recordingCache();
        const listener = await startPgInvalidation({
          url: proxy.urlFor(database.url),
          cache,
          notify: store.notify,
          reconnectDelayMs: { initial: 20, max: 200 },
          timeoutMs: 5_000,
        });
        expect(listener.listening).toBe(true);
        if (connecting) {
          // Lost, and reconnecting into the silence: the connect would wait out its 5 s.
          proxy.cut();
          await pollUntil("the connection lost", () => !listener.listening);
          proxy.blackhole();
          await pollUntil("a connect under way", () => proxy.connections > 0);
        } else {
          // Connected, but the server's side of the goodbye never comes.
          proxy.blackhole();
        }
        const closing = performance.now();
        await listener.close();
        expect(performance.now() - closing).toBeLessThan(2_000);
        proxy.restore();
      }
    } finally {
      await proxy.close();
    }
  });

  it("closes at once when the server hangs up during the handshake", async () => {
    const proxy = await TcpProxy.inFrontOf(database.url);
    proxy.hangUp();
    let listener: PgInvalidation | undefined;
    try {
      listener = await startPgInvalidation({
        url: proxy.urlFor(database.url),
        cache: recordingCache(),
        notify: store.notify,
        reconnectDelayMs: { initial: 20, max: 200 },
        timeoutMs: 5_000,
      });
      expect(listener.listening).toBe(false);
      const closing = performance.now();
      await listener.close();
      expect(performance.now() - closing).toBeLessThan(500);
    } finally {
      await listener?.close();
      await proxy.close();
    }
  });

  it("serves untrusted while it cannot connect, and keeps trying", async () => {
    const cache = recordingCache();
    const listener = await startPgInvalidation({
      url: "postgres://postgres@127.0.0.1:1/none",
      cache,
      notify: async () => {},
      reconnectDelayMs: { initial: 10, max: 20 },
      timeoutMs: 200,
    });
    open.push(listener);
    expect(listener.listening).toBe(false);
    expect(cache.trusted).toBe(false);
    // It keeps trying: several failed attempts, and the cache never trusted meanwhile.
    await pollUntil("several reconnection attempts", () => cache.events.length > 2);
    expect(cache.events.every((e) => e === "trusted:false")).toBe(true);
  });
});
