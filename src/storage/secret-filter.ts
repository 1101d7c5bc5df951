import { Uint32Set } from "../core/uint32-set.js";

/**
 * The first 32 bits of every stored secret hash, in a Uint32Set. A presented token whose
 * hash prefix is absent does not exist, so a made-up token is refused without a storage
 * read (what that saves is in docs/performance.md).
 *
 * Only ever a superset: a prefix is added before its secret is written and never
 * removed, so a "maybe" may be wrong (one storage read, then unknown) but an "absent"
 * never is. On SQLite that holds because every write of a secret passes through the one
 * server process (the command line announces its imports); on PostgreSQL, where many
 * processes write, PgSecretFilter keeps one per process complete through notifications.
 */
export class SecretFilter {
  private readonly prefixes: Uint32Set;

  /** `expected`: how many secrets it will hold, so loading them never regrows it. */
  constructor(expected = 0) {
    this.prefixes = new Uint32Set(expected);
  }

  /** `hash`: a secret hash as stored, 64 hex digits. */
  add(hash: string): void {
    this.prefixes.add(prefixOf(hash));
  }

  /** A prefix computed elsewhere (e.g. by SQL, see prefixSql), same value as `add` uses. */
  addPrefix(prefix: number): void {
    this.prefixes.add(prefix);
  }

  mayContain(hash: string): boolean {
    return this.prefixes.has(prefixOf(hash));
  }

  /** As `mayContain`, given the hash's first 32 bits (`prefixOfBinaryHash`). */
  mayContainPrefix(prefix: number): boolean {
    return this.prefixes.has(prefix);
  }

  get size(): number {
    return this.prefixes.size;
  }
}

/**
 * The 8 hex digits at `offset` as an unsigned 32-bit number, read digit by digit: no
 * substring. Total: a character that is not a lowercase hex digit, or none, reads as
 * some digit, the same one wherever the same text is read.
 */
export function prefixOf(hash: string, offset = 0): number {
  let prefix = 0;
  for (let i = offset; i < offset + 8; i++) {
    const c = hash.charCodeAt(i);
    // 0-9 are 48-57, a-f 97-102; anything else (never in a stored hash) reads as some
    // digit, always the same one for the same character.
    const digit = c <= 57 ? c - 48 : c - 87;
    prefix = (prefix << 4) | (digit & 15);
  }
  return prefix >>> 0;
}

/**
 * The prefix of `hash_column` as SQLite computes it: an integer per row instead of a
 * 64-character string, so loading many secrets makes no garbage for the collector
 * (reading the strings raised the process's peak memory). Stored hashes
 * are lowercase hex (`hashToken`), for which this equals `prefixOf`.
 */
export function prefixSql(hashColumn: string): string {
  const digits = [];
  for (let i = 0; i < 8; i++) {
    digits.push(
      `(instr('0123456789abcdef', substr(${hashColumn}, ${i + 1}, 1)) - 1) * ${16 ** (7 - i)}`,
    );
  }
  return digits.join(" + ");
}
