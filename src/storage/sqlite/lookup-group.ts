import type SqliteDatabase from "better-sqlite3";
import { StorageUnavailableError } from "../../core/errors.js";

interface Waiter<T> {
  key: string;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * Reads asked for during one turn of the event loop, made together at its end in one read
 * transaction. Each statement outside a transaction starts and ends a read transaction
 * of its own (the WAL index read, a shared lock taken and dropped), a large share of a
 * lookup over a large store; grouped, a turn's lookups pay it once. The group runs
 * synchronously, so no other statement of this connection can come between its
 * `begin` and its `commit`; when the connection is already inside a transaction (a
 * write that awaits something else meanwhile), the reads run inside it, as a single
 * read always has.
 */
export class LookupGroup<T> {
  private waiters: Waiter<T>[] = [];
  /** Set when a group's transaction could be neither committed nor rolled back. */
  private stuck = false;
  private readonly begin: SqliteDatabase.Statement;
  private readonly commit: SqliteDatabase.Statement;
  private readonly rollback: SqliteDatabase.Statement;

  /** @param read one read; what it throws goes through `toFault` to that read's caller. */
  constructor(
    private readonly sqlite: SqliteDatabase.Database,
    private readonly read: (key: string) => T,
    private readonly toFault: (error: unknown) => unknown,
  ) {
    this.begin = sqlite.prepare("begin");
    this.commit = sqlite.prepare("commit");
    this.rollback = sqlite.prepare("rollback");
  }

  load(key: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.waiters.length === 0) setImmediate(this.readGroup);
      this.waiters.push({ key, resolve, reject });
    });
  }

  private readonly readGroup = (): void => {
    const group = this.waiters;
    this.waiters = [];
    let began = false;
    if (group.length > 1 && this.sqlite.open && !this.sqlite.inTransaction) {
      try {
        this.begin.run();
        began = true;
      } catch {
        // Each read then runs on its own and reports its own fault.
      }
    }
    try {
      for (const { key, resolve, reject } of group) {
        if (this.stuck) {
          reject(new StorageUnavailableError(new LookupTransactionStuckError()));
          continue;
        }
        try {
          resolve(this.read(key));
        } catch (error) {
          reject(this.toFault(error));
        }
      }
    } finally {
      if (began) this.end();
    }
  };

  /** Ends the group's read transaction; it wrote nothing, so either way only drops the snapshot. */
  private end(): void {
    if (!this.sqlite.inTransaction) return;
    try {
      this.commit.run();
      return;
    } catch {
      // Rolled back instead: left open, it would keep every later read on this snapshot.
    }
    try {
      this.rollback.run();
    } catch {
      // Judged below, by whether the transaction is still open.
    }
    // Later reads would see neither revocations nor new tokens: they are refused (503).
    if (this.sqlite.inTransaction) this.stuck = true;
  }
}

/** Why lookups are refused after a group's read transaction could not be ended. */
export class LookupTransactionStuckError extends Error {
  constructor() {
    super("the secret lookups' read transaction could not be ended; restart the server");
    this.name = "LookupTransactionStuckError";
  }
}
