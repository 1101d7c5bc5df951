import { defineConfig } from "vitest/config";

const postgres = Boolean(process.env.TEST_DATABASE_URL);
// Said once per run: the config is evaluated more than once, and test workers inherit the
// flag, so src/test-support/postgres.ts does not repeat it per file.
if (!postgres && !process.env.KEYWARD_POSTGRES_SKIP_NOTICE) {
  process.env.KEYWARD_POSTGRES_SKIP_NOTICE = "shown";
  console.warn(
    "TEST_DATABASE_URL is not set: the PostgreSQL run of the HTTP tests, the PostgreSQL store " +
      "contract and the scale-out tests are SKIPPED. Set it, e.g. " +
      "TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres, to run them.",
  );
}

// Vitest reads the default export of its config file (biome.json allows it here only).
export default defineConfig({
  // Tests load the client package (packages/keyward-client) from its TypeScript source, so
  // they never run against a stale build; the published package resolves to dist/.
  resolve: { conditions: ["keyward-source"] },
  ssr: { resolve: { conditions: ["keyward-source"], externalConditions: ["keyward-source"] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Drops test databases that crashed runs left behind (no-op without TEST_DATABASE_URL).
    globalSetup: ["src/test-support/postgres.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "default",
          include: [
            "src/**/*.test.ts",
            "e2e/**/*.spec.ts",
            "test/**/*.test.ts",
            "packages/*/test/**/*.test.ts",
          ],
          exclude: [
            "test/scale-out/revocation.test.ts",
            "test/scale-out/revocation-stream.test.ts",
            "test/scale-out/pgbouncer.test.ts",
            "test/scale-out/outage.test.ts",
            "test/scale-out/load.test.ts",
            "test/package.test.ts",
          ],
        },
      },
      // The HTTP tests again, each server on a fresh PostgreSQL database
      // (startTestServer reads KEYWARD_TEST_STORE). Tests that start a server through the
      // harness belong in src/http; unit, browser and process tests run once, above.
      ...(postgres
        ? [
            {
              extends: true as const,
              test: {
                name: "postgres",
                // The HTTP suite and the hostile suite: everything that drives a server
                // through the harness (crash, process and browser tests run once, above).
                include: ["src/http/**/*.test.ts", "test/hostile/**/*.test.ts"],
                env: { KEYWARD_TEST_STORE: "postgres" },
              },
            },
          ]
        : []),
      // The package as users install it: npm pack, npm install in an empty folder (which
      // compiles better-sqlite3 on both cores), then the installed command. Run on its own,
      // after the suites above, so the compile does not starve their timing-sensitive tests.
      {
        extends: true,
        test: {
          name: "package",
          include: ["test/package.test.ts"],
          sequence: { groupOrder: 1 },
        },
      },
      // Server processes measuring revocation latency against the published bound
      // (docs/deployment.md), directly, through PgBouncer, after an outage and under load:
      // run alone, after everything else, so other tests' CPU use does not land in the
      // measurement.
      {
        extends: true,
        test: {
          name: "revocation-bound",
          include: [
            "test/scale-out/revocation.test.ts",
            "test/scale-out/revocation-stream.test.ts",
            "test/scale-out/pgbouncer.test.ts",
            "test/scale-out/outage.test.ts",
          ],
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          // The revocation bound under load: last, and alone, since it loads every core.
          name: "under-load",
          include: ["test/scale-out/load.test.ts"],
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
