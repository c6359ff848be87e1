/**
 * The kv state machine's index: key bytes -> the handle of the key's value (value-arena.ts).
 * Open addressing with linear probing over one Float64Array; a slot is three numbers side by
 * side (the key's hash, its handle in a key arena + 1, the value handle), so a probe touches one
 * cache line and reads the key's bytes only when the hashes match.
 *
 * Why not a Map<string, handle>: with 100,000 keys every lookup missed the cache on the bucket,
 * on each entry of the chain and on each key string it compared, and each put made a key string
 * first; the Map's lookup was a third of the updater thread's time under the benchmark. Here a
 * put's key is hashed and compared as the bytes it arrived in. Deletion shifts the following
 * run of slots back (no tombstones), so a long life of puts and deletes keeps probes short.
 */
import type { SnapshotParts, SnapshotPartsReader } from './snapshot-parts.js';
import { ValueArena, type ArenaLayout } from './value-arena.js';

const FIELDS = 3;
const CAPACITY_MIN = 16;

/** The index's bookkeeping in a snapshot; its slots and key arena follow as raw parts. */
export interface KeyIndexLayout {
  /** Slots (a power of two); the slot array is `capacity * 3` float64s. */
  capacity: number;
  size: number;
  keys: ArenaLayout;
}

/** FNV-1a, 32 bits, of `bytes[start, end)`. */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}

export class KeyIndex {
  private slots: Float64Array;
  private mask: number;
  private count = 0;
  private readonly keys = new ValueArena();

  constructor() {
    this.slots = new Float64Array(CAPACITY_MIN * FIELDS);
    this.mask = CAPACITY_MIN - 1;
  }

  /** Keys held. */
  get size(): number {
    return this.count;
  }

  /**
   * Adds the index to a snapshot: its slot array (copied, as float64s: hash, key handle + 1,
   * value handle per slot), then its key arena's parts. Returns its bookkeeping.
   */
  exportTo(parts: SnapshotParts): KeyIndexLayout {
    parts.copyF64(this.slots);
    return { capacity: this.mask + 1, size: this.count, keys: this.keys.exportTo(parts) };
  }

  /**
   * Replaces everything with what `exportTo` wrote. The slots are taken as they were (same
   * capacity, same positions): rehashing a million keys would cost what the raw copy saves.
   */
  restore(layout: KeyIndexLayout, parts: SnapshotPartsReader): void {
    const capacity = layout.capacity;
    if (!Number.isSafeInteger(capacity) || capacity < CAPACITY_MIN || (capacity & (capacity - 1)) !== 0
      || !Number.isSafeInteger(layout.size) || layout.size < 0 || layout.size * 2 > capacity) {
      throw new Error(`kv snapshot: an index of ${layout.size} keys in ${capacity} slots`);
    }
    const slots = parts.f64Array(capacity * FIELDS);
    this.keys.restore(layout.keys, parts);
    this.slots = slots;
    this.mask = capacity - 1;
    this.count = layout.size;
  }

  /** The value handle of the key `bytes[start, end)`, or -1. */
  get(bytes: Uint8Array, start: number, end: number): number {
    const slot = this.find(bytes, start, end, hashBytes(bytes, start, end));
    return slot < 0 ? -1 : this.slots[slot * FIELDS + 2]!;
  }

  /**
   * Sets the value handle of the key `bytes[start, end)` (its bytes are copied when it is new);
   * returns the handle it replaces, or -1.
   */
  set(bytes: Uint8Array, start: number, end: number, value: number): number {
    const hash = hashBytes(bytes, start, end);
    const found = this.find(bytes, start, end, hash);
    if (found >= 0) {
      const previous = this.slots[found * FIELDS + 2]!;
      this.slots[found * FIELDS + 2] = value;
      return previous;
    }
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const slots = this.slots;
    let slot = hash & this.mask;
    while (slots[slot * FIELDS + 1] !== 0) slot = (slot + 1) & this.mask;
    slots[slot * FIELDS] = hash;
    slots[slot * FIELDS + 1] = this.keys.store(bytes, start, end) + 1;
    slots[slot * FIELDS + 2] = value;
    this.count++;
    return -1;
  }

  /** Removes the key `bytes[start, end)`; returns its value handle, or -1 when it was absent. */
  delete(bytes: Uint8Array, start: number, end: number): number {
    let slot = this.find(bytes, start, end, hashBytes(bytes, start, end));
    if (slot < 0) return -1;
    const slots = this.slots;
    const mask = this.mask;
    const value = slots[slot * FIELDS + 2]!;
    this.keys.release(slots[slot * FIELDS + 1]! - 1);
    this.count--;
    // Backward shift: a later slot of the run moves into the hole when the hole lies between its
    // home slot and where it sits, so every key stays reachable from its home without tombstones.
    let next = (slot + 1) & mask;
    while (slots[next * FIELDS + 1] !== 0) {
      const home = slots[next * FIELDS]! & mask;
      const distanceFromHome = (next - home) & mask;
      const distanceToHole = (next - slot) & mask;
      if (distanceFromHome >= distanceToHole) {
        slots[slot * FIELDS] = slots[next * FIELDS]!;
        slots[slot * FIELDS + 1] = slots[next * FIELDS + 1]!;
        slots[slot * FIELDS + 2] = slots[next * FIELDS + 2]!;
        slot = next;
      }
      next = (next + 1) & mask;
    }
    slots[slot * FIELDS] = 0;
    slots[slot * FIELDS + 1] = 0;
    slots[slot * FIELDS + 2] = 0;
    return value;
  }

  private find(bytes: Uint8Array, start: number, end: number, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let slot = hash & mask;
    for (;;) {
      const key = slots[slot * FIELDS + 1]!;
      if (key === 0) return -1;
      if (slots[slot * FIELDS] === hash && this.keys.equals(key - 1, bytes, start, end)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    const slots = new Float64Array(capacity * FIELDS);
    const mask = capacity - 1;
    for (let i = 0; i < old.length; i += FIELDS) {
      if (old[i + 1] === 0) continue;
      let slot = old[i]! & mask;
      while (slots[slot * FIELDS + 1] !== 0) slot = (slot + 1) & mask;
      slots[slot * FIELDS] = old[i]!;
      slots[slot * FIELDS + 1] = old[i + 1]!;
      slots[slot * FIELDS + 2] = old[i + 2]!;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
