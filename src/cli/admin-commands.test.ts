import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createServiceKey,
  createToken,
  signUpWithApp,
  startTestServer,
  type TestServer,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { adminQuery, postgresAvailable, TEST_DATABASE_URL } from "../test-support/postgres.js";
import { REPO_ROOT, runNode, runProgram } from "../test-support/process.js";
import { SseReader } from "../test-support/sse.js";

// The operator's commands run as a separate process (as an operator runs them) against
// the store of a server that keeps running in this process: every change must reach it.

const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");

let server: TestServer;
let databaseUrl: string;

async function keyward(...args: string[]) {
  const result = await runNode(["--import", "tsx", MAIN, ...args], {
    PATH: process.env.PATH ?? "",
    DATABASE_URL: databaseUrl,
    USER: "alice",
  });
  return result;
}

async function keywardJson<T>(...args: string[]): Promise<T> {
  const result = await keyward(...args, "--json");
  expect(result.code, result.output).toBe(0);
  return JSON.parse(result.output) as T;
}

/** Status of a protected-API request with the token. */
async function tokenStatus(token: string): Promise<number> {
  const res = await fetch(`${server.baseUrl}/api`, { headers: bearer(token) });
  return res.status;
}

beforeAll(async () => {
  server = await startTestServer();
  const database = server.config.database;
  databaseUrl = database.kind === "sqlite" ? `sqlite:${database.path}` : database.url;
});
afterAll(async () => {
  await server?.close();
});

describe("keyward users", () => {
  it("lists users as JSON and as a table, and shows one", async () => {
    const { user, appId } = await signUpWithApp(server.baseUrl, "Listed");
    const users = await keywardJson<Array<{ id: string; email: string; disabledAt: null }>>(
      "users",
      "list",
    );
    expect(users.find((u) => u.id === user.id)).toMatchObject({
      email: user.email,
      disabledAt: null,
    });
    const table = await keyward("users", "list", "--search", user.email);
    expect(table.code).toBe(0);
    expect(table.output).toMatch(/^ID\s+EMAIL\s+STATUS/);
    expect(table.output).toContain(user.email);

    const shown = await keywardJson<{ id: string; applications: Array<{ id: string }> }>(
      "users",
      "show",
      user.email,
    );
    expect(shown.id).toBe(user.id);
    expect(shown.applications.map((a) => a.id)).toEqual([appId]);
  });

  it("answers an unknown user with exit code 66 and says what to do", async () => {
    const result = await keyward("users", "show", "nobody@example.com");
    expect(result.code).toBe(66);
    expect(result.output).toContain("No user with id or email");
    expect(result.output).toContain("keyward users list");
  });

  it("disable ends sessions, refuses sign-in and tokens (at once on the running server, and on the revocation stream); enable restores them", async () => {
    const { client, user, appId } = await signUpWithApp(server.baseUrl);
    const { token, id: tokenId } = await createToken(client, appId, { name: "ci" });
    expect(await tokenStatus(token)).toBe(200); // cached by the server now
    const { key } = await createServiceKey(client, appId);
    const stream = await SseReader.open(`${server.baseUrl}/api/v1/service/events`, {
      authorization: `Bearer ${key}`,
    });
    await stream.waitFor("a position", (r) => r.lastId);

    // Cached afresh right before the command: its entry cannot age out in what follows.
    expect(await tokenStatus(token)).toBe(200);
    const disabled = await keywardJson<{ changed: boolean; endedSessions: number }>(
      "users",
      "disable",
      user.email,
    );
    expect(disabled).toMatchObject({ changed: true, endedSessions: 1 });
    const heardAt = Date.now();
    await pollUntil("the disabled user's token to be refused", async () => {
      return (await tokenStatus(token)) === 401;
    });
    // Well under the cache's maximum age (5 s): the change feed (read every 100 ms)
    // evicted it. 2 s leaves room for a loaded machine.
    expect(Date.now() - heardAt).toBeLessThan(2000);
    // A host's cache hears it too: the stream names the token.
    await stream.waitFor("token.revoked for the disabled user's token", (r) =>
      r.events.find((e) => e.event === "token.revoked" && e.data?.includes(tokenId)),
    );
    stream.close();
    expect((await client.get("/api/v1/me")).status).toBe(401);
    const signIn = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: user.email,
      password: "correct horse battery staple",
    });
    expect(signIn.status).toBe(401);
    expect(signIn.text).toContain("disabled");

    const again = await keywardJson<{ changed: boolean }>("users", "disable", user.id);
    expect(again.changed).toBe(false);

    const enabled = await keywardJson<{ changed: boolean }>("users", "enable", user.email);
    expect(enabled.changed).toBe(true);
    await pollUntil("the token to work again", async () => (await tokenStatus(token)) === 200);
    const signInAgain = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: user.email,
      password: "correct horse battery staple",
    });
    expect(signInAgain.status).toBe(200);
  });

  it("reset-password --random-password prints a new password once, which signs in, and ends the old sessions", async () => {
    const { client, user } = await signUpWithApp(server.baseUrl);
    const reset = await keywardJson<{ password: string; endedSessions: number }>(
      "users",
      "reset-password",
      user.email,
      "--random-password",
    );
    expect(reset.endedSessions).toBe(1);
    expect(reset.password).toMatch(/^[0-9A-Za-z]{24}$/);
    expect((await client.get("/api/v1/me")).status).toBe(401);
    const old = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: user.email,
      password: "correct horse battery staple",
    });
    expect(old.status).toBe(401);
    const fresh = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: user.email,
      password: reset.password,
    });
    expect(fresh.status).toBe(200);
  });

  it("disable-two-factor turns it off for a user who lost their phone: the password alone signs in again", async () => {
    const { client, user } = await signUpWithApp(server.baseUrl);
    const started = await client.post<{ secret: string }>("/api/v1/me/two-factor");
    const code = new TOTP({ secret: Secret.fromBase32(started.body.secret) }).generate();
    expect((await client.post("/api/v1/me/two-factor/confirm", { code })).status).toBe(200);
    const signIn = () =>
      new Client(server.baseUrl).post<{ code?: string }>("/api/v1/auth/signin", {
        email: user.email,
        password: "correct horse battery staple",
      });
    expect((await signIn()).body.code).toBe("two_factor_required");
    const off = await keywardJson<{ changed: boolean }>("users", "disable-two-factor", user.email);
    expect(off.changed).toBe(true);
    expect((await signIn()).status).toBe(200);
    const again = await keywardJson<{ changed: boolean }>("users", "disable-two-factor", user.id);
    expect(again.changed).toBe(false);
  });

  it("records every change in the audit trail with the operator as actor", async () => {
    const { client, user, appId } = await signUpWithApp(server.baseUrl);
    const { id } = await createToken(client, appId, { name: "audited" });
    expect((await keyward("tokens", "revoke", id)).code).toBe(0);
    const events = await server.keyward.store.audit.list({ tokenId: id, limit: 10 });
    expect(events[0]).toMatchObject({
      action: "token.revoked",
      reason: "admin",
      actorId: null,
      actorName: "operator alice",
      detail: { operator: "alice", via: "cli" },
      userId: user.id,
    });
  });
});

describe("keyward apps", () => {
  it("lists and shows applications", async () => {
    const { user, appId } = await signUpWithApp(server.baseUrl, "Shown app");
    const apps = await keywardJson<Array<{ id: string; ownerEmail: string; members: number }>>(
      "apps",
      "list",
    );
    expect(apps.find((a) => a.id === appId)).toMatchObject({ ownerEmail: user.email, members: 1 });
    const shown = await keywardJson<{ name: string; memberList: Array<{ email: string }> }>(
      "apps",
      "show",
      appId,
    );
    expect(shown.name).toBe("Shown app");
    expect(shown.memberList.map((m) => m.email)).toEqual([user.email]);
    const missing = await keyward("apps", "show", "app_00000000000000000000");
    expect(missing.code).toBe(66);
    expect(missing.output).toContain("keyward apps list");
  });
});

describe("keyward tokens", () => {
  it("revokes a token by id; the running server refuses it well within the cache's maximum age", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { token, id } = await createToken(client, appId, { name: "deploy" });
    expect(await tokenStatus(token)).toBe(200);
    const listed = await keywardJson<Array<{ id: string; status: string }>>(
      "tokens",
      "list",
      "--application",
      appId,
    );
    expect(listed).toEqual([expect.objectContaining({ id, status: "active" })]);

    // Cached afresh right before the command: its entry cannot age out in what follows.
    expect(await tokenStatus(token)).toBe(200);
    const revoked = await keywardJson<{ revoked: string[] }>("tokens", "revoke", id);
    const revokedAt = Date.now();
    expect(revoked.revoked).toEqual([id]);
    await pollUntil(
      "the revoked token to be refused",
      async () => (await tokenStatus(token)) === 401,
    );
    // The poll interval is 100 ms; the cache's maximum age (5 s) would be far later. 2 s
    // leaves room for a loaded machine.
    expect(Date.now() - revokedAt).toBeLessThan(2000);

    const again = await keyward("tokens", "revoke", id);
    expect(again.code).toBe(0);
    expect(again.output).toContain("already revoked");
    const missing = await keyward("tokens", "revoke", "tok_00000000000000000000");
    expect(missing.code).toBe(66);
  });

  it("revokes every token of a user only with --yes, and every token of an application", async () => {
    const { client, user, appId } = await signUpWithApp(server.baseUrl);
    const a = await createToken(client, appId, { name: "a" });
    const b = await createToken(client, appId, { name: "b" });
    const dry = await keyward("tokens", "revoke", "--user", user.email);
    expect(dry.code).toBe(64);
    expect(dry.output).toContain("Run again with --yes");
    expect(await tokenStatus(a.token)).toBe(200);

    const done = await keywardJson<{ revoked: string[] }>(
      "tokens",
      "revoke",
      "--user",
      user.email,
      "--yes",
    );
    expect(done.revoked.sort()).toEqual([a.id, b.id].sort());
    await pollUntil("both tokens refused", async () => {
      return (await tokenStatus(a.token)) === 401 && (await tokenStatus(b.token)) === 401;
    });

    const c = await createToken(client, appId, { name: "c" });
    const byApp = await keywardJson<{ revoked: string[]; unchanged: string[] }>(
      "tokens",
      "revoke",
      "--application",
      appId,
      "--yes",
    );
    expect(byApp.revoked).toEqual([c.id]);
    expect(byApp.unchanged.sort()).toEqual([a.id, b.id].sort());
  });

  it("refuses a revoke that names no token as a missing argument (exit 64)", async () => {
    const result = await keyward("tokens", "revoke");
    expect(result.code).toBe(64);
    expect(result.output).toContain("say which tokens to revoke");
  });
});

describe("keyward service-keys", () => {
  it("lists and revokes a service key; the running server refuses it well within the cache's maximum age", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const { key, id } = await createServiceKey(client, appId);
    const keys = await keywardJson<Array<{ id: string; status: string }>>(
      "service-keys",
      "list",
      "--application",
      appId,
    );
    expect(keys).toEqual([expect.objectContaining({ id, status: "active" })]);
    const status = async () =>
      (await fetch(`${server.baseUrl}/api/v1/service/users/x`, { headers: bearer(key) })).status;
    // Used first: the running server has the key cached when the command revokes it.
    expect(await status()).toBe(404);
    const revoked = await keywardJson<{ changed: boolean }>("service-keys", "revoke", id);
    const revokedAt = Date.now();
    expect(revoked.changed).toBe(true);
    await pollUntil("the revoked service key to be refused", async () => (await status()) === 401);
    // Announced like a token's revocation: heard within the change feed's 100 ms poll (2 s
    // leaves room for a loaded machine; the cache's maximum age is 5 s).
    expect(Date.now() - revokedAt).toBeLessThan(2000);
  });
});

describe("the command line itself", () => {
  it("prints help for every command and exits 0", async () => {
    for (const args of [["--help"], ["users", "--help"], ["tokens", "revoke", "--help"]]) {
      const result = await keyward(...args);
      expect(result.code, args.join(" ")).toBe(0);
      expect(result.output).toContain("Usage: keyward");
    }
  });

  it("refuses a DATABASE_URL with no store there (exit 66), and creates nothing", async () => {
    const absent = join(mkdtempSync(join(tmpdir(), "keyward-absent-")), "typo", "kw.db");
    const result = await runNode(["--import", "tsx", MAIN, "users", "list"], {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: `sqlite:${absent}`,
    });
    expect(result.code).toBe(66);
    expect(result.output).toContain(`No Keyward store at ${absent}`);
    expect(existsSync(dirname(absent))).toBe(false);
  });

  it.skipIf(!postgresAvailable())(
    "answers a PostgreSQL role or database that does not exist as configuration (exit 78)",
    async () => {
      const run = (url: string) =>
        runNode(["--import", "tsx", MAIN, "users", "list"], {
          PATH: process.env.PATH ?? "",
          DATABASE_URL: url,
        });
      const admin = new URL(TEST_DATABASE_URL as string);
      const noRole = new URL(admin);
      noRole.username = "keyward_no_such_role";
      noRole.password = "";
      const noDatabase = new URL(admin);
      noDatabase.pathname = "/keyward_no_such_database";
      for (const [url, what] of [
        [noRole, 'role "keyward_no_such_role" does not exist'],
        [noDatabase, 'database "keyward_no_such_database" does not exist'],
      ] as const) {
        const result = await run(url.toString());
        expect(result.code, result.output).toBe(78);
        expect(result.output).toContain(what);
        expect(result.output).toContain("Check DATABASE_URL.");
      }
      // TLS asked of a server without it: configuration too, said as such.
      const [ssl] = await adminQuery<{ ssl: string }>("show ssl");
      if (ssl?.ssl === "off") {
        const tls = new URL(admin);
        tls.searchParams.set("sslmode", "verify-full");
        const result = await run(tls.toString());
        expect(result.code, result.output).toBe(78);
        expect(result.output).toContain(
          "Error: The server does not support SSL connections. Check DATABASE_URL (sslmode=disable",
        );
      } else {
        console.warn(
          "The test PostgreSQL server has TLS on: its refusal of sslmode is not tested.",
        );
      }
    },
  );

  it("answers an unknown command or option with exit code 64", async () => {
    expect((await keyward("frobnicate")).code).toBe(64);
    expect((await keyward("users", "list", "--colour")).code).toBe(64);
  });
});

describe("keyward audit export", () => {
  it("streams events from a date as JSON lines, oldest first, filtered by application", async () => {
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const a = await createToken(client, appId, { name: "first" });
    const b = await createToken(client, appId, { name: "second" });
    const today = new Date().toISOString().slice(0, 10);
    const result = await keyward("audit", "export", "--since", today, "--application", appId);
    expect(result.code, result.output).toBe(0);
    const lines = result.output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { action: string; tokenId: string; createdAt: string });
    expect(lines.map((e) => [e.action, e.tokenId])).toEqual([
      ["token.created", a.id],
      ["token.created", b.id],
    ]);
    expect(lines[0]?.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(result.output).toContain("2 event(s) exported.");

    const bad = await keyward("audit", "export", "--since", "last tuesday");
    expect(bad.code).toBe(65);
    expect(bad.output).toContain("--since must be a date");

    // A file it cannot write: said plainly, with the code of a missing path, no stack.
    const nowhere = "/nonexistent-folder-of-keyward/audit.jsonl";
    const unwritable = await keyward("audit", "export", "--since", today, "--output", nowhere);
    expect(unwritable.code).toBe(66);
    expect(unwritable.output).toContain("/nonexistent-folder-of-keyward: no such folder.");
    expect(unwritable.output).not.toContain("    at ");
  });

  it("writes --output for its owner only, replaces a file only with --force, and never the store or what is not a file", async () => {
    const database = server.config.database;
    if (database.kind !== "sqlite") throw new Error("SQLite only");
    const { client, appId } = await signUpWithApp(server.baseUrl);
    await createToken(client, appId, { name: "exported" });
    const today = new Date().toISOString().slice(0, 10);
    const folder = mkdtempSync(join(tmpdir(), "keyward-export-"));
    const file = join(folder, "audit.jsonl");
    const exportTo = (target: string, ...more: string[]) =>
      keyward("audit", "export", "--since", today, "--output", target, ...more);

    const first = await exportTo(file);
    expect(first.code, first.output).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).toContain('"token.created"');
    expect(readdirSync(folder)).toEqual(["audit.jsonl"]);

    writeFileSync(file, "kept\n");
    const again = await exportTo(file);
    expect(again.code).toBe(65);
    expect(again.output).toContain("--force");
    expect(readFileSync(file, "utf8")).toBe("kept\n");
    expect((await exportTo(file, "--force")).code).toBe(0);
    expect(readFileSync(file, "utf8")).toContain('"token.created"');

    // The store and its files, even with --force: the store stays whole and in use.
    const storeBefore = statSync(database.path).size;
    for (const target of [database.path, `${database.path}-wal`]) {
      const refused = await exportTo(target, "--force");
      expect(refused.code, target).toBe(65);
      expect(refused.output).toContain("is the store itself");
    }
    expect(statSync(database.path).size).toBeGreaterThanOrEqual(storeBefore);
    expect((await client.get(`/api/v1/applications/${appId}/tokens`)).status).toBe(200);

    // A folder or a pipe, even with --force: left as it is.
    const pipe = join(folder, "pipe");
    execFileSync("mkfifo", [pipe]);
    for (const target of [folder, pipe]) {
      const refused = await exportTo(target, "--force");
      expect(refused.code, target).toBe(65);
      expect(refused.output).toContain("is not a regular file");
    }
    expect(statSync(pipe).isFIFO()).toBe(true);
    expect((await exportTo("")).code).toBe(64);

    rmSync(folder, { recursive: true, force: true });
  }, 90_000);

  it("says which file a write failed on part-way, and leaves neither it nor a partial one", async () => {
    // Here the size a process may write (ulimit -f, in KiB), as a full disk would fail it.
    const { client, appId } = await signUpWithApp(server.baseUrl);
    const folder = mkdtempSync(join(tmpdir(), "keyward-export-"));
    for (let i = 0; i < 8; i++) await createToken(client, appId, { name: `filler ${i}` });
    const limited = join(folder, "limited.jsonl");
    const failed = await runProgram(
      "sh",
      ["-c", 'ulimit -f 1 && exec "$0" "$@"', process.execPath, "--import", "tsx", MAIN].concat([
        "audit",
        "export",
        "--since",
        "2000-01-01",
        "--output",
        limited,
      ]),
      { PATH: process.env.PATH ?? "", DATABASE_URL: databaseUrl, USER: "alice" },
    );
    expect(failed.code, failed.output).toBe(1);
    expect(failed.output).toContain(`Error: ${limited}: the file is larger than the system allows`);
    expect(readdirSync(folder).filter((name) => name.startsWith("limited"))).toEqual([]);
    rmSync(folder, { recursive: true, force: true });
  }, 60_000);
});
