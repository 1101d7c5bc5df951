import { afterAll, describe, expect, it } from "vitest";
import { migrations } from "../../src/storage/migrations/index.js";
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
import { requireBuild } from "../../src/test-support/process.js";
import { Cluster } from "./cluster.js";

const enabled = postgresAvailable();

describe.skipIf(!enabled)("starting several processes at once on PostgreSQL", () => {
  const cluster = new Cluster();
  let database: TestDatabase | undefined;

  afterAll(async () => {
    await cluster.stop();
    await database?.drop();
  });

  it("migrates an empty database once, and every process serves", async () => {
    requireBuild();
    database = await createTestDatabase();
    const servers = await cluster.start(3, { DATABASE_URL: database.url });

    const { client } = await signUpUser(servers[0]?.baseUrl ?? "");
    const appId = await createApp(client);
    const { token } = await createToken(client, appId, { name: "everywhere" });
    for (const server of servers) {
      expect((await new Client(server.baseUrl).get("/api", bearer(token))).status).toBe(200);
      expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);
    }

    const { Client: PgClient } = await import("pg");
    const pg = new PgClient({ connectionString: database.url });
    await pg.connect();
    try {
      const applied = await pg.query<{ name: string }>(
        "select name from keyward_migration order by name",
      );
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
      const tables = await pg.query<{ n: string }>(
        "select count(*) as n from pg_tables where schemaname = 'public' and tablename = 'tokens'",
      );
      expect(Number(tables.rows[0]?.n)).toBe(1);
    } finally {
      await pg.end();
    }
  });
});
