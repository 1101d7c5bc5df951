const INITIAL_CAPACITY = 1024;

/**
 * The first 32 bits of every stored secret hash, in an open-addressing hash set (linear
 * probing over a Uint32Array). A presented token whose hash prefix is absent does not
 * exist, so a made-up token is refused without a storage read (what that saves is in
 * docs/performance.md).
 *
 * Only ever a superset: a prefix is added before its secret is written and never
 * removed, so a "maybe" may be wrong (one storage read, then unknown) but an "absent"
 * never is. That holds only while every write of a secret passes through this process,
 * which is true of SQLite (one process per file) and not of PostgreSQL, which has none.
 * At most half full: two to four 4-byte slots per secret. SHA-256 output is uniform, so
 * the prefix is its own hash.
 */
export class SecretFilter {
  private slots: Uint32Array;
  private count = 0;

  /** `expected`: how many secrets it will hold, so loading them never regrows it. */
  constructor(expected = 0) {
    let capacity = INITIAL_CAPACITY;
    while (capacity < expected * 2) capacity *= 2;
    this.slots = new Uint32Array(capacity);
  }

  /** `hash`: a secret hash as stored, 64 hex digits. */
  add(hash: string): void {
    this.addPrefix(prefixOf(hash));
  }

  /** A prefix computed elsewhere (e.g. by SQL, see PREFIX_SQL), same value as `add` uses. */
  addPrefix(prefix: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    this.insert(prefix === 0 ? 1 : prefix >>> 0);
  }

  mayContain(hash: string): boolean {
    const prefix = prefixOf(hash);
    const mask = this.slots.length - 1;
    for (let i = prefix & mask; ; i = (i + 1) & mask) {
      const slot = this.slots[i];
      if (slot === prefix) return true;
      if (slot === 0) return false;
    }
  }

  get size(): number {
    return this.count;
  }

  private insert(prefix: number): void {
    const mask = this.slots.length - 1;
    for (let i = prefix & mask; ; i = (i + 1) & mask) {
      const slot = this.slots[i];
      if (slot === prefix) return;
      if (slot === 0) {
        this.slots[i] = prefix;
        this.count++;
        return;
      }
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    this.count = 0;
    for (const prefix of old) if (prefix !== 0) this.insert(prefix);
  }
}

/**
 * The first 8 hex digits as an unsigned 32-bit number. 0 marks an empty slot, so a zero
 * prefix counts as 1 (one more possible "maybe"). Read digit by digit: no substring.
 */
function prefixOf(hash: string): number {
  let prefix = 0;
  for (let i = 0; i < 8; i++) {
    const c = hash.charCodeAt(i);
    // 0-9 are 48-57, a-f 97-102; anything else (never in a stored hash) reads as 0.
    const digit = c <= 57 ? c - 48 : c - 87;
    prefix = (prefix << 4) | (digit & 15);
  }
  prefix >>>= 0;
  return prefix === 0 ? 1 : prefix;
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
