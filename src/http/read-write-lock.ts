/**
 * A fair read-write lock for async work in one process: any number of readers hold it at
 * once, a writer holds it alone, and whoever waits is let in in the order they came (a
 * stream of readers never starves a writer). Entry is immediate when nobody waits.
 */
export class ReadWriteLock {
  private readers = 0;
  private writing = false;
  private readonly waiting: Array<{ write: boolean; enter: () => void }> = [];

  /** Runs `work` alongside other readers, never while a writer runs. */
  read<T>(work: () => Promise<T>): Promise<T> {
    return this.run(false, work);
  }

  /** Runs `work` alone: no reader and no other writer runs meanwhile. */
  write<T>(work: () => Promise<T>): Promise<T> {
    return this.run(true, work);
  }

  private async run<T>(write: boolean, work: () => Promise<T>): Promise<T> {
    if (this.waiting.length === 0 && this.admits(write)) this.take(write);
    else await new Promise<void>((enter) => this.waiting.push({ write, enter }));
    try {
      return await work();
    } finally {
      if (write) this.writing = false;
      else this.readers--;
      this.letIn();
    }
  }

  private admits(write: boolean): boolean {
    return write ? !this.writing && this.readers === 0 : !this.writing;
  }

  private take(write: boolean): void {
    if (write) this.writing = true;
    else this.readers++;
  }

  private letIn(): void {
    for (let next = this.waiting[0]; next !== undefined; next = this.waiting[0]) {
      if (!this.admits(next.write)) return;
      this.waiting.shift();
      // Taken here, before the waiter resumes, so nobody arriving meanwhile slips ahead.
      this.take(next.write);
      next.enter();
    }
  }
}
