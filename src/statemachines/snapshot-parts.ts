/**
 * The raw parts of a state machine's snapshot file, written and read in order: the kv's typed
 * arrays and arena chunks go to the file as they lie in memory, so taking a snapshot on the
 * updater's thread costs a memory copy of the state, not a walk over every key.
 *
 * Typed arrays are written little-endian (the order of every platform Node runs on in practice;
 * on a big-endian host the copy is byte-swapped), so a snapshot reads the same anywhere.
 */
import os from 'node:os';

const littleEndian = os.endianness() === 'LE';

/**
 * Live parts are gathered into blocks of about this size and copied at once: few allocations
 * for millions of small chunks, and no single buffer near Node's size limit for a large state.
 */
const BLOCK_BYTES = 16 * 1024 * 1024;

/** Collects a file's parts: the chunks to give `SnapshotWriter.addFile`, a point-in-time copy. */
export class SnapshotParts {
  private readonly done: Uint8Array[] = [];
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private total = 0;

  /** Bytes added so far. */
  get bytes(): number {
    return this.total;
  }

  /** Adds the current bytes of memory that changes later: copied (in a block) before `chunks` returns. */
  copy(view: Uint8Array): void {
    if (view.length === 0) return;
    this.pending.push(view);
    this.pendingBytes += view.length;
    this.total += view.length;
    if (this.pendingBytes >= BLOCK_BYTES) this.flush();
  }

  /** Adds bytes made for the snapshot (an ArrayBuffer of their own, changed by nothing): kept as they are. */
  keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.flush();
    this.done.push(bytes);
    this.total += bytes.length;
  }

  /** Adds a Float64Array's contents, little-endian (copied). */
  copyF64(values: Float64Array): void {
    const view = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    if (littleEndian) {
      this.copy(view);
    } else {
      const copy = Buffer.allocUnsafeSlow(view.length);
      copy.set(view);
      copy.swap64();
      this.keep(copy);
    }
  }

  /** Adds a list of integers in [0, 2^32) as u32 little-endian (made here, so kept). */
  keepU32(values: readonly number[]): void {
    if (values.length === 0) return;
    const list = new Uint32Array(values.length);
    for (let i = 0; i < values.length; i++) list[i] = values[i]!;
    const bytes = Buffer.from(list.buffer, list.byteOffset, list.byteLength);
    if (!littleEndian) bytes.swap32();
    this.keep(bytes);
  }

  /** Every part, in order, as the chunks of one file; nothing may be added afterwards. */
  chunks(): Uint8Array[] {
    this.flush();
    return this.done;
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    const block = Buffer.allocUnsafeSlow(this.pendingBytes);
    let at = 0;
    for (const view of this.pending) {
      block.set(view, at);
      at += view.length;
    }
    this.done.push(block);
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/** Reads a file's parts in the order they were written; a part past the end is damage. */
export class SnapshotPartsReader {
  private at: number;

  constructor(private readonly bytes: Uint8Array, start = 0, private readonly what = 'snapshot') {
    this.at = start;
  }

  /** The next `length` bytes (a view of the file: copy what is kept). */
  take(length: number): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0 || this.at + length > this.bytes.length) {
      throw new Error(`${this.what}: a part of ${length} bytes at ${this.at} runs past the end (${this.bytes.length} bytes)`);
    }
    const view = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return view;
  }

  /** The next `count` little-endian u32s. */
  u32List(count: number): number[] {
    const view = this.take(count * 4);
    const data = new DataView(view.buffer, view.byteOffset, view.byteLength);
    const values = new Array<number>(count);
    for (let i = 0; i < count; i++) values[i] = data.getUint32(i * 4, true);
    return values;
  }

  /** The next `count` little-endian float64s, in an array of their own. */
  f64Array(count: number): Float64Array {
    const view = this.take(count * 8);
    const values = new Float64Array(count);
    const target = new Uint8Array(values.buffer);
    target.set(view);
    if (!littleEndian) Buffer.from(values.buffer).swap64();
    return values;
  }

  /** Throws unless every byte was read: a longer file is not the one the header describes. */
  end(): void {
    if (this.at !== this.bytes.length) throw new Error(`${this.what}: ${this.bytes.length - this.at} bytes left over after the last part`);
  }
}
