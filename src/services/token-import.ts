import { KeywardError } from "../core/errors.js";
import { generateId } from "../core/ids.js";
import { normalizeScopes, normalizeTokenName } from "../core/rules.js";
import type { ServiceDeps } from "./deps.js";
import type { Operator } from "./operator.js";
import type { ImportedToken } from "./ports.js";

// `keyward import-tokens`: tokens of another system, known only by the SHA-256 of their
// secrets, brought into one application so they keep working while clients move over.
// The file is read twice: once to check every line (nothing is written if any is wrong),
// then to import in batches, one transaction each. Both passes stream: memory stays flat
// whatever the file's length.

/** One line of the import file (JSON lines), as documented in docs/operations.md. */
export interface ImportLine {
  sha256: string;
  name: string;
  /** `usr_…` id, an account's email, or a host user's external id; else `--user`. */
  owner?: string;
  scopes?: string[];
  expiresAt?: string | null;
  createdAt?: string;
  /** What the owner sees to tell tokens apart (e.g. the old token's last characters). */
  hint?: string;
}

const FIELDS = new Set(["sha256", "name", "owner", "scopes", "expiresAt", "createdAt", "hint"]);
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const HINT_MAX = 24;
/** Tokens per transaction. */
export const IMPORT_BATCH = 5000;
/** Problems listed before the check stops: a wrong file usually fails on every line. */
const MAX_PROBLEMS = 20;

function time(value: unknown, field: string): number {
  if (
    typeof value !== "string" ||
    !/^\d{4}-\d{2}-\d{2}/.test(value) ||
    Number.isNaN(Date.parse(value))
  )
    throw new Error(`${field} must be an ISO 8601 time (2025-01-31T12:00:00Z)`);
  return Date.parse(value);
}

interface ParsedLine {
  secretHash: string;
  name: string;
  owner: string | undefined;
  scopes: string[];
  expiresAt: number | null;
  createdAt: number | undefined;
  hint: string;
}

/** Checks one line; throws an Error whose message says what is wrong with it. */
export function parseImportLine(text: string, allowedScopes: readonly string[]): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error("not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error("must be a JSON object");
  const line = value as Record<string, unknown>;
  for (const key of Object.keys(line))
    if (!FIELDS.has(key)) throw new Error(`unknown field "${key}"`);
  if (typeof line.sha256 !== "string" || !SHA256_HEX.test(line.sha256))
    throw new Error("sha256 must be 64 hexadecimal digits (the SHA-256 of the token, hex)");
  if (typeof line.name !== "string") throw new Error("name is required (a string)");
  if (line.owner !== undefined && (typeof line.owner !== "string" || line.owner.trim() === ""))
    throw new Error("owner must be a user id, an email or a host user's external id");
  if (
    line.scopes !== undefined &&
    (!Array.isArray(line.scopes) || !line.scopes.every((s) => typeof s === "string"))
  )
    throw new Error("scopes must be an array of strings");
  if (line.hint !== undefined && (typeof line.hint !== "string" || line.hint.length > HINT_MAX))
    throw new Error(`hint must be a string of at most ${HINT_MAX} characters`);
  let name: string;
  let scopes: string[];
  try {
    name = normalizeTokenName(line.name);
    scopes = normalizeScopes(line.scopes as string[] | undefined, allowedScopes);
  } catch (error) {
    throw new Error(error instanceof Error ? error.message : String(error));
  }
  return {
    secretHash: line.sha256.toLowerCase(),
    name,
    owner: typeof line.owner === "string" ? line.owner.trim() : undefined,
    scopes,
    expiresAt:
      line.expiresAt === undefined || line.expiresAt === null
        ? null
        : time(line.expiresAt, "expiresAt"),
    createdAt: line.createdAt === undefined ? undefined : time(line.createdAt, "createdAt"),
    hint: typeof line.hint === "string" && line.hint !== "" ? line.hint : "imported",
  };
}

export interface ImportInput {
  applicationId: string;
  /** Opens the file's lines; called once per pass. */
  lines: () => AsyncIterable<string>;
  /** The owner of lines that name none. */
  defaultOwner: string | undefined;
  dryRun: boolean;
  /** Told of progress: the pass, and the lines done so far. */
  onProgress?: (pass: "check" | "import", lines: number) => void;
}

export interface ImportSummary {
  lines: number;
  /** Tokens written (dry run: that would be). */
  imported: number;
  /** Hashes already stored (an earlier run of the same import), left as they are. */
  skipped: number;
  dryRun: boolean;
}

/** Resolves owners once each: a file of a million lines usually names few users. */
function ownerResolver(deps: ServiceDeps, applicationId: string) {
  const known = new Map<string, string>();
  let members: Set<string> | undefined;
  return async (owner: string): Promise<string> => {
    const cached = known.get(owner);
    if (cached !== undefined) return cached;
    const now = deps.clock.now();
    let userId: string | undefined;
    if (owner.startsWith("usr_") || owner.includes("@")) {
      const user = await deps.store.operator.findUser(owner, now);
      if (user === undefined) throw new Error(`no user "${owner}" (keyward users list)`);
      if (user.hostApplicationId !== null && user.hostApplicationId !== applicationId)
        throw new Error(`user "${owner}" is a host user of another application`);
      if (user.hostApplicationId === null) {
        members ??= new Set(
          (await deps.store.applications.listMembers(applicationId)).map((m) => m.userId),
        );
        if (!members.has(user.id))
          throw new Error(`user "${owner}" is not a member of application ${applicationId}`);
      }
      userId = user.id;
    } else {
      const hostUser = await deps.store.hostUsers.findHostUser(applicationId, owner);
      if (hostUser === undefined)
        throw new Error(
          `no user "${owner}": not a user id, an email, or a host user's external id`,
        );
      userId = hostUser.id;
    }
    known.set(owner, userId);
    return userId;
  };
}

/**
 * Imports the file's tokens into the application, or with `dryRun` only checks it and
 * counts what would be imported. Any wrong line stops it before anything is written, with
 * every problem (up to 20) and its line number. One `token.imported` event per batch, with
 * the operator as actor; then every server hears of the new secrets.
 */
export async function importTokens(
  deps: ServiceDeps,
  operator: Operator,
  input: ImportInput,
  announceSecrets: () => Promise<void>,
): Promise<ImportSummary> {
  const application = await deps.store.operator.findApplication(
    input.applicationId,
    deps.clock.now(),
  );
  if (!application) {
    throw new KeywardError(
      "not_found",
      `No application with id "${input.applicationId}". List them with \`keyward apps list\`.`,
    );
  }
  const resolveOwner = ownerResolver(deps, application.id);
  const problems: string[] = [];
  let lines = 0;
  let tokens = 0;
  let alreadyStored = 0;
  // A dry run counts a hash given twice in the file once, as the import does (which skips
  // the repeat): every hash of the file is held for that, about 100 bytes a line.
  const seenInFile = new Set<string>();
  let repeated = 0;
  let pendingHashes: string[] = [];
  const countStored = async () => {
    alreadyStored += (await deps.store.operator.existingSecretHashes(pendingHashes)).length;
    pendingHashes = [];
  };

  // Pass 1: every line checked, owners resolved.
  for await (const text of input.lines()) {
    lines++;
    if (text.trim() === "") continue;
    try {
      const line = parseImportLine(text, application.scopes);
      const owner = line.owner ?? input.defaultOwner;
      if (owner === undefined) throw new Error("no owner: give one in the line or with --user");
      await resolveOwner(owner);
      tokens++;
      if (input.dryRun) {
        if (seenInFile.has(line.secretHash)) {
          repeated++;
        } else {
          seenInFile.add(line.secretHash);
          pendingHashes.push(line.secretHash);
          if (pendingHashes.length >= IMPORT_BATCH) await countStored();
        }
      }
    } catch (error) {
      problems.push(`line ${lines}: ${error instanceof Error ? error.message : String(error)}`);
      if (problems.length >= MAX_PROBLEMS) break;
    }
    if (lines % 10_000 === 0) input.onProgress?.("check", lines);
  }
  input.onProgress?.("check", lines);
  if (problems.length > 0) {
    throw new KeywardError(
      "validation_failed",
      `Nothing was imported; fix these lines first:\n  ${problems.join("\n  ")}${problems.length >= MAX_PROBLEMS ? "\n  (checking stopped here)" : ""}`,
    );
  }
  if (input.dryRun) {
    await countStored();
    return {
      lines,
      imported: tokens - alreadyStored - repeated,
      skipped: alreadyStored + repeated,
      dryRun: true,
    };
  }

  // Pass 2: the same lines, now known to be good, in batches of one transaction each.
  let imported = 0;
  let skipped = 0;
  let batch: ImportedToken[] = [];
  let lineNumber = 0;
  const writeBatch = async () => {
    if (batch.length === 0) return;
    const now = deps.clock.now();
    const result = await deps.store.operator.importTokens(batch, [
      {
        applicationId: application.id,
        userId: null,
        actorId: null,
        tokenId: null,
        action: "token.imported",
        reason: null,
        detail: { operator: operator.name, via: "cli", tokens: batch.length },
        ip: null,
        createdAt: now,
      },
    ]);
    imported += result.imported;
    skipped += result.skipped;
    batch = [];
  };
  for await (const text of input.lines()) {
    lineNumber++;
    if (text.trim() === "") continue;
    const line = parseImportLine(text, application.scopes);
    const now = deps.clock.now();
    batch.push({
      id: generateId(deps.random, "tok"),
      applicationId: application.id,
      userId: await resolveOwner(line.owner ?? (input.defaultOwner as string)),
      name: line.name,
      hint: line.hint,
      scopes: line.scopes,
      secretHash: line.secretHash,
      createdAt: line.createdAt ?? now,
      expiresAt: line.expiresAt,
      importedAt: now,
    });
    if (batch.length >= IMPORT_BATCH) {
      await writeBatch();
      input.onProgress?.("import", lineNumber);
    }
  }
  await writeBatch();
  input.onProgress?.("import", lineNumber);
  if (imported > 0) await announceSecrets();
  return { lines, imported, skipped, dryRun: false };
}
