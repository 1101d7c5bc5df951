import { join } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../test-support/clock.js";
import { signUpUser, TEST_STORE } from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const clock = new ManualClock();
const server = setUpTestServer({}, { clock });

// A session's "last seen" is written at most once a minute, on a request that only reads:
// when that write cannot be made, the request must still be answered. SQLite lets a test
// hold the write lock from outside while reads go on (WAL), which PostgreSQL does not.
describe.skipIf(TEST_STORE !== "sqlite")("a session's last-seen write", () => {
  it("is best-effort: a read answers 200 while the database refuses writes, and the write happens later", async () => {
    const { client } = await signUpUser(server.baseUrl);
    const signedUpAt = clock.now();
    clock.advance(2 * 60_000);
    const outside = new SqliteDatabase(join(server.dataDir, "keyward.db"), { timeout: 0 });
    try {
      outside.exec("BEGIN IMMEDIATE");
      const me = await client.get("/api/v1/me");
      expect(me.status).toBe(200);
      outside.exec("ROLLBACK");
    } finally {
      outside.close();
    }
    const sessions = await client.get<{ sessions: Array<{ lastSeenAt: string }> }>(
      "/api/v1/me/sessions",
    );
    expect(sessions.status).toBe(200);
    // Written by this later request, which found it still a minute old.
    expect(Date.parse(sessions.body.sessions[0]?.lastSeenAt ?? "")).toBeGreaterThanOrEqual(
      signedUpAt + 2 * 60_000,
    );
  }, 20_000);
});
