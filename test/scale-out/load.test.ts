import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createApp,
  createToken,
  signUpUser,
} from "../../src/test-support/harness.js";
import {
  createTestDatabase,
  postgresAvailable,
  type TestDatabase,
} from "../../src/test-support/postgres.js";
import { requireBuild, type ServerProcess } from "../../src/test-support/process.js";
import { Cluster, fmt, summarize } from "./cluster.js";
import { missingPrograms } from "./daemons.js";

const WRK = "/usr/bin/wrk";
const REVOCATIONS = 200;
const P99_BOUND_MS = 100;
const MAX_BOUND_MS = 1000;
const CACHE_MAX_AGE_MS = 5000;
/** wrk connections per process while revocations are measured (a closed loop). */
const LOAD_CONNECTIONS = 8;

// Runs last and alone (its own vitest project, after every other): three servers, the load
// generator and PostgreSQL share this machine's cores, so other tests running beside it
// would be measured too.
const enabled =
  postgresAvailable() && missingPrograms("Revocation bound under load", [WRK]).length === 0;

interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

/**
 * wrk against `url` with `token`; paced when `delayMs` is given (each connection waits that
 * long between its requests). Resolves when wrk ends: after `seconds`, or at once on `stop`.
 */
function runWrk(
  url: string,
  token: string,
  options: { seconds: number; connections: number; script?: string },
): { done: Promise<WrkResult>; stop: () => void } {
  const child = spawn(
    WRK,
    [
      "-t1",
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "--timeout",
      "10s",
      "-H",
      `Authorization: Bearer ${token}`,
      ...(options.script ? ["-s", options.script] : []),
      `${url}/api`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<WrkResult>((resolve, reject) =>
    child.on("close", () => {
      const rate = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
      const requests = /(\d+) requests in/.exec(out)?.[1];
      if (rate === undefined || requests === undefined)
        return reject(new Error(`wrk gave no result:\n${out}`));
      const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
        out,
      );
      resolve({
        requestsPerSecond: Number(rate),
        requests: Number(requests),
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
        socketErrors: errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
      });
    }),
  );
  // wrk prints its summary when interrupted.
  return { done, stop: () => child.kill("SIGINT") };
}

// The published revocation bound (p99 100 ms, max 1 s) while three processes serve
// verified traffic at at least half of what they can: capacity is measured first, in the
// same run, then paced load runs while revocations are made on one process and watched
// on another.
describe.skipIf(!enabled)("the revocation bound under load", () => {
  const cluster = new Cluster();
  let database: TestDatabase;
  let servers: ServerProcess[];
  let owner: Client;
  let appId: string;
  let folder: string;

  beforeAll(async () => {
    requireBuild();
    folder = await mkdtemp(join(tmpdir(), "keyward-load-"));
    database = await createTestDatabase({ durable: true });
    servers = await cluster.start(
      3,
      {
        DATABASE_URL: database.url,
        VERIFY_CACHE_MAX_AGE_MS: String(CACHE_MAX_AGE_MS),
        TOKEN_CREATIONS_PER_USER_PER_HOUR: "1000000",
        MAX_ACTIVE_TOKENS_PER_USER: "100000",
        VERIFY_RATE_LIMIT_PER_MINUTE: "100000000",
      },
      [],
      // Logs to files, as a deployment writes them. Piped into this test process, at
      // thousands of access-log lines a second, the servers waited on this process reading
      // the pipe: slow answers of 0.4-5 s, each a single request that had found the
      // revocation already there (the harness measured, not Keyward).
      folder,
    );
    ({ client: owner } = await signUpUser(servers[0]?.baseUrl ?? ""));
    appId = await createApp(owner);
  }, 60_000);
  afterAll(async () => {
    await cluster.stop();
    await database?.drop();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it(`refuses every one of ${REVOCATIONS} revoked tokens on another process within the cache bound while three processes serve load, and measures p99 against ${P99_BOUND_MS} ms`, async () => {
    const load = await createToken(owner, appId, { name: "load" });
    // Capacity: all three saturated at once, verifying one (cached) token, after a warm-up
    // second (JIT, connections, the token's cache entry).
    await Promise.all(
      servers.map((s) => runWrk(s.baseUrl, load.token, { seconds: 1, connections: 16 }).done),
    );
    const saturated = await Promise.all(
      servers.map((s) => runWrk(s.baseUrl, load.token, { seconds: 3, connections: 16 }).done),
    );
    const capacity = saturated.reduce((sum, r) => sum + r.requestsPerSecond, 0);
    for (const r of saturated) expect(r.non2xx + r.socketErrors).toBe(0);

    const tokens: Array<{ id: string; token: string }> = [];
    for (let i = 0; i < REVOCATIONS; i += 20) {
      tokens.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, j) => createToken(owner, appId, { name: `rev ${i + j}` })),
        )),
      );
    }

    // The load during the revocations: a steady closed loop of LOAD_CONNECTIONS per process,
    // which keeps each one busy most of the time (well over half its capacity, checked
    // below). Not paced with wrk's delay(): its wait is in whole milliseconds and its timers
    // bunch the connections into bursts, so aiming at 70 % served 13-43 % (2 December 2026).
    const paced = servers.map((s) =>
      runWrk(s.baseUrl, load.token, { seconds: 600, connections: LOAD_CONNECTIONS }),
    );
    const startedAt = performance.now();
    const times: number[] = [];
    // Two revocations in flight at a time (each timed on its own), so 200 take seconds. With
    // four, the revocations' own work (and their watchers') took so much of the two cores
    // that the load fell under half the capacity (44 %).
    const measure = async (i: number, token: { id: string; token: string }) => {
      const revoker = new Client(servers[i % 3]?.baseUrl ?? "");
      revoker.cookie = owner.cookie;
      const watcher = new Client(servers[(i + 1) % 3]?.baseUrl ?? "");
      expect((await watcher.get("/api", bearer(token.token))).status).toBe(200);
      expect((await watcher.get("/api", bearer(token.token))).status).toBe(200);
      const revoked = await revoker.delete(`/api/v1/applications/${appId}/tokens/${token.id}`);
      expect(revoked.status).toBe(204);
      const acknowledged = performance.now();
      for (;;) {
        const status = (await watcher.get("/api", bearer(token.token))).status;
        if (status === 401) break;
        expect(status).toBe(200);
        if (performance.now() - acknowledged > 2 * CACHE_MAX_AGE_MS) throw new Error("never");
        // A millisecond between polls: back to back, four watchers were a load of their own
        // on the two cores, taking a share of the capacity from the load being measured.
        await sleep(1);
      }
      times.push(performance.now() - acknowledged);
    };
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: 2 }, async () => {
          while (next < tokens.length) {
            const i = next++;
            const token = tokens[i];
            if (token) await measure(i, token);
          }
        }),
      );
    } finally {
      for (const p of paced) p.stop();
    }
    const results = await Promise.all(paced.map((p) => p.done));
    const seconds = (performance.now() - startedAt) / 1000;
    const served = results.reduce((sum, r) => sum + r.requestsPerSecond, 0);
    const s = summarize(times);
    console.log(
      `revocation under load: capacity ${capacity.toFixed(0)} verified req/s (three processes saturated); ` +
        `load ${served.toFixed(0)} req/s = ${((100 * served) / capacity).toFixed(0)} % of it for ${seconds.toFixed(1)} s; ` +
        `${REVOCATIONS} revocations from the 204 to another process's 401: p50 ${fmt(s.p50)}, p99 ${fmt(s.p99)}, max ${fmt(s.max)}`,
    );
    for (const r of results) expect(r.non2xx + r.socketErrors).toBe(0);
    expect(times).toHaveLength(REVOCATIONS);
    // What must hold whatever the machine: every revoked token refused by the other
    // process, none later than a cached answer may live. The published bound (p99
    // 100 ms, max 1 s at half the capacity or more) is a timing on
    // shared cores, so it is printed here and checked as a target by the bench (case 13).
    expect(s.max).toBeLessThan(CACHE_MAX_AGE_MS);
    const share = served / capacity;
    const withinBound = s.p99 <= P99_BOUND_MS && s.max <= MAX_BOUND_MS;
    // Below half the capacity the run does not test the bound: said so, rather than that
    // the bound failed when its figures were inside it.
    const verdict =
      share < 0.5
        ? `was not tested in this run: the load reached ${(100 * share).toFixed(0)} % of capacity` +
          (withinBound ? " (the figures above are within it)" : "")
        : withinBound
          ? "held in this run"
          : "did NOT hold in this run";
    console.log(
      `revocation under load: the published bound (p99 ${P99_BOUND_MS} ms, max ${MAX_BOUND_MS} ms at ≥ 50 % of capacity) ${verdict}`,
    );
  }, 180_000);
});
