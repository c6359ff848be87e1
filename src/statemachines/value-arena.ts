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
 */
const LENGTH_BYTES = 4;
const SLOT_BYTES_MIN = 16;
const CHUNK_BYTES = 64 * 1024;
/** Handles keep the class in their low bits: handle = slot * CLASS_RADIX + class. */
const CLASS_RADIX = 64;
/** The class of values kept in buffers of their own. */
const OWN_BUFFER_CLASS = CLASS_RADIX - 1;

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
        sizeClass.chunks.push(Buffer.allocUnsafeSlow(sizeClass.slotsPerChunk * sizeClass.slotBytes));
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
