import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";

function commandExists(command: string, args: string[]): boolean {
  return !spawnSync(command, args, { stdio: "ignore" }).error;
}

export const cores = availableParallelism();
export const hasWrk = commandExists("wrk", ["-v"]);
const hasTaskset = commandExists("taskset", ["-V"]);
/** The server and wrk each get a core of their own when taskset and two cores allow it. */
export const pinned = hasTaskset && cores >= 2;
export const SERVER_CPU = "0";
export const LOAD_CPU = "1";

/** `command args` run on `cpu` through taskset when pinning is possible, else as it is. */
export function onCore(cpu: string, command: string, args: string[]): [string, string[]] {
  return pinned ? ["taskset", ["-c", cpu, command, ...args]] : [command, args];
}

/** The machine a run's numbers come from, recorded with them. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  wrk: string | null;
  pinned: { server: string; loadGenerator: string } | null;
  loadAverage: string;
}

export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? "unknown";
  try {
    const model = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
    if (model) cpuModel = model.trim();
  } catch {}
  const wrkVersion = hasWrk
    ? (/wrk (\S+)/.exec(spawnSync("wrk", ["-v"], { encoding: "utf8" }).stdout ?? "")?.[1] ??
      "unknown")
    : null;
  return {
    nproc: cores,
    cpuModel,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    wrk: wrkVersion,
    pinned: pinned ? { server: SERVER_CPU, loadGenerator: LOAD_CPU } : null,
    loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}
