import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { bearer, Client, createApp, createToken, signUpUser } from "../src/test-support/harness.js";
import {
  requireBuild,
  runCli,
  type ServerProcess,
  startServerProcess,
} from "../src/test-support/process.js";

const dirs: string[] = [];
const running: ServerProcess[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "keyward-proc-"));
  dirs.push(dir);
  return dir;
}

async function start(env: Record<string, string>, cwd?: string) {
  const server = await startServerProcess(env, cwd);
  running.push(server);
  return server;
}

beforeAll(() => requireBuild());
afterEach(async () => {
  for (const server of running.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null)
      await server.stop("SIGKILL");
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("the server as a process", () => {
  it("creates ./data/keyward.db on first start with no configuration", async () => {
    const cwd = tempDir();
    const server = await start({}, cwd);
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    expect(existsSync(join(cwd, "data", "keyward.db"))).toBe(true);
    expect(await server.stop()).toBe(0);
  });

  it("logs the whole lifecycle without a plaintext token, cookie or password", async () => {
    const dir = tempDir();
    const server = await start({
      DATABASE_URL: `sqlite:${join(dir, "k.db")}`,
      USAGE_FLUSH_INTERVAL_MS: "100",
      LOG_LEVEL: "debug",
    });
    const { client } = await signUpUser(server.baseUrl);
    const appId = await createApp(client);
    const { token, id } = await createToken(client, appId, { name: "canary" });
    const api = new Client(server.baseUrl);
    expect((await api.get("/api", bearer(token))).status).toBe(200);
    // Every wrong way to send it.
    await api.get(`/api?access_token=${token}`);
    await api.get(`/api/${token}`);
    await api.post("/api/v1/verify", { token });
    await api.request("POST", "/api/v1/verify", {
      body: `{"token":${token}`,
      headers: { "content-type": "application/json" },
    });
    await api.request("POST", `/api/v1/applications/${appId}/tokens`, {
      body: { name: "x" },
      headers: bearer(token),
      origin: null,
    });
    await api.get("/api", { authorization: `Bearer ${token} ${token}` });
    const regenerated = await client.post<{ token: string }>(
      `/api/v1/applications/${appId}/tokens/${id}/regenerate`,
    );
    await client.delete(`/api/v1/applications/${appId}/tokens/${id}`);
    expect((await api.get("/api", bearer(regenerated.body.token))).status).toBe(401);
    // stop() resolves once the output is complete, so every line written is checked below.
    expect(await server.stop()).toBe(0);

    const logs = server.output();
    expect(logs).toContain("request completed");
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(regenerated.body.token);
    expect(logs).not.toMatch(/kw_[0-9A-Za-z]{36}/);
    expect(logs).not.toContain("correct horse");
    expect(logs).not.toContain(client.cookie.split("=")[1] ?? "no-cookie");
  });

  it("keeps a revocation after a crash and a restart", async () => {
    const dir = tempDir();
    const env = { DATABASE_URL: `sqlite:${join(dir, "k.db")}` };
    const first = await start(env);
    const { client } = await signUpUser(first.baseUrl);
    const appId = await createApp(client);
    const revoked = await createToken(client, appId, { name: "revoked" });
    const kept = await createToken(client, appId, { name: "kept" });
    expect((await client.delete(`/api/v1/applications/${appId}/tokens/${revoked.id}`)).status).toBe(
      204,
    );
    await first.stop("SIGKILL");

    const second = await start(env);
    const api = new Client(second.baseUrl);
    expect((await api.get("/api", bearer(revoked.token))).status).toBe(401);
    expect((await api.get("/api", bearer(kept.token))).status).toBe(200);
  });

  it("writes every buffered access-log line on SIGTERM and SIGINT", async () => {
    // Standard output is a pipe here, so the lines are JSON and buffered (up to a second).
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const dir = tempDir();
      const server = await start({ DATABASE_URL: `sqlite:${join(dir, "k.db")}` });
      const api = new Client(server.baseUrl);
      for (let i = 0; i < 5; i++) expect((await api.get(`/healthz?n=${i}`)).status).toBe(200);
      expect(await server.stop(signal)).toBe(0);
      const lines = server
        .output()
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { msg?: string; req?: { url?: string } });
      const healthz = lines.filter(
        (l) => l.msg === "request completed" && l.req?.url === "/healthz?[query redacted]",
      );
      expect(healthz, signal).toHaveLength(5);
      expect(
        lines.some((l) => l.msg?.startsWith("shutting down")),
        signal,
      ).toBe(true);
    }
  });

  it("writes pending usage on SIGTERM before exiting", async () => {
    const dir = tempDir();
    const env = { DATABASE_URL: `sqlite:${join(dir, "k.db")}`, USAGE_FLUSH_INTERVAL_MS: "5000" };
    const first = await start(env);
    const { client } = await signUpUser(first.baseUrl);
    const appId = await createApp(client);
    const { token, id } = await createToken(client, appId, { name: "counted" });
    const api = new Client(first.baseUrl);
    for (let i = 0; i < 3; i++) expect((await api.get("/api", bearer(token))).status).toBe(200);
    expect(await first.stop("SIGTERM")).toBe(0);

    const db = new Database(join(dir, "k.db"), { readonly: true });
    try {
      // The last use lives in the usage row of the day (migration 0005).
      const row = db
        .prepare(
          "select max(last_used_at) as last_used_at from token_usage_daily where token_id = ?",
        )
        .get(id) as { last_used_at: number | null };
      const usage = db
        .prepare("select sum(requests) as total from token_usage_daily where token_id = ?")
        .get(id) as { total: number };
      expect(row.last_used_at).not.toBeNull();
      expect(usage.total).toBe(3);
    } finally {
      db.close();
    }
  });

  it("refuses to start on a schema newer than the code, with a clear message", async () => {
    const dir = tempDir();
    const file = join(dir, "k.db");
    const migrated = await runCli(["migrate"], { DATABASE_URL: `sqlite:${file}` });
    expect(migrated.code).toBe(0);
    const db = new Database(file);
    db.prepare("insert into keyward_migration (name, timestamp) values (?, ?)").run(
      "9999-from-the-future",
      new Date().toISOString(),
    );
    db.close();
    const refused = await runCli(["start"], { DATABASE_URL: `sqlite:${file}`, PORT: "0" });
    expect(refused.code).toBe(1);
    expect(refused.output).toContain("newer than this version of Keyward");
    expect(refused.output).toContain("9999-from-the-future");
  });

  it("reports every configuration problem at once", async () => {
    const result = await runCli(["start"], {
      PORT: "http",
      TOKEN_PREFIX: "Bad_Prefix",
      DATABASE_URL: "mysql://x",
    });
    expect(result.code).toBe(78);
    expect(result.output).toContain("PORT");
    expect(result.output).toContain("TOKEN_PREFIX");
    expect(result.output).toContain("DATABASE_URL");
  });
});
