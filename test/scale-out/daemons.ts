import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pollUntil } from "../../src/test-support/poll.js";

// The Debian packages' binaries (.ci/run installs them). The tests start their own
// processes with generated configurations on free ports, never the system services.
export const PGBOUNCER = "/usr/sbin/pgbouncer";
export const HAPROXY = "/usr/sbin/haproxy";

/**
 * Which of `programs` are missing; says so once per file, loudly, so a skipped
 * scale-out test is never silent.
 */
export function missingPrograms(what: string, programs: readonly string[]): string[] {
  const missing = programs.filter((program) => !existsSync(program));
  if (missing.length > 0) {
    console.warn(
      `${what}: SKIPPED, ${missing.join(" and ")} not installed (Debian packages ${missing
        .map((p) => p.split("/").pop())
        .join(", ")}; .ci/run installs them).`,
    );
  }
  return missing;
}

/** A TCP port nobody listens on right now (the kernel's pick). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

async function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A daemon run in the foreground from a generated configuration in a temporary folder. */
export class Daemon {
  private output = "";
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly name: string,
    readonly folder: string,
    private readonly command: readonly string[],
    readonly host: string,
    readonly port: number,
    /** The configuration file's text, as the test ran it (docs/deployment.md quotes it). */
    readonly configuration: string,
  ) {}

  static async start(options: {
    name: string;
    port: number;
    host?: string;
    configuration: (folder: string) => string;
    files?: Record<string, string>;
    command: (configFile: string) => string[];
  }): Promise<Daemon> {
    const folder = await mkdtemp(join(tmpdir(), `keyward-${options.name}-`));
    // PgBouncer refuses to run as root and drops to another user, who must read these.
    await chmod(folder, 0o755);
    const configFile = join(folder, `${options.name}.conf`);
    const configuration = options.configuration(folder);
    await writeFile(configFile, configuration, { mode: 0o644 });
    for (const [name, text] of Object.entries(options.files ?? {}))
      await writeFile(join(folder, name), text, { mode: 0o644 });
    const daemon = new Daemon(
      options.name,
      folder,
      options.command(configFile),
      options.host ?? "127.0.0.1",
      options.port,
      configuration,
    );
    await daemon.run();
    return daemon;
  }

  /** Starts the process (again, after `stop`) and waits until its port accepts. */
  async run(): Promise<void> {
    const [file, ...args] = this.command;
    if (file === undefined) throw new Error("empty command");
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const collect = (d: Buffer) => {
      this.output += d.toString();
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    this.exited = new Promise((resolve) => child.on("close", () => resolve()));
    let gone = false;
    void this.exited.then(() => {
      gone = true;
    });
    await pollUntil(
      () => `${this.name} to listen on ${this.port}:\n${this.output}`,
      async () => {
        if (gone) throw new Error(`${this.name} exited:\n${this.output}`);
        return accepts(this.host, this.port);
      },
      { timeoutMs: 10_000 },
    );
  }

  log(): string {
    return this.output;
  }

  /** Stops the process (SIGTERM: PgBouncer and HAProxy both exit at once, dropping clients). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await this.exited;
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.folder, { recursive: true, force: true });
  }

  /** `url` with its host and port replaced by this daemon's. */
  urlFor(url: string): string {
    const u = new URL(url);
    u.hostname = this.host;
    u.port = String(this.port);
    return u.toString();
  }
}

/** PgBouncer in transaction pooling mode in front of the PostgreSQL at `target`. */
export async function startPgBouncer(options: {
  target: { host: string; port: number; user: string };
  poolSize?: number;
  ignoreStartupParameters?: string;
}): Promise<Daemon> {
  const port = await freePort();
  const user = options.target.user;
  return Daemon.start({
    name: "pgbouncer",
    port,
    files: { "userlist.txt": `"${user}" ""\n` },
    configuration: (folder) =>
      [
        "[databases]",
        `* = host=${options.target.host} port=${options.target.port}`,
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        `listen_port = ${port}`,
        "unix_socket_dir =",
        "auth_type = trust",
        `auth_file = ${join(folder, "userlist.txt")}`,
        "pool_mode = transaction",
        "max_client_conn = 1000",
        `default_pool_size = ${options.poolSize ?? 20}`,
        ...(options.ignoreStartupParameters
          ? [`ignore_startup_parameters = ${options.ignoreStartupParameters}`]
          : []),
        // Debian's PgBouncer refuses to run as root; it switches to this user after start.
        ...(process.getuid?.() === 0 ? ["user = postgres"] : []),
        "",
      ].join("\n"),
    command: (file) => [PGBOUNCER, file],
  });
}

/** The address HAProxy connects to the Keyward processes from: TRUST_PROXY names it. */
export const BALANCER_SOURCE_ADDRESS = "127.0.0.3";

/**
 * HAProxy in front of `backends` (host:port each): round robin per request, `option
 * forwardfor`, a `/readyz` health check, and a response header naming the server that
 * answered, so a test can see every process take its turn.
 */
export async function startHaProxy(backends: readonly string[], port: number): Promise<Daemon> {
  return Daemon.start({
    name: "haproxy",
    port,
    configuration: () =>
      [
        "global",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode http",
        "    option forwardfor",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        // The revocation stream is a long-lived response.
        "    timeout tunnel 1h",
        "",
        "frontend keyward",
        `    bind 127.0.0.1:${port}`,
        "    default_backend keyward",
        "",
        "backend keyward",
        "    balance roundrobin",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        `    source ${BALANCER_SOURCE_ADDRESS}`,
        "    http-response set-header X-Served-By %s",
        ...backends.map((backend, i) => `    server keyward${i + 1} ${backend} check inter 1s`),
        "",
      ].join("\n"),
    command: (file) => [HAPROXY, "-f", file],
  });
}

/** Debian's PostgreSQL server programs (package postgresql), the newest version installed. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

/**
 * A PostgreSQL server of the test's own (initdb in a temporary folder, on a free port), so
 * a test may stop and start it: the shared server the other tests use must stay up. Run as
 * the `postgres` user when the test runs as root (PostgreSQL refuses root).
 */
export class PrivatePostgres {
  private constructor(
    private readonly bin: string,
    readonly folder: string,
    readonly port: number,
    private readonly asUser: readonly string[],
  ) {}

  static async start(bin: string): Promise<PrivatePostgres> {
    const folder = await mkdtemp(join(tmpdir(), "keyward-postgres-"));
    const root = process.getuid?.() === 0;
    if (root) execFileSync("chown", ["postgres:postgres", folder]);
    const asUser = root ? ["runuser", "-u", "postgres", "--"] : [];
    const server = new PrivatePostgres(bin, folder, await freePort(), asUser);
    server.run("initdb", ["-D", server.dataDir, "--auth=trust", "-U", "postgres", "--no-sync"]);
    await server.startServer();
    return server;
  }

  get dataDir(): string {
    return join(this.folder, "data");
  }

  /** A connection URL to database `name` on it. */
  url(name = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  private run(program: string, args: readonly string[]): string {
    const [file, ...rest] = [...this.asUser, join(this.bin, program), ...args];
    return execFileSync(file ?? "", rest, { encoding: "utf8", stdio: "pipe" });
  }

  /** Starts it and waits until it accepts connections (`pg_ctl -w`). */
  async startServer(): Promise<void> {
    const options = `-p ${this.port} -k ${this.folder} -c listen_addresses=127.0.0.1`;
    this.run("pg_ctl", [
      "-D",
      this.dataDir,
      "-l",
      join(this.folder, "log"),
      "-o",
      options,
      "-w",
      "start",
    ]);
  }

  /** Stops it as an operator's restart does (`-m fast`: clients disconnected, clean shutdown). */
  async stopServer(): Promise<void> {
    this.run("pg_ctl", ["-D", this.dataDir, "-m", "fast", "-w", "stop"]);
  }

  async close(): Promise<void> {
    try {
      this.run("pg_ctl", ["-D", this.dataDir, "-m", "immediate", "-w", "stop"]);
    } catch {
      // Already stopped.
    }
    await rm(this.folder, { recursive: true, force: true });
  }
}
