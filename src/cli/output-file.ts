import { randomBytes } from "node:crypto";
import {
  closeSync,
  linkSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  unlinkSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { EXIT_CODES } from "../core/errors.js";

/** A command's refusal of the file it was asked to write: its exit code and message. */
export interface OutputRefusal {
  code: number;
  message: string;
}

/** SQLite's files beside a database, and Keyward's server lock: none may be replaced. */
const STORE_FILE_SUFFIXES = ["", "-wal", "-shm", "-journal", "-server.lock"];

/**
 * Why a command must not write `file` (a backup, an audit export), or undefined. Refused
 * even with `force`: the store or one of its files, by name however spelled or by identity
 * (replacing one while the server runs leaves it writing to a deleted file and corrupts
 * the store), and anything that is not a regular file (a device such as /dev/null, a
 * folder, a pipe), which the final rename would replace. Without `force`, a file that
 * exists (checked again, atomically, when the file is put in place: `finishPartialFile`).
 */
export function refuseOutputFile(
  file: string,
  options: { force: boolean; storePath: string | undefined },
): OutputRefusal | undefined {
  if (file.trim() === "") {
    return { code: EXIT_CODES.usage, message: "Error: the file name is empty." };
  }
  if (options.storePath !== undefined && isStoreFile(file, options.storePath)) {
    return {
      code: EXIT_CODES.data,
      message: `Error: ${file} is the store itself (or one of its files). Write it elsewhere.`,
    };
  }
  // A symbolic link counts as there (a dangling one too): replaced only with --force. What
  // it points to must be a regular file, or nothing.
  const there = lstatOrUndefined(file) !== undefined;
  const stats = statOrUndefined(file);
  if (stats !== undefined && !stats.isFile()) {
    return {
      code: EXIT_CODES.data,
      message: `Error: ${file} is not a regular file (a device, a folder or a pipe). Write to a file.`,
    };
  }
  if (there && !options.force) {
    return {
      code: EXIT_CODES.data,
      message: `Error: ${file} exists. Choose another file, or add --force to replace it.`,
    };
  }
  const folder = dirname(resolve(file));
  if (!statOrUndefined(folder)?.isDirectory()) {
    return { code: EXIT_CODES.notFound, message: `Error: ${folder}: no such folder.` };
  }
  return undefined;
}

/** A file being written beside its destination, put in place only when whole. */
export interface PartialFile {
  path: string;
  /** Open for writing until handed over (`takeDescriptor`) or closed. */
  fd: number | undefined;
  /** Removes the file if the process is interrupted while it is written. */
  readonly onSignal: (signal: NodeJS.Signals) => void;
}

/** Signals an operator stops a command with; a partial file is removed on either. */
const INTERRUPTIONS: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];

/**
 * Creates this run's partial file of `file`, readable by its owner only (a backup holds
 * password hashes and two-factor and webhook secrets; an export, who did what and from
 * where), under a name of its own (`FILE.<pid>-<random>.partial`), so that two runs
 * writing the same file never share one, even in containers where every process is 1.
 * Removed if the command is interrupted (Ctrl-C, SIGTERM); only a killed run leaves it.
 */
export function createPartialFile(file: string): PartialFile {
  const path = `${file}.${process.pid}-${randomBytes(4).toString("hex")}.partial`;
  const partial: PartialFile = {
    path,
    fd: openSync(path, "wx", 0o600),
    onSignal: (signal) => {
      discardPartialFile(partial);
      process.exit(signal === "SIGINT" ? 130 : 143);
    },
  };
  for (const signal of INTERRUPTIONS) process.once(signal, partial.onSignal);
  return partial;
}

/** The partial file's descriptor, for a stream that closes it itself from then on. */
export function takeDescriptor(partial: PartialFile): number {
  const { fd } = partial;
  if (fd === undefined) throw new Error("The partial file is not open.");
  partial.fd = undefined;
  return fd;
}

/** Errors that mean a file system without hard links: the new name is then renamed to. */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

/**
 * Puts a finished partial file in place. Without `force` it is linked under the new name,
 * which fails if a file appeared there since the check (EEXIST, about `file`), rather than
 * renamed over it.
 */
export function finishPartialFile(partial: PartialFile, file: string, force: boolean): void {
  closePartialFile(partial);
  if (force) {
    renameSync(partial.path, file);
  } else {
    try {
      linkSync(partial.path, file);
      unlinkSync(partial.path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") throw Object.assign(error as Error, { path: file });
      if (code === undefined || !NO_HARD_LINKS.has(code)) throw error;
      // The check before the work stands alone.
      renameSync(partial.path, file);
    }
  }
  stopWatching(partial);
}

/** Removes a partial file that will not be finished (nothing if it was). */
export function discardPartialFile(partial: PartialFile): void {
  closePartialFile(partial);
  rmSync(partial.path, { force: true });
  stopWatching(partial);
}

function stopWatching(partial: PartialFile): void {
  for (const signal of INTERRUPTIONS) process.removeListener(signal, partial.onSignal);
}

function closePartialFile(partial: PartialFile): void {
  if (partial.fd === undefined) return;
  closeSync(partial.fd);
  partial.fd = undefined;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Whether `file` is the store at `databasePath` or a file that belongs to it: by name,
 * however either is spelled (relative, through a symbolic link), and, when both exist, by
 * identity (device and inode: a bind mount, another letter case on a file system that
 * ignores case).
 */
function isStoreFile(file: string, databasePath: string): boolean {
  const target = canonical(file);
  const store = canonical(databasePath);
  if (STORE_FILE_SUFFIXES.some((suffix) => target === `${store}${suffix}`)) return true;
  const stats = statOrUndefined(file);
  if (stats === undefined) return false;
  return STORE_FILE_SUFFIXES.some((suffix) => {
    const storeFile = statOrUndefined(`${databasePath}${suffix}`);
    return storeFile !== undefined && storeFile.dev === stats.dev && storeFile.ino === stats.ino;
  });
}

/** The real path of a file, or of its folder joined with its name when it does not exist. */
function canonical(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}
