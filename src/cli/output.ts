// How the command line prints: aligned tables for people, JSON for scripts, progress on
// a terminal only. Secrets never pass through here except the one password a reset prints.

export interface Output {
  json: boolean;
  out(text: string): void;
  err(text: string): void;
}

export function consoleOutput(json: boolean): Output {
  return {
    json,
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  };
}

/** Epoch milliseconds as ISO 8601 UTC; null stays null. */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** A record for JSON output: every `...At` time as ISO 8601 UTC, like the HTTP API. */
export function jsonRecord<T extends object>(record: T): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    result[key] =
      key.endsWith("At") && (typeof value === "number" || value === null) ? iso(value) : value;
  }
  return result;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** A short date for tables: `2025-01-31 14:05`, or `-`. */
export function shortTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined
    ? "-"
    : new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}

export interface Progress {
  update(done: number, total?: number): void;
  finish(): void;
}

/**
 * A progress line on standard error, redrawn at most ten times a second, only when
 * standard error is a terminal: piped output and logs stay clean.
 */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => {}, finish: () => {} };
  let last = 0;
  let shown = false;
  const draw = (done: number, total?: number) => {
    const width = 30;
    let text: string;
    if (total !== undefined && total > 0) {
      const ratio = Math.min(1, done / total);
      const filled = Math.round(ratio * width);
      text = `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${done}/${total}`;
    } else {
      text = `${label} ${done}`;
    }
    stream.write(`\r${text}\u001b[K`);
    shown = true;
  };
  let latest: [number, number | undefined] = [0, undefined];
  return {
    update(done, total) {
      latest = [done, total];
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      draw(done, total);
    },
    finish() {
      if (!shown) return;
      draw(...latest);
      stream.write("\n");
    },
  };
}
