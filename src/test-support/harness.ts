import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { createKeyward, type Keyward, type Overrides } from "../compose.js";
import { type Config, loadConfig } from "../config.js";
import { createTestDatabase, databaseUrl, dropTestDatabase } from "./postgres.js";

/**
 * Which store `startTestServer` uses: SQLite by default; a fresh PostgreSQL database when
 * KEYWARD_TEST_STORE=postgres (set by the "postgres" vitest project, which needs
 * TEST_DATABASE_URL), so the same HTTP tests run against both stores.
 */
export const TEST_STORE: "sqlite" | "postgres" =
  process.env.KEYWARD_TEST_STORE === "postgres" ? "postgres" : "sqlite";

/** Names the PostgreSQL database of a test server, so a restart on `dataDir` finds it again. */
const POSTGRES_MARKER = "postgres-database";

/**
 * The DATABASE_URL for a test server in `dataDir`: a SQLite file in it, or (in the
 * PostgreSQL run) a database created for it on first use and recorded in it.
 */
async function testDatabaseUrl(
  dataDir: string,
): Promise<{ url: string; postgres?: string; created?: boolean }> {
  if (TEST_STORE === "sqlite") return { url: `sqlite:${join(dataDir, "keyward.db")}` };
  const marker = join(dataDir, POSTGRES_MARKER);
  if (existsSync(marker)) {
    const name = readFileSync(marker, "utf8").trim();
    return { url: databaseUrl(name), postgres: name };
  }
  const database = await createTestDatabase();
  writeFileSync(marker, database.name);
  return { url: database.url, postgres: database.name, created: true };
}

/**
 * A real Keyward listening on 127.0.0.1 (random port) over a fresh SQLite file (or a fresh
 * PostgreSQL database, see TEST_STORE).
 */
export interface TestServer {
  keyward: Keyward;
  config: Config;
  baseUrl: string;
  dataDir: string;
  /** Every log line the server wrote. */
  logs: () => string;
  close(options?: { keepData?: boolean }): Promise<void>;
}

export async function startTestServer(
  env: Record<string, string> = {},
  overrides: Overrides = {},
  dataDir = mkdtempSync(join(tmpdir(), "keyward-test-")),
  /** Runs on the built server before it listens, e.g. to add a hook. */
  beforeListen?: (keyward: Keyward) => void,
): Promise<TestServer> {
  const database = env.DATABASE_URL === undefined ? await testDatabaseUrl(dataDir) : undefined;
  const config = loadConfig({
    DATABASE_URL: database?.url,
    PORT: "0",
    LOG_LEVEL: "info",
    USAGE_FLUSH_INTERVAL_MS: "100",
    // Tests send floods of invalid tokens on purpose; the abuse limits have their own tests.
    BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "1000000",
    // Every test user signs up from 127.0.0.1; the sign-up limit has its own tests.
    SIGNUP_PER_ADDRESS_PER_HOUR: "1000000",
    ...env,
  });
  const stream = new PassThrough();
  let logText = "";
  stream.on("data", (chunk: Buffer) => {
    logText += chunk.toString("utf8");
  });
  let keyward: Keyward;
  try {
    keyward = await createKeyward(config, { logStream: stream, ...overrides });
  } catch (error) {
    if (database?.created && database.postgres !== undefined) {
      rmSync(join(dataDir, POSTGRES_MARKER), { force: true });
      await dropTestDatabase(database.postgres);
    }
    throw error;
  }
  beforeListen?.(keyward);
  await keyward.app.listen({ host: "127.0.0.1", port: 0 });
  const address = keyward.app.server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    keyward,
    config,
    baseUrl: `http://127.0.0.1:${address.port}`,
    dataDir,
    logs: () => logText,
    async close(options = {}) {
      await keyward.close();
      if (options.keepData) return;
      rmSync(dataDir, { recursive: true, force: true });
      if (database?.postgres !== undefined) await dropTestDatabase(database.postgres);
    },
  };
}

/** A browser-like client: keeps the session cookie and sends our Origin on writes. */
export class Client {
  cookie = "";

  constructor(readonly baseUrl: string) {}

  async request(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; origin?: string | null } = {},
  ): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookie) headers.cookie = this.cookie;
    if (options.body !== undefined) headers["content-type"] ??= "application/json";
    const origin = options.origin === undefined ? this.baseUrl : options.origin;
    if (origin !== null && method !== "GET") headers.origin = origin;
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      body:
        options.body === undefined
          ? undefined
          : typeof options.body === "string"
            ? options.body
            : JSON.stringify(options.body),
    });
    const setCookie = response.headers.getSetCookie();
    for (const line of setCookie) {
      const pair = line.split(";")[0] ?? "";
      this.cookie = /=$/.test(pair) || /Expires=Thu, 01 Jan 1970/i.test(line) ? "" : pair;
    }
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON; keep the text
    }
    return { status: response.status, headers: response.headers, body, text };
  }

  get<T = unknown>(path: string, headers?: Record<string, string>) {
    return this.request("GET", path, { headers }) as Promise<{
      status: number;
      headers: Headers;
      body: T;
      text: string;
    }>;
  }

  post<T = unknown>(path: string, body?: unknown) {
    return this.request("POST", path, { body }) as Promise<{
      status: number;
      headers: Headers;
      body: T;
      text: string;
    }>;
  }

  delete(path: string) {
    return this.request("DELETE", path);
  }
}

let counter = 0;

/** Signs up a new user and returns a client holding their session. */
export async function signUpUser(
  baseUrl: string,
  name = "Test User",
): Promise<{ client: Client; user: { id: string; email: string } }> {
  const client = new Client(baseUrl);
  const email = `user${Date.now()}-${counter++}@example.com`;
  const res = await client.post<{ user: { id: string; email: string } }>("/api/v1/auth/signup", {
    email,
    password: "correct horse battery staple",
    name,
  });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${res.text}`);
  return { client, user: res.body.user };
}

export async function createApp(client: Client, name = "Demo"): Promise<string> {
  const res = await client.post<{ id: string }>("/api/v1/applications", { name });
  if (res.status !== 201) throw new Error(`create app failed: ${res.status} ${res.text}`);
  return res.body.id;
}

/** Signs up a new user who creates an application: where most API tests begin. */
export async function signUpWithApp(
  baseUrl: string,
  appName?: string,
): Promise<{ client: Client; user: { id: string; email: string }; appId: string }> {
  const { client, user } = await signUpUser(baseUrl);
  return { client, user, appId: await createApp(client, appName) };
}

/** Signs up a new user whom `owner` invites to the application with `role`, and who accepts. */
export async function addMember(
  owner: Client,
  appId: string,
  role: "admin" | "member" = "member",
): Promise<{ client: Client; user: { id: string; email: string } }> {
  const { client, user } = await signUpUser(owner.baseUrl);
  await inviteAndAccept(owner, appId, client, user.email, role);
  return { client, user };
}

/** `owner` invites `email` to the application; `invitee` (signed in with that email) accepts. */
export async function inviteAndAccept(
  owner: Client,
  appId: string,
  invitee: Client,
  email: string,
  role: "admin" | "member" = "member",
): Promise<void> {
  const res = await owner.post<{ invitation: { id: string } }>(
    `/api/v1/applications/${appId}/members`,
    { email, role },
  );
  if (res.status !== 201) throw new Error(`invite failed: ${res.status} ${res.text}`);
  const accepted = await invitee.post(`/api/v1/me/invitations/${res.body.invitation.id}/accept`);
  if (accepted.status !== 201) {
    throw new Error(`accept failed: ${accepted.status} ${accepted.text}`);
  }
}

export async function createToken(
  client: Client,
  appId: string,
  body: { name: string; scopes?: string[]; expiresAt?: string; allowedAddresses?: string[] },
): Promise<{ token: string; id: string }> {
  const res = await client.post<{ token: string; apiToken: { id: string } }>(
    `/api/v1/applications/${appId}/tokens`,
    body,
  );
  if (res.status !== 201) throw new Error(`create token failed: ${res.status} ${res.text}`);
  return { token: res.body.token, id: res.body.apiToken.id };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/**
 * Writes every use the server has counted so far, instead of waiting for the flush
 * interval. A flush already running may have taken its batch before the last count, so a
 * second flush follows it (both share one write when none was running).
 */
export async function flushUsage(server: TestServer): Promise<void> {
  await server.keyward.usage.flush();
  await server.keyward.usage.flush();
}

/** Creates a service key of the application as `owner` (an owner or admin). */
export async function createServiceKey(
  owner: Client,
  appId: string,
  name = "backend",
): Promise<{ key: string; id: string }> {
  const res = await owner.post<{ key: string; serviceKey: { id: string } }>(
    `/api/v1/applications/${appId}/service-keys`,
    { name },
  );
  if (res.status !== 201) throw new Error(`create service key failed: ${res.status} ${res.text}`);
  return { key: res.body.key, id: res.body.serviceKey.id };
}

/** The host's backend: calls with a service key, no cookie and no Origin. */
export function serviceClient(baseUrl: string, key: string) {
  const client = new Client(baseUrl);
  return <T = unknown>(method: string, path: string, body?: unknown) =>
    client.request(method, path, { body, headers: bearer(key), origin: null }) as Promise<{
      status: number;
      headers: Headers;
      body: T;
      text: string;
    }>;
}
