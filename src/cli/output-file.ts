import { closeSync, openSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { EXIT_CODES } from "../core/errors.js";

/** A command's refusal of the file it was asked to write: its exit code and message. */
export interface OutputRefusal {
  code: number;
  message: string;
}

/** SQLite's files beside a database, and Keyward's server lock: none may be replaced. */
const STORE_FILE_SUFFIXES = ["", "-wal", "-shm", "-journal", "-server.lock"];

/** Where a file is written before it is renamed into place. */
export function partialPathOf(file: string): string {
  return `${file}.partial`;
}

/**
 * Why a command must not write `file` (a backup, an audit export), or undefined. Refused
 * even with `force`: the store or one of its files, however spelled (replacing one while
 * the server runs leaves it writing to a deleted file and corrupts the store), and anything
 * that is not a regular file (a device such as /dev/null, a folder, a pipe), which the
 * final rename would replace. Without `force`, a file that exists.
 */
export function refuseOutputFile(
  file: string,
  options: { force: boolean; storePath: string | undefined },
): OutputRefusal | undefined {
  if (file.trim() === "")
    return { code: EXIT_CODES.usage, message: "Error: the file name is empty." };
  for (const path of [file, partialPathOf(file)]) {
    if (options.storePath !== undefined && isStoreFile(path, options.storePath)) {
      return {
        code: EXIT_CODES.data,
        message: `Error: ${file} is the store itself (or one of its files). Write it elsewhere.`,
      };
    }
    const kind = fileKind(path);
    if (kind === "folder" || kind === "other") {
      return {
        code: EXIT_CODES.data,
        message: `Error: ${path} is not a regular file (a device, a folder or a pipe). Write to a file.`,
      };
    }
    if (kind === "file" && path === file && !options.force) {
      return {
        code: EXIT_CODES.data,
        message: `Error: ${file} exists. Choose another file, or add --force to replace it.`,
      };
    }
  }
  const folder = dirname(resolve(file));
  if (fileKind(folder) !== "folder") {
    return { code: EXIT_CODES.notFound, message: `Error: ${folder}: no such folder.` };
  }
  return undefined;
}

/**
 * Creates the empty partial file of `file`, readable by its owner only (a backup holds
 * password hashes and two-factor and webhook secrets; an export, who did what), replacing
 * a partial file an interrupted run left. Returns its path.
 */
export function createPartialFile(file: string): string {
  const partial = partialPathOf(file);
  rmSync(partial, { force: true });
  closeSync(openSync(partial, "wx", 0o600));
  return partial;
}

/** Moves a finished partial file into place. */
export function finishPartialFile(file: string): void {
  renameSync(partialPathOf(file), file);
}

function fileKind(path: string): "missing" | "file" | "folder" | "other" {
  try {
    const stats = statSync(path);
    if (stats.isFile()) return "file";
    return stats.isDirectory() ? "folder" : "other";
  } catch {
    return "missing";
  }
}

/**
 * Whether `file` names the store at `databasePath` or a file that belongs to it, however
 * either is spelled (relative, through a symbolic link).
 */
function isStoreFile(file: string, databasePath: string): boolean {
  const target = canonical(file);
  const store = canonical(databasePath);
  return STORE_FILE_SUFFIXES.some((suffix) => target === `${store}${suffix}`);
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
