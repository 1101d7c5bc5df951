const INITIAL_CAPACITY = 1024;

/**
 * A set of 32-bit numbers in an open-addressing hash table (linear probing over a
 * Uint32Array): 8 to 16 bytes a member, held outside the objects the garbage
 * collector traces. Made for uniformly spread members (the first 32 bits of SHA-256
 * output), each of which is its own hash. 0 marks an empty slot, so 0 is stored as 1
 * (one more possible false "has" for a set that only ever answers "maybe").
 * At most half full: it doubles when an addition would pass that.
 */
export class Uint32Set {
  private slots: Uint32Array;
  private count = 0;

  /** `expected`: how many members it will hold, so adding them never regrows it. */
  constructor(expected = 0) {
    let capacity = INITIAL_CAPACITY;
    while (capacity < expected * 2) capacity *= 2;
    this.slots = new Uint32Array(capacity);
  }

  add(value: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    this.insert(slotValue(value));
  }

  has(value: number): boolean {
    const wanted = slotValue(value);
    const mask = this.slots.length - 1;
    for (let i = wanted & mask; ; i = (i + 1) & mask) {
      const slot = this.slots[i];
      if (slot === wanted) return true;
      if (slot === 0) return false;
    }
  }

  /** Empties it, keeping its table: no allocation. */
  clear(): void {
    this.slots.fill(0);
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }

  private insert(value: number): void {
    const mask = this.slots.length - 1;
    for (let i = value & mask; ; i = (i + 1) & mask) {
      const slot = this.slots[i];
      if (slot === value) return;
      if (slot === 0) {
        this.slots[i] = value;
        this.count++;
        return;
      }
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    this.count = 0;
    for (const value of old) if (value !== 0) this.insert(value);
  }
}

function slotValue(value: number): number {
  const unsigned = value >>> 0;
  return unsigned === 0 ? 1 : unsigned;
}
