import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { KeywardError } from "../core/errors.js";
import type { Store } from "../services/ports.js";
import {
  DEFAULT_REVOCATION_STREAM_OPTIONS,
  RevocationStream,
  type RevocationStreamOptions,
  SecretEndSweeper,
} from "../services/revocation-stream.js";
import { createPostgresStore } from "../storage/postgres/postgres-store.js";
import { createSqliteStore } from "../storage/sqlite/sqlite-store.js";
import { pollUntil } from "../test-support/poll.js";
import {
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../test-support/postgres.js";
import { SseReader } from "../test-support/sse.js";
import { contractApp } from "./contract-route.js";
import { handleError } from "./problem.js";
import { serviceEventsRoutes } from "./routes/service-events.js";

// The revocation stream over real HTTP on a real SQLite file. Service keys are the lead's
// (src/http/service-auth.ts); until they are wired in, `authenticate` here takes
// `Bearer key:<applicationId>:<keyId>`, and the tests make changes the way the services do:
// the store call with its audit event, then `changed()` as TokenInvalidation does.

/** A clock that stands still until the test moves it. */
class FixedClock {
  constructor(private t = Date.UTC(2030, 0, 15, 12)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

const root = mkdtempSync(join(tmpdir(), "keyward-service-events-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

interface World {
  store: Store;
  /** Set when the store is PostgreSQL. */
  databaseUrl: string | undefined;
  clock: { now(): number; advance(ms: number): void };
  stream: RevocationStream;
  app: FastifyInstance;
  url: string;
  appId: string;
  userId: string;
  /** Opens a stream as `keyId` of `applicationId` (the test application by default). */
  open(options?: {
    lastEventId?: string;
    keyId?: string;
    applicationId?: string;
  }): Promise<SseReader>;
  newToken(applicationId?: string): Promise<string>;
  revoke(tokenId: string, applicationId?: string): Promise<void>;
  close(): Promise<void>;
}

const worlds: World[] = [];
const readers: SseReader[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  for (const w of worlds.splice(0)) await w.close();
});

async function startWorld(
  options: Partial<RevocationStreamOptions> & {
    wallClock?: boolean;
    postgres?: boolean;
  } = {},
): Promise<World> {
  let database: TestDatabase | undefined;
  let store: Store;
  if (options.postgres) {
    database = await createTestDatabase();
    store = await createPostgresStore({ url: database.url });
  } else {
    store = await createSqliteStore({ path: join(root, `${++files}.db`) });
  }
  const clock = options.wallClock
    ? {
        now: () => Date.now(),
        advance: () => {
          throw new Error("the wall clock cannot be moved");
        },
      }
    : new FixedClock();
  const stream = new RevocationStream(
    store.revocations,
    clock,
    { ...DEFAULT_REVOCATION_STREAM_OPTIONS, ...options },
    { warn: (fields, message) => console.warn(message, fields) },
  );
  stream.start();
  const app = Fastify({ logger: false });
  app.setErrorHandler(handleError);
  serviceEventsRoutes(contractApp(app), {
    stream,
    maxBufferedBytes: 256 * 1024,
    authenticate: async (request) => {
      const match = /^Bearer key:(app_\w+):(\w+)$/.exec(request.headers.authorization ?? "");
      if (!match) throw new KeywardError("invalid_token", "Bad service key.");
      return { applicationId: match[1] ?? "", keyId: match[2] ?? "", keyName: "test" };
    },
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  const url =
    typeof address === "object" && address
      ? `http://127.0.0.1:${address.port}/api/v1/service/events`
      : "";
  const T0 = clock.now();
  const userId = "usr_00000000000000000001";
  await store.users.insertUser({
    id: userId,
    email: "owner@example.com",
    name: "Owner",
    passwordHash: "x",
    createdAt: T0,
  });
  const addApp = async (id: string) =>
    store.applications.insertApplication({
      id,
      name: id,
      ownerId: userId,
      scopes: [],
      returnOrigins: [],
      branding: null,
      createdAt: T0,
    });
  const appId = "app_00000000000000000001";
  await addApp(appId);
  await addApp("app_00000000000000000002");
  let tokens = 0;
  const world: World = {
    store,
    databaseUrl: database?.url,
    clock,
    stream,
    app,
    url,
    appId,
    userId,
    open: async ({ lastEventId, keyId = "k1", applicationId = appId } = {}) => {
      const reader = await SseReader.open(url, {
        authorization: `Bearer key:${applicationId}:${keyId}`,
        ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }),
      });
      readers.push(reader);
      return reader;
    },
    newToken: async (applicationId = appId) => {
      const id = `tok_${String(++tokens).padStart(20, "0")}`;
      const inserted = await store.tokens.insertToken(
        {
          id,
          applicationId,
          userId,
          name: id,
          hint: "kw_…",
          scopes: [],
          createdAt: clock.now(),
          expiresAt: null,
          secretHash: `hash-${id}`,
        },
        { maxActivePerUser: 100_000, now: clock.now() },
      );
      expect(inserted).toEqual({ ok: true });
      return id;
    },
    revoke: async (tokenId, applicationId = appId) => {
      const now = clock.now();
      await store.tokens.revokeToken({ tokenId, now, reason: "admin", revokedBy: userId }, [
        {
          applicationId,
          userId,
          actorId: userId,
          tokenId,
          action: "token.revoked",
          reason: "admin",
          detail: {},
          ip: null,
          createdAt: now,
        },
      ]);
      stream.changed();
    },
    close: async () => {
      await app.close();
      await store.close();
      await database?.drop();
    },
  };
  worlds.push(world);
  return world;
}

describe("GET /api/v1/service/events", () => {
  it("answers with an event stream: a position first, then each revocation with id, type and data", async () => {
    const w = await startWorld();
    const token = await w.newToken();
    const reader = await w.open();
    expect(reader.status).toBe(200);
    expect(reader.response.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(reader.response.headers["cache-control"]).toBe("no-store");
    expect(reader.response.headers["x-content-type-options"]).toBeUndefined();
    const position = await reader.waitFor("the position", (r) => r.lastId);
    expect(position).toMatch(/^[0-9]+$/);

    await w.revoke(token);
    const [event] = await reader.waitForEvents(1);
    expect(event?.event).toBe("token.revoked");
    expect(Number(event?.id)).toBeGreaterThan(Number(position));
    expect(JSON.parse(event?.data ?? "")).toEqual({
      tokenId: token,
      at: new Date(w.clock.now()).toISOString(),
    });
    // The wire format, byte for byte.
    expect(reader.body).toContain(
      `id: ${event?.id}\nevent: token.revoked\ndata: {"tokenId":"${token}","at":"`,
    );
  });

  it("sends only the key's own application's events, to every stream open for it", async () => {
    const w = await startWorld();
    const other = "app_00000000000000000002";
    const mine = await w.newToken();
    const theirs = await w.newToken(other);
    const [a, b] = [await w.open(), await w.open({ keyId: "k2" })];
    const c = await w.open({ applicationId: other, keyId: "k3" });
    await w.revoke(theirs, other);
    await w.revoke(mine);
    for (const reader of [a, b]) {
      await reader.waitForEvents(1);
      expect(reader.events.map((e) => JSON.parse(e.data ?? "").tokenId)).toEqual([mine]);
    }
    await c.waitForEvents(1);
    expect(c.events.map((e) => JSON.parse(e.data ?? "").tokenId)).toEqual([theirs]);
  });

  it("replays what a reader missed after its Last-Event-ID, and nothing twice", async () => {
    const w = await startWorld();
    const tokens = [await w.newToken(), await w.newToken(), await w.newToken()];
    const first = await w.open();
    await w.revoke(tokens[0] ?? "");
    await first.waitForEvents(1);
    first.close();
    await pollUntil("the stream to close", () => w.stream.openStreams === 0);
    await w.revoke(tokens[1] ?? "");
    await w.revoke(tokens[2] ?? "", w.appId);
    await w.revoke(await w.newToken("app_00000000000000000002"), "app_00000000000000000002");

    const again = await w.open({ lastEventId: first.lastId });
    const replayed = await again.waitForEvents(2);
    expect(replayed.map((e) => JSON.parse(e.data ?? "").tokenId)).toEqual(tokens.slice(1));
    // Live events follow the replay, once each.
    const later = await w.newToken();
    await w.revoke(later);
    await again.waitForEvents(3);
    expect(again.events.map((e) => JSON.parse(e.data ?? "").tokenId)).toEqual([
      ...tokens.slice(1),
      later,
    ]);
    // A reader that missed nothing gets its position back and no event.
    const current = await w.open({ lastEventId: again.lastId });
    await current.waitFor("the position", (r) => r.lastId === again.lastId);
    expect(current.events).toEqual([]);
  });

  it("sends reset when it cannot replay: garbage, an id it never gave, a pruned range, too much missed", async () => {
    const w = await startWorld({ maxReplayEvents: 3 });
    const reader = await w.open();
    const start = await reader.waitFor("the position", (r) => r.lastId);
    const tokens = [];
    for (let i = 0; i < 5; i++) tokens.push(await w.newToken());
    for (const t of tokens) await w.revoke(t);
    const events = await reader.waitForEvents(5);
    const head = events.at(-1)?.id ?? "";

    const resetFor = async (lastEventId: string) => {
      const r = await w.open({ lastEventId });
      const [event] = await r.waitForEvents(1);
      r.close();
      return event;
    };
    for (const garbage of ["abc", "-1", "1e3", "12 13", "9".repeat(40)]) {
      expect((await resetFor(garbage))?.event).toBe("reset");
    }
    const reset = await resetFor(String(Number(head) + 1000));
    expect(reset).toMatchObject({ event: "reset", id: head, data: "{}" });
    // Five missed, three at most replayed.
    expect((await resetFor(start))?.event).toBe("reset");
    // Two missed: replayed.
    expect((await resetFor(events[2]?.id ?? ""))?.event).toBe("token.revoked");

    // Everything older than now is pruned; the newest stays as the floor.
    w.clock.advance(1000);
    await w.store.revocations.prune(w.clock.now());
    expect((await resetFor(events[3]?.id ?? ""))?.event).toBe("reset");
    const atFloor = await w.open({ lastEventId: head });
    await atFloor.waitFor("the position", (r) => r.lastId === head);
    expect(atFloor.events).toEqual([]);
  });

  it("sends a keep-alive comment on an idle stream", async () => {
    const w = await startWorld({ keepAliveMs: 30 });
    const reader = await w.open();
    await reader.waitFor("three keep-alive comments", (r) => r.comments >= 3);
    expect(reader.body).toContain(": keep-alive\n\n");
    expect(reader.events).toEqual([]);
  });

  it("refuses a key's stream beyond the limit with 429 too_many_streams, and takes one once another closes", async () => {
    const w = await startWorld({ maxStreamsPerKey: 2 });
    const open = [await w.open(), await w.open()];
    for (const r of open) await r.waitFor("the position", (x) => x.lastId);
    const refused = await w.open();
    expect(refused.status).toBe(429);
    expect(refused.response.headers["content-type"]).toContain("application/problem+json");
    await refused.waitFor("the problem body", (r) => r.ended);
    expect(JSON.parse(refused.body)).toMatchObject({ status: 429, code: "too_many_streams" });
    // Another key of the same application has places of its own.
    expect((await w.open({ keyId: "k2" })).status).toBe(200);

    open[0]?.close();
    await pollUntil("a place to free up", async () => {
      const r = await w.open();
      if (r.status === 200) return true;
      r.close();
      return false;
    });
  });

  it("answers HEAD with the stream's headers at once, holding no stream open", async () => {
    const w = await startWorld({ maxStreamsPerKey: 1 });
    const head = () =>
      fetch(w.url, { method: "HEAD", headers: { authorization: `Bearer key:${w.appId}:k1` } });
    for (let i = 0; i < 3; i++) {
      const answer = await head();
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      expect(answer.headers.get("cache-control")).toBe("no-store");
      expect(await answer.text()).toBe("");
    }
    // The key's one place is still free; taken, HEAD is refused as GET is.
    const reader = await w.open();
    expect(reader.status).toBe(200);
    await reader.waitFor("the position", (r) => r.lastId);
    const full = await head();
    expect(full.status).toBe(429);
    expect(full.headers.get("content-type")).toContain("application/problem+json");
    expect(
      (await fetch(w.url, { method: "HEAD", headers: { authorization: "Bearer nope" } })).status,
    ).toBe(401);
  });

  it("refuses a request without a service key as the authenticator says, before any stream", async () => {
    const w = await startWorld();
    const reader = await SseReader.open(w.url);
    expect(reader.status).toBe(401);
    await reader.waitFor("the problem body", (r) => r.ended);
    expect(JSON.parse(reader.body)).toMatchObject({ code: "invalid_token" });
    expect(w.stream.openStreams).toBe(0);
  });

  // PostgreSQL only: the kernel's socket buffers take megabytes before the server's own
  // queue grows, and only there can the test write that many events in one statement.
  it.skipIf(!postgresAvailable())(
    "disconnects a reader that stops reading, without holding up the others",
    async () => {
      const w = await startWorld({ stalledAfterMs: 300, keepAliveMs: 20, postgres: true });
      const healthy = await w.open();
      await healthy.waitFor("the position", (r) => r.lastId);
      // A raw connection that sends the request and never reads a byte of the answer.
      const stalled = connect(Number(new URL(w.url).port), "127.0.0.1");
      await new Promise<void>((resolve) => stalled.on("connect", resolve));
      stalled.pause();
      stalled.on("error", () => {});
      stalled.write(
        `GET /api/v1/service/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key:${w.appId}:k2\r\n\r\n`,
      );
      await pollUntil("both streams to be open", () => w.stream.openStreams === 2);

      // Far more than the socket buffers hold: 60,000 events (about 6.6 MB of stream).
      const count = 60_000;
      await insertEvents(w, count);
      const started = performance.now();
      w.stream.changed();
      await healthy.waitForEvents(count, 30_000);
      const elapsed = performance.now() - started;
      // The stalled reader is behind (its buffer full), and still connected until that has
      // lasted `stalledAfterMs`; then it is disconnected. (A paused socket never notices.)
      await pollUntil("the stalled reader to fall behind", () => w.stream.streamsBehind === 1);
      expect(w.stream.openStreams).toBe(2);
      w.clock.advance(300);
      await pollUntil("the stalled reader to be disconnected", () => w.stream.openStreams === 1);
      expect(w.stream.streamsBehind).toBe(0);
      // The healthy reader still hears new events at once.
      const token = await w.newToken();
      const sent = performance.now();
      await w.revoke(token);
      await healthy.waitForEvents(count + 1);
      const last = healthy.events.at(-1);
      expect(JSON.parse(last?.data ?? "").tokenId).toBe(token);
      expect((last?.receivedAt ?? Number.POSITIVE_INFINITY) - sent).toBeLessThan(1000);
      expect(elapsed).toBeLessThan(20_000);
      stalled.destroy();
    },
  );

  it("ends open streams when the server closes, without waiting for them", async () => {
    const w = await startWorld();
    const readersOpen = [await w.open(), await w.open({ keyId: "k2" })];
    for (const r of readersOpen) await r.waitFor("the position", (x) => x.lastId);
    const started = performance.now();
    await w.app.close();
    // Not held open by the streams (a stream waits up to its whole life otherwise); 5 s
    // leaves room for a loaded machine.
    expect(performance.now() - started).toBeLessThan(5000);
    for (const r of readersOpen) await r.waitFor("the stream to end", (x) => x.ended);
  });
});

describe("secret.ended", () => {
  async function regenerate(w: World, tokenId: string, graceMs: number) {
    const now = w.clock.now();
    const replaced = await w.store.tokens.replaceSecret(
      {
        tokenId,
        secretHash: `next-${tokenId}-${now}`,
        hint: "kw_…n",
        now,
        oldSecretsExpireAt: now + graceMs,
      },
      [
        {
          applicationId: w.appId,
          userId: w.userId,
          actorId: w.userId,
          tokenId,
          action: "token.regenerated",
          reason: null,
          detail: { graceSeconds: graceMs / 1000 },
          ip: null,
          createdAt: now,
        },
      ],
    );
    expect(replaced).toBe(true);
    w.stream.changed();
    return now + graceMs;
  }

  it("comes at once for a regeneration without grace", async () => {
    const w = await startWorld();
    const token = await w.newToken();
    const reader = await w.open();
    await reader.waitFor("the position", (r) => r.lastId);
    const at = await regenerate(w, token, 0);
    const [event] = await reader.waitForEvents(1);
    expect(event?.event).toBe("secret.ended");
    expect(JSON.parse(event?.data ?? "")).toEqual({
      tokenId: token,
      at: new Date(at).toISOString(),
    });
  });

  it("comes at the end of the grace, by the clock the sweeper is given", async () => {
    const w = await startWorld();
    const announced: string[][] = [];
    const sweeper = new SecretEndSweeper(w.store.revocations, w.clock, async (ids) => {
      announced.push([...ids]);
      w.stream.changed();
    });
    const token = await w.newToken();
    const reader = await w.open();
    await reader.waitFor("the position", (r) => r.lastId);
    const end = await regenerate(w, token, 3_600_000);
    await sweeper.sweep();
    w.clock.advance(3_599_999);
    await sweeper.sweep();
    expect(announced).toEqual([]);
    w.clock.advance(1);
    await sweeper.sweep();
    expect(announced).toEqual([[token]]);
    const [event] = await reader.waitForEvents(1);
    expect(event?.event).toBe("secret.ended");
    expect(JSON.parse(event?.data ?? "").at).toBe(new Date(end).toISOString());
    await sweeper.close();
  });

  it("comes by the sweeper's own timer when the grace ends, not before", async () => {
    const w = await startWorld({ wallClock: true });
    const sweeper = new SecretEndSweeper(w.store.revocations, w.clock, async () => {
      w.stream.changed();
    });
    const token = await w.newToken();
    const reader = await w.open();
    await reader.waitFor("the position", (r) => r.lastId);
    const end = await regenerate(w, token, 1000);
    // What a token change does on every process: read the next end, set the timer.
    sweeper.reschedule();
    const [event] = await reader.waitForEvents(1, 5000);
    const arrived = w.clock.now();
    expect(event?.event).toBe("secret.ended");
    expect(arrived).toBeGreaterThanOrEqual(end);
    // At the end, not at a later look: 1.5 s leaves room for a loaded machine.
    expect(arrived - end).toBeLessThan(1500);
    await sweeper.close();
  });
});

/**
 * Appends `count` revocation events of the test application straight to the table, as if
 * that many tokens had been revoked at once (PostgreSQL: another connection can write).
 */
async function insertEvents(w: World, count: number): Promise<void> {
  if (w.databaseUrl === undefined) throw new Error("insertEvents needs PostgreSQL");
  const { Client } = await import("pg");
  const client = new Client({ connectionString: w.databaseUrl });
  await client.connect();
  try {
    await client.query(
      `insert into revocation_events (application_id, token_id, type, at)
       select $1, 'tok_bulk' || lpad(g::text, 16, '0'), 'token.revoked', $2
       from generate_series(1, $3::int) as g`,
      [w.appId, w.clock.now(), count],
    );
  } finally {
    await client.end();
  }
}
