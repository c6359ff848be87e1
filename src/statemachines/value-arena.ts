/**
 * Where the kv state machine keeps its values (and its index, its keys): as bytes in large buffers outside the JavaScript
 * heap, each value in a slot of its size class, a handle (a small integer) standing for it.
 *
 * Why not strings in a Map: a value lives until its key is written again, so every put made a
 * string that survived the young generation (copied twice by the scavenger) and then died in
 * the old one, which the marker walked on every major collection. Measured on a map of 100,000
 * keys, a put cost 457 ns that way and 184 ns when the value was not kept; in the updater the
 * kv's Map.set was a third of the thread's time under the benchmark. Here a put copies the
 * value's bytes into its slot (in place when the size class is unchanged, the usual case), and a
 * read decodes them.
 *
 * Slots of a class are `classBytes` long (u32 length, then the bytes), in chunks of about 64 KiB.
 * Classes are a quarter of a power of two apart, so a slot wastes under a fifth of its value's
 * size. A value over `slotBytesMax` gets a buffer of its own. Freed slots are reused by the next
 * value of their class; chunks stay for the arena's life (its footprint is the peak of each class).
 *
 * A snapshot (kv-snapshot.ts) carries the chunks as they lie, so the arena's state is its
 * bookkeeping (`ArenaLayout`) plus raw bytes: chunks are zero-filled when made (no stale memory of
 * the process can reach a snapshot file, and two replicas that applied the same entries hold the
 * same bytes).
 */
import type { SnapshotParts, SnapshotPartsReader } from './snapshot-parts.js';

const LENGTH_BYTES = 4;
const SLOT_BYTES_MIN = 16;
const CHUNK_BYTES = 64 * 1024;
/** Handles keep the class in their low bits: handle = slot * CLASS_RADIX + class. */
const CLASS_RADIX = 64;
/** The class of values kept in buffers of their own. */
const OWN_BUFFER_CLASS = CLASS_RADIX - 1;

/**
 * An arena's bookkeeping, as a snapshot carries it (its raw parts follow in the order
 * `ValueArena.exportTo` writes them).
 */
export interface ArenaLayout {
  /** Slot size of each class: must equal the loading arena's (the same `slotBytesMax`). */
  slotBytes: number[];
  /** Slots per chunk of each class: must equal the loading arena's. */
  slotsPerChunk: number[];
  /** Slots ever handed out, per class (its chunks are `ceil(used / slotsPerChunk)`). */
  used: number[];
  /** Length of each class's free list. */
  free: number[];
  /** Slots of the own-buffer list, held or freed. */
  own: number;
  /** Length of the own-buffer free list. */
  ownFree: number;
  storedBytes: number;
}

/** Marks a freed slot of the own-buffer list in a snapshot's list of own-buffer lengths. */
const NO_OWN_BUFFER = 0xffff_ffff;

interface SizeClass {
  readonly slotBytes: number;
  readonly slotsPerChunk: number;
  readonly chunks: Buffer[];
  /** Slots freed, reused last in, first out. */
  readonly free: number[];
  /** Slots ever handed out. */
  used: number;
}

export class ValueArena {
  private readonly classes: SizeClass[] = [];
  private readonly own: (Buffer | null)[] = [];
  private readonly ownFree: number[] = [];
  private storedBytes = 0;

  constructor(slotBytesMax = 16 * 1024) {
    for (let slotBytes = SLOT_BYTES_MIN; slotBytes <= slotBytesMax; slotBytes = nextClassBytes(slotBytes)) {
      this.classes.push({
        slotBytes, slotsPerChunk: Math.max(1, Math.floor(CHUNK_BYTES / slotBytes)), chunks: [], free: [], used: 0,
      });
    }
    if (this.classes.length >= OWN_BUFFER_CLASS) throw new RangeError(`slotBytesMax ${slotBytesMax} makes too many size classes`);
  }

  /** Bytes of the values held (not of the slots they take). */
  get bytes(): number {
    return this.storedBytes;
  }

  /** Stores `source[start, end)`; returns its handle. */
  store(source: Uint8Array, start: number, end: number): number {
    const handle = this.allocate(end - start);
    this.write(handle, source, start, end);
    return handle;
  }

  /** Stores the UTF-8 bytes of `text`; returns its handle. */
  storeText(text: string): number {
    const bytes = Buffer.from(text, 'utf8');
    return this.store(bytes, 0, bytes.length);
  }

  /**
   * Replaces the value of `handle` with `source[start, end)`: in its slot when the new size
   * fits the same class, else in a new one (the old one freed). Returns the handle now valid.
   */
  replace(handle: number, source: Uint8Array, start: number, end: number): number {
    const length = end - start;
    const classIndex = handle % CLASS_RADIX;
    if (classIndex !== OWN_BUFFER_CLASS && this.classIndexOf(length) === classIndex) {
      this.storedBytes -= this.lengthOf(handle);
      this.write(handle, source, start, end);
      return handle;
    }
    this.release(handle);
    return this.store(source, start, end);
  }

  /** The value of `handle`, decoded as UTF-8. */
  text(handle: number): string {
    const classIndex = handle % CLASS_RADIX;
    const slot = (handle - classIndex) / CLASS_RADIX;
    if (classIndex === OWN_BUFFER_CLASS) return this.own[slot]!.toString('utf8');
    const chunk = this.chunkOf(classIndex, slot);
    const at = this.offsetOf(classIndex, slot);
    return chunk.toString('utf8', at + LENGTH_BYTES, at + LENGTH_BYTES + chunk.readUInt32BE(at));
  }

  /** Whether the value of `handle` is the bytes `bytes[start, end)`. */
  equals(handle: number, bytes: Uint8Array, start: number, end: number): boolean {
    const classIndex = handle % CLASS_RADIX;
    const slot = (handle - classIndex) / CLASS_RADIX;
    let stored: Buffer;
    let at: number;
    if (classIndex === OWN_BUFFER_CLASS) {
      stored = this.own[slot]!;
      at = 0;
      if (stored.length !== end - start) return false;
    } else {
      stored = this.chunkOf(classIndex, slot);
      at = this.offsetOf(classIndex, slot);
      if (stored.readUInt32BE(at) !== end - start) return false;
      at += LENGTH_BYTES;
    }
    for (let i = start; i < end; i++) if (stored[at + i - start] !== bytes[i]) return false;
    return true;
  }

  /**
   * Adds the arena to a snapshot: returns its bookkeeping and appends its raw parts to `parts`, in
   * this order: each class's free list (u32 each), the own-buffer lengths (u32 each, NO_OWN_BUFFER
   * for a freed slot), the own-buffer free list (u32 each), every chunk of every class in class
   * order (whole), then each held own buffer in slot order. Chunks and own buffers are copied
   * (`parts.copy`): the snapshot's chunks are memory of its own, which later writes cannot reach.
   */
  exportTo(parts: SnapshotParts): ArenaLayout {
    for (const sizeClass of this.classes) parts.keepU32(sizeClass.free);
    const ownLengths = this.own.map((buffer) => (buffer === null ? NO_OWN_BUFFER : buffer.length));
    parts.keepU32(ownLengths);
    parts.keepU32(this.ownFree);
    for (const sizeClass of this.classes) for (const chunk of sizeClass.chunks) parts.copy(chunk);
    for (const buffer of this.own) if (buffer !== null) parts.copy(buffer);
    return {
      slotBytes: this.classes.map((sizeClass) => sizeClass.slotBytes),
      slotsPerChunk: this.classes.map((sizeClass) => sizeClass.slotsPerChunk),
      used: this.classes.map((sizeClass) => sizeClass.used),
      free: this.classes.map((sizeClass) => sizeClass.free.length),
      own: this.own.length,
      ownFree: this.ownFree.length,
      storedBytes: this.storedBytes,
    };
  }

  /**
   * Replaces everything the arena holds with what `exportTo` wrote: `layout`, then the raw parts
   * read from `parts`. The bytes are copied into chunks of the arena's own, so the snapshot file
   * can be let go. Throws when the layout is not this arena's (another `slotBytesMax`, another
   * chunk size) or does not add up.
   */
  restore(layout: ArenaLayout, parts: SnapshotPartsReader): void {
    const classes = this.classes;
    const sameClasses = [layout.slotBytes, layout.slotsPerChunk, layout.used, layout.free].every(Array.isArray)
      && layout.slotBytes.length === classes.length && layout.slotsPerChunk.length === classes.length
      && layout.used.length === classes.length && layout.free.length === classes.length
      && classes.every((sizeClass, i) => layout.slotBytes[i] === sizeClass.slotBytes && layout.slotsPerChunk[i] === sizeClass.slotsPerChunk);
    if (!sameClasses) throw new Error('kv snapshot: the arena\'s size classes differ from this build\'s');
    const free = classes.map((sizeClass, i) => checkedSlots(parts.u32List(layout.free[i]!), layout.used[i]!, `class ${sizeClass.slotBytes} free list`));
    const ownLengths = parts.u32List(layout.own);
    const ownFree = checkedSlots(parts.u32List(layout.ownFree), layout.own, 'own-buffer free list');
    classes.forEach((sizeClass, i) => {
      const used = layout.used[i]!;
      if (!Number.isSafeInteger(used) || used < 0) throw new Error(`kv snapshot: class ${sizeClass.slotBytes} used ${used}`);
      sizeClass.used = used;
      sizeClass.chunks.length = 0;
      const chunkBytes = sizeClass.slotsPerChunk * sizeClass.slotBytes;
      for (let n = Math.ceil(used / sizeClass.slotsPerChunk); n > 0; n--) sizeClass.chunks.push(copyOf(parts.take(chunkBytes)));
      sizeClass.free.length = 0;
      for (const slot of free[i]!) sizeClass.free.push(slot);
    });
    this.own.length = 0;
    for (const length of ownLengths) this.own.push(length === NO_OWN_BUFFER ? null : copyOf(parts.take(length)));
    this.ownFree.length = 0;
    for (const slot of ownFree) {
      if (this.own[slot] !== null) throw new Error(`kv snapshot: own-buffer slot ${slot} is both free and held`);
      this.ownFree.push(slot);
    }
    this.storedBytes = layout.storedBytes;
  }

  /** Frees the slot of `handle`; the handle must not be used again. */
  release(handle: number): void {
    this.storedBytes -= this.lengthOf(handle);
    const classIndex = handle % CLASS_RADIX;
    const slot = (handle - classIndex) / CLASS_RADIX;
    if (classIndex === OWN_BUFFER_CLASS) {
      this.own[slot] = null;
      this.ownFree.push(slot);
    } else {
      this.classes[classIndex]!.free.push(slot);
    }
  }

  private lengthOf(handle: number): number {
    const classIndex = handle % CLASS_RADIX;
    const slot = (handle - classIndex) / CLASS_RADIX;
    if (classIndex === OWN_BUFFER_CLASS) return this.own[slot]!.length;
    return this.chunkOf(classIndex, slot).readUInt32BE(this.offsetOf(classIndex, slot));
  }

  /** The chunk holding `slot` of a size class. */
  private chunkOf(classIndex: number, slot: number): Buffer {
    const sizeClass = this.classes[classIndex]!;
    return sizeClass.chunks[Math.floor(slot / sizeClass.slotsPerChunk)]!;
  }

  /** Where `slot` of a size class starts in its chunk (its length word). */
  private offsetOf(classIndex: number, slot: number): number {
    const sizeClass = this.classes[classIndex]!;
    return (slot % sizeClass.slotsPerChunk) * sizeClass.slotBytes;
  }

  /** The class whose slots hold `length` bytes of value; OWN_BUFFER_CLASS past the largest. */
  private classIndexOf(length: number): number {
    const needed = length + LENGTH_BYTES;
    const classes = this.classes;
    if (needed > classes[classes.length - 1]!.slotBytes) return OWN_BUFFER_CLASS;
    let low = 0;
    let high = classes.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (classes[middle]!.slotBytes >= needed) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  private allocate(length: number): number {
    const classIndex = this.classIndexOf(length);
    if (classIndex === OWN_BUFFER_CLASS) {
      const slot = this.ownFree.length > 0 ? this.ownFree.pop()! : this.own.length;
      this.own[slot] = Buffer.allocUnsafeSlow(length);
      return slot * CLASS_RADIX + OWN_BUFFER_CLASS;
    }
    const sizeClass = this.classes[classIndex]!;
    let slot = sizeClass.free.pop();
    if (slot === undefined) {
      slot = sizeClass.used++;
      if (slot === sizeClass.chunks.length * sizeClass.slotsPerChunk) {
        // Zero-filled, not allocUnsafeSlow: a snapshot carries whole chunks (see the top of the file).
        sizeClass.chunks.push(Buffer.alloc(sizeClass.slotsPerChunk * sizeClass.slotBytes));
      }
    }
    return slot * CLASS_RADIX + classIndex;
  }

  private write(handle: number, source: Uint8Array, start: number, end: number): void {
    const classIndex = handle % CLASS_RADIX;
    const slot = (handle - classIndex) / CLASS_RADIX;
    this.storedBytes += end - start;
    if (classIndex === OWN_BUFFER_CLASS) {
      copyBytes(source, start, end, this.own[slot]!, 0);
      return;
    }
    const chunk = this.chunkOf(classIndex, slot);
    const at = this.offsetOf(classIndex, slot);
    chunk.writeUInt32BE(end - start, at);
    copyBytes(source, start, end, chunk, at + LENGTH_BYTES);
  }
}

/** A Buffer of its own holding `bytes` (outside the pool, like the arena's chunks). */
function copyOf(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

/** `slots`, each checked to be below `limit` (a free list naming a slot never handed out is damage). */
function checkedSlots(slots: number[], limit: number, what: string): number[] {
  for (const slot of slots) if (slot >= limit) throw new Error(`kv snapshot: ${what} names slot ${slot} of ${limit}`);
  return slots;
}

/** Copies `source[start, end)` to `target` at `at`; from a Buffer without making a view of it. */
function copyBytes(source: Uint8Array, start: number, end: number, target: Buffer, at: number): void {
  if (source instanceof Buffer) source.copy(target, at, start, end);
  else target.set(source.subarray(start, end), at);
}

/** The next slot size: a quarter of the power of two at or below `bytes` further on. */
function nextClassBytes(bytes: number): number {
  let octave = 1;
  while (octave * 2 <= bytes) octave *= 2;
  return bytes + Math.max(4, octave / 4);
}
