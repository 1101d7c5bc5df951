import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = join(REPO_ROOT, "dist", "cli", "main.js");

export function requireBuild(): void {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run "npm run build" first (npm test does).`);
}

/** A Keyward server running as its own process, as a user starts it. */
export interface ServerProcess {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
  /** Resolves with the exit code once the process has exited and `output` holds all it wrote. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function runCli(
  args: string[],
  env: Record<string, string>,
  cwd = REPO_ROOT,
): Promise<{ code: number | null; output: string }> {
  return runNode([CLI, ...args], { PATH: process.env.PATH ?? "", ...env }, cwd);
}

/** Runs a Node.js script to its end; stdout and stderr interleaved as they came. */
export function runNode(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd = REPO_ROOT,
): Promise<{ code: number | null; output: string }> {
  return runProgram(process.execPath, args, env, cwd);
}

/** Runs a program to its end; stdout and stderr interleaved as they came. */
export function runProgram(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd = REPO_ROOT,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd, env });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    // "close", not "exit": "exit" can come before the last of stdout and stderr is read.
    child.on("close", (code) => resolve({ code, output }));
  });
}

/**
 * Starts `keyward start` from this checkout's build, or, given `command`, from another
 * installation of Keyward (test/package.test.ts runs the command npm installed).
 */
export async function startServerProcess(
  env: Record<string, string>,
  cwd = REPO_ROOT,
  command: readonly string[] = [process.execPath, CLI],
  options: {
    /**
     * Where the server's stdout (its log) goes instead of a pipe into this process. Under
     * load, a pipe this process is slow to read makes the server wait on its log writes.
     */
    logFile?: string;
  } = {},
): Promise<ServerProcess> {
  const [file, ...args] = command;
  if (file === undefined) throw new Error("startServerProcess: empty command");
  if (file === process.execPath && args[0] === CLI) requireBuild();
  const logFd = options.logFile === undefined ? undefined : openSync(options.logFile, "w");
  const child = spawn(file, [...args, "start"], {
    cwd,
    env: { PATH: process.env.PATH ?? "", PORT: "0", ...env },
    stdio: ["pipe", logFd ?? "pipe", "pipe"],
  });
  if (logFd !== undefined) closeSync(logFd);
  let piped = "";
  const output = () =>
    options.logFile === undefined ? piped : readFileSync(options.logFile, "utf8") + piped;
  // "close", not "exit": "exit" can come before the last of stdout and stderr is read.
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => resolve(code)),
  );
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let listening = false;
    const look = () => {
      // Once found, never again: with a log file, output() reads the whole file, and under
      // load (100 MB of access log) doing it for every line of standard error stalled this
      // process for seconds.
      if (listening) return;
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output());
      if (match?.[1]) {
        listening = true;
        clearInterval(poll);
        resolve(match[1]);
      }
    };
    const onData = (d: Buffer) => {
      piped += d.toString();
      look();
    };
    const poll = setInterval(look, options.logFile === undefined ? 60_000 : 20);
    poll.unref();
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) =>
      reject(new Error(`server exited with ${code} before listening:\n${output}`)),
    );
    setTimeout(() => reject(new Error(`server did not start in time:\n${output}`)), 20_000).unref();
  });
  return {
    child,
    baseUrl,
    output,
    exited,
    async stop(signal = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
  };
}
