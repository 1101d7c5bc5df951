// `npm run bench`: Keyward's benchmark. Seeds a store with the bench seeder (bench/seed.ts),
// starts a real server process (`node dist/cli/main.js start`) as a user would, and drives
// it with wrk from another core. Each case runs in short slices alternated with case 1 (the
// bare `GET /healthz` of the same server), and is reported as paired ratios: this machine's
// noise between identical runs would swamp one long run per case.
//
//   npm run bench                    full run (1,000,000-token store)
//   BENCH_QUICK=1 npm run bench      smoke run (small store, 1 s slices)
//   npm run bench -- --help          every option
//
// Load goes to 127.0.0.1 only. Results: a table on stdout, JSON in bench/results/.
//
// It runs under tsx (`tsx bench/run.ts`) rather than compiled: the bench imports the seeder
// and the token code from src/ as TypeScript, tsx is already a devDependency, and a compile
// step would add a second build output for a tool that is never shipped. The server under
// test still runs from dist/, as a user runs it; `npm run typecheck` covers bench/**/*.ts.

import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { bareReference } from "./bare.js";
import { fillCache, runStage } from "./cases.js";
import { clientAdapterBench } from "./client-adapter.js";
import { clientRevocation } from "./client-revocation.js";
import { cores, hasWrk, machineInfo, pinned } from "./machine.js";
import { metricsCost } from "./metrics-cost.js";
import { peerReference } from "./peer.js";
import { type BenchResult, checkTargets, printReport } from "./report.js";
import { revocationPropagation } from "./revocation.js";
import { revocationUnderLoad } from "./revocation-under-load.js";
import { type BenchRun, createBenchRun } from "./run-state.js";
import { type SeededStore, seedStore, storeForCases, writeFakeTokens } from "./seeding.js";
import { type BenchServer, readMetrics, startServer, withServer } from "./server.js";
import { BenchUsageError, CLI, HELP, parseBenchOptions, RESULTS_DIR } from "./settings.js";
import { streamFanOut } from "./stream-fanout.js";

const LOCAL_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"];

function tokensLabel(count: number): string {
  return `${count.toLocaleString("en")} tokens`;
}

async function sqliteStages(run: BenchRun, fakeTokensFile: string): Promise<void> {
  const { settings, wants } = run;
  const quick = settings.quick;
  const largeDb = join(run.options.workDir, "large.db");
  const smallDb = join(run.options.workDir, "small.db");
  const largeFiles = await seedStore(run, `sqlite:${largeDb}`, settings.tokens, "large");
  const smallFiles = quick
    ? largeFiles
    : await seedStore(run, `sqlite:${smallDb}`, settings.smallTokens, "small");
  const large = storeForCases(largeFiles, fakeTokensFile);
  const small = quick ? large : storeForCases(smallFiles, fakeTokensFile);
  run.seedSeconds.sqliteLarge = large.seedSeconds;
  if (!quick) run.seedSeconds.sqliteSmall = small.seedSeconds;
  const largeLabel = tokensLabel(settings.tokens);
  const smallLabel = tokensLabel(settings.smallTokens);

  const mainCases = [2, 3, 4, 5, 14, 6].filter(wants);
  await withServer(run, "sqlite-large", `sqlite:${largeDb}`, {}, async (server) => {
    await runStage(
      run,
      { label: `sqlite, ${largeLabel}`, backend: "sqlite", storeLabel: largeLabel },
      server,
      large,
      mainCases,
    );
    if (wants(0) && !run.outOfTime("case 0")) {
      run.log(`sqlite, ${largeLabel}: case 0 (bare node:http) alternated with case 1`);
      run.bare = await bareReference(run, `sqlite, ${largeLabel}`, server, large);
    }
    if (wants(12) && !run.outOfTime("case 12")) {
      run.log(
        `sqlite, ${largeLabel}: case 12 (Better Auth's API-key plugin) alternated with case 2`,
      );
      run.peer = await peerReference(run, `sqlite, ${largeLabel}`, server, large);
    }
    if (wants(3) && !quick && !run.outOfTime("peak RSS with a full cache"))
      run.fullCache = await fillCache(run, server, large);
  });
  // The quick run covers the same code paths with the large stage alone.
  if (wants(3) && !quick && !run.outOfTime("sqlite small store")) {
    await withServer(run, "sqlite-small", `sqlite:${smallDb}`, {}, (server) =>
      runStage(
        run,
        { label: `sqlite, ${smallLabel}`, backend: "sqlite", storeLabel: smallLabel },
        server,
        small,
        [3],
      ),
    );
  }
  if (!settings.extra || quick) return;
  // Storage alone: the same case 3 with the cache off, large store against small store.
  if (wants(3)) {
    const stores: [string, SeededStore, string][] = [
      [largeDb, large, largeLabel],
      [smallDb, small, smallLabel],
    ];
    for (const [db, store, label] of stores) {
      if (run.outOfTime(`sqlite ${label}, cache off`)) continue;
      await withServer(
        run,
        "sqlite-nocache",
        `sqlite:${db}`,
        { VERIFY_CACHE_SIZE: "0" },
        (server) =>
          runStage(
            run,
            {
              label: `sqlite, ${label}, cache off`,
              backend: "sqlite",
              storeLabel: `${label}, cache off`,
              pairs: Math.min(2, settings.pairs),
            },
            server,
            store,
            [3],
          ),
      );
    }
  }
  // What the default per-request info logging costs: case 2 with LOG_LEVEL=warn.
  if (wants(2) && !run.outOfTime("logging cost")) {
    await withServer(run, "sqlite-warn", `sqlite:${smallDb}`, { LOG_LEVEL: "warn" }, (server) =>
      runStage(
        run,
        {
          label: `sqlite, ${smallLabel}, LOG_LEVEL=warn`,
          backend: "sqlite",
          storeLabel: `${smallLabel}, LOG_LEVEL=warn`,
          pairs: Math.min(2, settings.pairs),
        },
        server,
        small,
        [2],
      ),
    );
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}

/** PostgreSQL: when TEST_DATABASE_URL is set and the PostgreSQL store starts. */
async function postgresStages(run: BenchRun, fakeTokensFile: string): Promise<void> {
  const { settings, wants } = run;
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!run.options.backends.has("postgres"))
    return run.skip("PostgreSQL: not selected (--backends)");
  if (!adminUrl) return run.skip("PostgreSQL: TEST_DATABASE_URL is not set");
  if (run.outOfTime("PostgreSQL")) return;
  // Loaded here, not at the top: a SQLite-only run needs no PostgreSQL driver.
  let pg: typeof import("pg").default;
  try {
    pg = (await import("pg")).default;
  } catch (error) {
    return run.skip(`PostgreSQL: the pg module did not load (${firstLine(error)})`);
  }
  const name = `keyward_bench_${process.pid}`;
  const url = new URL(adminUrl);
  if (!LOCAL_HOSTS.includes(url.hostname))
    return run.skip(`PostgreSQL: TEST_DATABASE_URL is not on this machine (${url.hostname})`);
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
    await admin.query(`create database ${name}`);
  } catch (error) {
    await admin.end().catch(() => {});
    return run.skip(`PostgreSQL: cannot create a database (${firstLine(error)})`);
  }
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  try {
    let store: SeededStore;
    try {
      store = storeForCases(
        await seedStore(run, databaseUrl, settings.pgTokens, "pg"),
        fakeTokensFile,
      );
    } catch (error) {
      return run.skip(`PostgreSQL: the store did not seed (${firstLine(error)})`);
    }
    run.seedSeconds.postgres = store.seedSeconds;
    const label = tokensLabel(settings.pgTokens);
    let serverA: BenchServer;
    try {
      serverA = await startServer(run, "postgres-a", databaseUrl);
    } catch (error) {
      return run.skip(`PostgreSQL: the server did not start (${firstLine(error)})`);
    }
    try {
      await runStage(
        run,
        { label: `postgres, ${label}`, backend: "postgres", storeLabel: label },
        serverA,
        store,
        [2, 3, 4, 5, 14, 6].filter(wants),
      );
      if (
        (wants(7) || wants(9) || wants(10) || wants(13)) &&
        !run.outOfTime("cases 7, 9, 10 and 13")
      ) {
        const serverB = await startServer(run, "postgres-b", databaseUrl);
        try {
          if (wants(7)) {
            run.log("postgres: case 7, revocation propagation between two processes");
            run.revocation = await revocationPropagation(
              serverA,
              serverB,
              store,
              settings.revocations,
            );
          }
          if (wants(9) && !run.outOfTime("case 9")) {
            run.log(
              "postgres: case 9, revocation stream fan-out to 100 streams on the other process",
            );
            run.streamFanOut = await streamFanOut(
              serverA,
              serverB,
              store,
              100,
              settings.revocations,
            );
          }
          if (wants(10) && !run.outOfTime("case 10")) {
            run.log("postgres: case 10, revocations reaching keyward-client through the stream");
            run.clientRevocation = await clientRevocation(
              serverA,
              serverB,
              store,
              settings.quick ? 5 : 200,
            );
          }
          if (wants(13) && !run.outOfTime("case 13")) {
            run.log("postgres: case 13, revocation propagation while three processes serve load");
            const serverC = await startServer(run, "postgres-c", databaseUrl);
            try {
              run.revocationUnderLoad = await revocationUnderLoad(
                run,
                [serverA, serverB, serverC],
                store,
                // The bound is stated over at least 200 revocations.
                settings.quick ? settings.revocations : Math.max(200, settings.revocations),
              );
            } finally {
              await serverC.stop();
            }
          }
        } finally {
          await serverB.stop();
        }
      }
    } finally {
      await serverA.stop();
    }
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`).catch((error: unknown) => {
      run.notice(`could not drop database ${name}: ${firstLine(error)}`);
    });
    await admin.end().catch(() => {});
  }
}

async function main(run: BenchRun): Promise<void> {
  const { settings, options } = run;
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: run "npm install" (it builds) or "npm run build" first.`);
    process.exit(1);
  }
  mkdirSync(options.workDir, { recursive: true });
  const info = machineInfo();
  run.log(
    `Keyward bench${settings.quick ? " (quick)" : ""}: ${info.nproc} cores, ${info.cpuModel}, Node ${info.node}`,
  );
  if (!pinned) {
    run.notice(
      cores < 2
        ? "notice: fewer than 2 cores; server and wrk share the CPU"
        : "notice: taskset not found; server and wrk are not pinned to separate cores",
    );
  }
  if (run.wants(11)) {
    run.log("case 11: the cost of recording metrics per verified request (in process)");
    run.metricsCost = await metricsCost(settings.quick ? 500_000 : 2_000_000);
  }
  try {
    if (!hasWrk) {
      run.skip(
        "cases 1-6: wrk not found (Debian: apt-get install wrk); seeding and case 7 still run",
      );
    }
    const fakeTokensFile = writeFakeTokens(run, settings.fakeTokens);
    if (!options.backends.has("sqlite")) run.skip("SQLite: not selected (--backends)");
    else if (hasWrk) await sqliteStages(run, fakeTokensFile);
    else {
      const db = join(options.workDir, "large.db");
      const store = await seedStore(run, `sqlite:${db}`, settings.tokens, "large");
      run.seedSeconds.sqliteLarge = store.seedSeconds;
      await withServer(run, "sqlite-large", `sqlite:${db}`, {}, async (server) => {
        const m = await readMetrics(server);
        run.log(`server started; /metrics answers (storage writes ${m.writes})`);
      });
    }
    if (hasWrk) await postgresStages(run, fakeTokensFile);
    else if (process.env.TEST_DATABASE_URL) run.skip("PostgreSQL: needs wrk for cases 2-6");
    if (!hasWrk) run.skip("case 8: wrk not found");
    else if (run.wants(8) && !run.outOfTime("case 8")) {
      run.log("case 8: keyward-client's Fastify adapter, cached token vs no authentication");
      run.clientAdapter = await clientAdapterBench({
        pairs: settings.quick ? 2 : Math.max(6, settings.pairs),
        sliceSeconds: settings.quick ? 1 : 3,
        connections: settings.connections,
        log: (line) => run.log(line),
      });
    }
  } finally {
    if (!options.keepWork) rmSync(options.workDir, { recursive: true, force: true });
  }
  const args = process.argv.slice(2);
  const result: BenchResult = {
    startedAt: new Date(options.startedAt).toISOString(),
    command: `${settings.quick ? "BENCH_QUICK=1 " : ""}npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`,
    machine: info,
    settings,
    rows: run.rows,
    revocation: run.revocation,
    revocationUnderLoad: run.revocationUnderLoad,
    streamFanOut: run.streamFanOut,
    clientRevocation: run.clientRevocation,
    fullCache: run.fullCache,
    bare: run.bare,
    peer: run.peer,
    clientAdapter: run.clientAdapter,
    metricsCost: run.metricsCost,
    seedSeconds: run.seedSeconds,
    targets: checkTargets(run),
    skipped: run.skipped,
    notices: run.notices,
    totalSeconds: run.elapsedMs() / 1000,
  };
  const json = `${JSON.stringify(result, null, 2)}\n`;
  mkdirSync(dirname(options.outFile), { recursive: true });
  writeFileSync(options.outFile, json);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, "latest.json"), json);
  printReport(run, result);
}

let options: ReturnType<typeof parseBenchOptions>;
try {
  options = parseBenchOptions(process.argv.slice(2), process.env, Date.now());
} catch (error) {
  if (!(error instanceof BenchUsageError)) throw error;
  console.error(`${error.message} (npm run bench -- --help: every option)`);
  process.exit(64);
}
if (options === "help") {
  console.log(HELP);
  process.exit(0);
}
const benchRun = createBenchRun(options);
main(benchRun).catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
  if (!benchRun.options.keepWork)
    rmSync(benchRun.options.workDir, { recursive: true, force: true });
  process.exit(1);
});
