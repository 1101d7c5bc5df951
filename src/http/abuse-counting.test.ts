import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import rateLimit from "@fastify/rate-limit";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KeywardError } from "../core/errors.js";
import type { CounterStore } from "../services/ports.js";
import { createSqliteStore, type SqliteStore } from "../storage/sqlite/sqlite-store.js";
import { AbuseGuard, rateLimitStoreFor } from "./abuse.js";

// The counters are shared (as on PostgreSQL, where several processes count together), in a
// real store; one read can be held after it has read, so its answer arrives late.
let dir: string;
let store: SqliteStore;
let app: FastifyInstance;
let guard: AbuseGuard;
let holdNextPairRead: { held: () => void; release: Promise<void> } | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-abuse-counting-"));
  store = await createSqliteStore({ path: join(dir, "k.db") });
  const counters: CounterStore = {
    increment: (key, windowMs, now) => store.counters.increment(key, windowMs, now),
    read: async (key, windowMs, now) => {
      const counted = await store.counters.read(key, windowMs, now);
      const hold = holdNextPairRead;
      if (hold !== undefined && key.startsWith("pair:")) {
        holdNextPairRead = undefined;
        hold.held();
        await hold.release;
      }
      return counted;
    },
    prune: (before) => store.counters.prune(before),
  };
  app = Fastify();
  await app.register(rateLimit, { global: false, store: rateLimitStoreFor(counters) });
  guard = new AbuseGuard(app, {
    signinFailuresPerAccountPerHour: 6,
    signinFailuresPerAccountAndAddressPerHour: 3,
    signinFailuresPerAddressPerHour: 20,
    signupsPerAddressPerHour: 3,
    bearerFailuresPerAddressPerMinute: 5,
    tokenCreationsPerUserPerHour: 4,
  });
});

afterEach(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What the limiters read of a sign-in request. */
const attacker = {
  ip: "203.0.113.9",
  body: { email: "owner@example.com" },
  routeOptions: { config: {} },
} as unknown as FastifyRequest;
const unknownAddress = async () => false;

describe("the sign-in limit when a check and a failure overlap", () => {
  it("does not let a check that read the count before a failure was recorded miss it", async () => {
    // Two failures counted, one by one: the pair (account and address) allows one more.
    for (let i = 0; i < 2; i++) {
      await (await guard.startSignin(attacker, unknownAddress)).failed();
    }
    const third = await guard.startSignin(attacker, unknownAddress);
    // A fourth guess reads the pair's count (2) while the third is under way, and its
    // answer is held back...
    let held!: () => void;
    const readHeld = new Promise<void>((resolve) => {
      held = resolve;
    });
    let release!: () => void;
    holdNextPairRead = {
      held,
      release: new Promise((resolve) => {
        release = resolve;
      }),
    };
    const fourth = guard.startSignin(attacker, unknownAddress).then(
      () => "admitted",
      (error: unknown) => (error instanceof KeywardError ? error.code : "other error"),
    );
    await readHeld;
    // ...while the third fails. Counting it while the fourth's check is half done would
    // take it off the attempts under way after the fourth read the count without it: the
    // check would see 2 failures and nothing under way, and let a fourth guess through.
    // Counting waits for the check instead, so it is released after the failure is
    // recorded (the code before) or once a wait shows the recording is not happening
    // (nothing to poll for: what is checked is that it does not).
    const thirdFailed = third.failed();
    await Promise.race([thirdFailed, new Promise((resolve) => setTimeout(resolve, 200))]);
    release();
    expect(await fourth).toBe("rate_limited");
    await thirdFailed;
    // The third failure was counted: the pair is at its limit for the window.
    const after = await guard
      .startSignin(attacker, unknownAddress)
      .catch((error: unknown) => error);
    expect(after).toBeInstanceOf(KeywardError);
    expect(Number((after as KeywardError).headers?.["retry-after"])).toBeGreaterThan(60);
  });

  it("counts every failure of a burst, and lets exactly the limit's guesses through", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, async () => {
        try {
          const attempt = await guard.startSignin(attacker, unknownAddress);
          await attempt.failed();
          return "failed";
        } catch (error) {
          return error instanceof KeywardError ? error.code : "other error";
        }
      }),
    );
    expect(outcomes.filter((outcome) => outcome === "failed")).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome === "rate_limited")).toHaveLength(9);
  });
});
