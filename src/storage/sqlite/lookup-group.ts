import type SqliteDatabase from "better-sqlite3";

interface Waiting<T> {
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
  private waiting: Waiting<T>[] = [];
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
      if (this.waiting.length === 0) setImmediate(this.runGroup);
      this.waiting.push({ key, resolve, reject });
    });
  }

  private readonly runGroup = (): void => {
    const group = this.waiting;
    this.waiting = [];
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
    } catch {
      // Never left open: the next writer's `begin` would fail. If even this fails, the
      // connection is broken and its next statements report it.
      try {
        if (this.sqlite.inTransaction) this.rollback.run();
      } catch {}
    }
  }
}
