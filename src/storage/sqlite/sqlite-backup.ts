import { existsSync } from "node:fs";
import SqliteDatabase from "better-sqlite3";

export interface BackupProgress {
  totalPages: number;
  remainingPages: number;
}

export interface BackupResult {
  totalPages: number;
  bytes: number;
}

/**
 * Pages copied per step. Between steps the server may write; SQLite then restarts the copy
 * from the first page (a write by another connection invalidates it), so steps are large:
 * 4096 pages (16 MiB at the default page size) hold a read transaction for a few
 * milliseconds, which in WAL mode blocks no writer.
 */
const PAGES_PER_STEP = 4096;

/**
 * A consistent copy of a live SQLite store in `partial`, an empty file the caller made
 * (with the permissions the copy keeps: SQLite writes into it), with SQLite's online
 * backup (safe while a server reads and writes the file), checked with
 * `PRAGMA integrity_check`. The caller puts it in place, or removes it on failure, so a
 * file at the destination is always a whole, checked backup.
 */
export async function backupSqliteStore(
  sourcePath: string,
  partial: string,
  onProgress?: (progress: BackupProgress) => void,
): Promise<BackupResult> {
  if (!existsSync(sourcePath)) {
    throw new Error(`There is no SQLite database at ${sourcePath}; check DATABASE_URL.`);
  }
  const source = new SqliteDatabase(sourcePath, { fileMustExist: true, timeout: 5000 });
  try {
    const { totalPages } = await source.backup(partial, {
      progress: (progress) => {
        onProgress?.(progress);
        return PAGES_PER_STEP;
      },
    });
    const copy = new SqliteDatabase(partial, { fileMustExist: true });
    try {
      // The copy's journal mode is the source's (WAL); a backup is one self-contained file.
      copy.pragma("journal_mode = DELETE");
      const check = copy.pragma("integrity_check", { simple: true });
      if (check !== "ok")
        throw new Error(`The backup failed its integrity check: ${String(check)}`);
      const pageSize = copy.pragma("page_size", { simple: true }) as number;
      const pageCount = copy.pragma("page_count", { simple: true }) as number;
      return { totalPages, bytes: pageSize * pageCount };
    } finally {
      copy.close();
    }
  } finally {
    source.close();
  }
}
