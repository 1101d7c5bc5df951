import { join } from "node:path";
import { adminQuery } from "../../src/test-support/postgres.js";
import { type ServerProcess, startServerProcess } from "../../src/test-support/process.js";

/** Several real `keyward start` processes; stopped together. */
export class Cluster {
  readonly processes: ServerProcess[] = [];

  /** Starts `count` processes at once, each with `env` (plus its own entries in `each`). */
  async start(
    count: number,
    env: Record<string, string>,
    each: Array<Record<string, string>> = [],
    /** The folder for each process's log file (`server-<n>.log`); piped to this process otherwise. */
    logDir?: string,
  ): Promise<ServerProcess[]> {
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, i) =>
        startServerProcess({ ...env, ...each[i] }, undefined, undefined, {
          logFile: logDir === undefined ? undefined : join(logDir, `server-${i}.log`),
        }),
      ),
    );
    for (const result of started)
      if (result.status === "fulfilled") this.processes.push(result.value);
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return started.map((r) => (r as PromiseFulfilledResult<ServerProcess>).value);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes
        .splice(0)
        .map((p) =>
          p.child.exitCode === null && p.child.signalCode === null ? p.stop("SIGTERM") : undefined,
        ),
    );
  }
}

/** The application_name a server process gives its LISTEN connection. */
export function listenerName(server: ServerProcess): string {
  return `keyward-listener:${server.child.pid}`;
}

/** Terminates a server's LISTEN connection from the database side; true when one was found. */
export async function killListener(server: ServerProcess): Promise<boolean> {
  const rows = await adminQuery<{ ok: boolean }>(
    "select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1",
    [listenerName(server)],
  );
  return rows.some((r) => r.ok);
}

/** True once the server's LISTEN connection is back: its first query (LISTEN) has completed. */
export async function listenerConnected(server: ServerProcess): Promise<boolean> {
  const rows = await adminQuery(
    "select 1 from pg_stat_activity where application_name = $1 and state = 'idle' and query <> ''",
    [listenerName(server)],
  );
  return rows.length > 0;
}

/** Nearest-rank percentile of `values` (0 < p <= 100). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

export function summarize(values: readonly number[]): { p50: number; p99: number; max: number } {
  return { p50: percentile(values, 50), p99: percentile(values, 99), max: percentile(values, 100) };
}

export const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
