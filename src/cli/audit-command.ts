import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { KeywardError } from "../core/errors.js";
import { exportAudit } from "../operator.js";
import type { WithSession } from "./admin-commands.js";
import { iso, progressBar } from "./output.js";
import {
  createPartialFile,
  discardPartialFile,
  finishPartialFile,
  refuseOutputFile,
  takeDescriptor,
} from "./output-file.js";

/** `2025-01-31` (midnight UTC) or a full ISO 8601 time. */
export function parseSince(text: string): number {
  const time = /^\d{4}-\d{2}-\d{2}$/.test(text)
    ? Date.parse(`${text}T00:00:00Z`)
    : Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(time)) {
    throw new KeywardError(
      "validation_failed",
      `--since must be a date (2025-01-31) or an ISO 8601 time (2025-01-31T12:00:00Z); got "${text}".`,
    );
  }
  return time;
}

export function addAuditCommands(program: Command, withSession: WithSession): void {
  const audit = program.command("audit").description("the audit trail");
  audit
    .command("export")
    .description(
      "write audit events from a date on as JSON lines, oldest first, streamed in pages (constant memory)",
    )
    .requiredOption("--since <date>", "first day (2025-01-31, UTC) or time (ISO 8601)")
    .option("--application <id>", "only this application's events")
    .option("--output <file>", "write to this file instead of standard output")
    .option("--force", "replace the --output file if it exists")
    .action((options: { since: string; application?: string; output?: string; force?: boolean }) =>
      withSession({}, async ({ deps, storePath }) => {
        const since = parseSince(options.since);
        const file = options.output;
        if (file !== undefined) {
          const refusal = refuseOutputFile(file, { force: options.force === true, storePath });
          if (refusal) {
            process.stderr.write(`${refusal.message}\n`);
            return refusal.code;
          }
        }
        // Into a partial file, put in place when every event is written: a failed export
        // leaves no half file where a whole one is expected.
        const partial = file === undefined ? undefined : createPartialFile(file);
        try {
          const progress = progressBar("Exported");
          let count = 0;
          const events = exportAudit(deps, { since, applicationId: options.application });
          async function* lines() {
            for await (const event of events) {
              yield `${JSON.stringify({ ...event, createdAt: iso(event.createdAt) })}\n`;
              progress.update(++count);
            }
          }
          // Back-pressure: a slow reader holds the next page back instead of filling
          // memory; a write that fails (a full disk) ends the export as an error.
          const out =
            partial === undefined
              ? process.stdout
              : createWriteStream("", { fd: takeDescriptor(partial) });
          try {
            await pipeline(Readable.from(lines()), out, { end: partial !== undefined });
          } catch (error) {
            // A write through a descriptor names no file: the one being written is `file`.
            const failed = error as NodeJS.ErrnoException;
            if (file !== undefined && failed.code !== undefined && failed.path === undefined)
              failed.path = file;
            throw error;
          }
          progress.finish();
          if (partial !== undefined && file !== undefined)
            finishPartialFile(partial, file, options.force === true);
          process.stderr.write(`${count} event(s) exported.\n`);
          return 0;
        } finally {
          if (partial !== undefined) discardPartialFile(partial);
        }
      }),
    );
}
