/**
 * A run of entry payloads in one byte array, each behind its length (u32, big-endian):
 *
 *   length | payload | length | payload | ...
 *
 * Batches of entries travel in this form between the actors and on the wire (AppendEntries): a
 * hop packs and unpacks one byte string per batch, not one per entry, and an actor that only
 * passes entries on (the log to the updater, the appender to a follower) makes no view per entry.
 * Built once on the leader, checked once on a follower (`packedProblem`), then passed on as is.
 */
import { Buffer } from 'node:buffer';
import { bufferView } from './codec.js';

/** Bytes of the length word before each payload. */
export const LENGTH_BYTES = 4;

/** Length of the payload that starts at `start` (its length word is just before it). */
export function payloadLengthAt(packed: Uint8Array, start: number): number {
  return ((packed[start - 4]! << 24) >>> 0) + ((packed[start - 3]! << 16) | (packed[start - 2]! << 8) | packed[start - 1]!);
}

/** Writes the length word of a `length`-byte payload at `offset`; returns where the payload goes. */
export function writeLengthAt(target: Uint8Array, offset: number, length: number): number {
  target[offset] = length >>> 24;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
  return offset + LENGTH_BYTES;
}

/** Packs payloads (a copy). */
export function packPayloads(payloads: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const payload of payloads) total += LENGTH_BYTES + payload.length;
  const packed = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const payload of payloads) {
    offset = writeLengthAt(packed, offset, payload.length);
    packed.set(payload, offset);
    offset += payload.length;
  }
  return packed;
}

/**
 * Why `packed` does not hold exactly `count` payloads (each inside the bytes, and each passing
 * `payloadProblem` when given), or null when it does.
 */
export function packedProblem(
  packed: Uint8Array, count: number, payloadProblem?: (source: Uint8Array, start: number, end: number) => string | null,
): string | null {
  let offset = 0;
  for (let k = 0; k < count; k++) {
    if (offset + LENGTH_BYTES > packed.length) return `entry ${k} of ${count}: length word past the end of ${packed.length} bytes`;
    const end = offset + LENGTH_BYTES + payloadLengthAt(packed, offset + LENGTH_BYTES);
    if (end > packed.length) return `entry ${k} of ${count}: payload runs past the end of ${packed.length} bytes`;
    const problem = payloadProblem?.(packed, offset + LENGTH_BYTES, end) ?? null;
    if (problem !== null) return `entry ${k} of ${count}: ${problem}`;
    offset = end;
  }
  return offset === packed.length ? null : `${packed.length - offset} bytes after the last of ${count} entries`;
}

/** The entries from position `from` on, as packed bytes (a view, no copy). */
export function packedFrom(packed: Uint8Array, from: number): Uint8Array {
  let offset = 0;
  for (let k = 0; k < from; k++) offset += LENGTH_BYTES + payloadLengthAt(packed, offset + LENGTH_BYTES);
  return packed.subarray(offset);
}

/**
 * Entries held as (packed bytes, payload start) pairs, oldest first: the appender's cache and the
 * updater's buffer. Entry i of the run is index `firstIndex + i`. Pushing a batch adds two array
 * slots per entry and no object; taking a range back out as packed bytes is a view when the range
 * lies in one batch (the usual case), one copy otherwise.
 */
/** Memory an entry of an EntryRun holds beyond its bytes (its slots in three arrays), estimated. */
const ENTRY_HELD_BYTES = 32;
/** Memory a batch of an EntryRun holds beyond its bytes (its Buffer view, its array and its buffer's objects), estimated. */
const BATCH_HELD_BYTES = 256;

export class EntryRun {
  firstIndex: number;
  private sources: Uint8Array[] = [];
  private starts: number[] = [];
  private terms: number[] = [];
  /** Payload bytes held (length words not counted). */
  payloadBytes = 0;
  /**
   * Memory held, estimated: the packed bytes, and per entry and per batch the objects that hold
   * them. A bound on this, not on payload bytes, bounds memory whatever the batch sizes: a batch
   * of one 60-byte entry (a client per request) holds several times its payload.
   */
  heldBytes = 0;

  constructor(firstIndex: number) {
    this.firstIndex = firstIndex;
  }

  get length(): number {
    return this.starts.length;
  }

  /** Index after the last entry held. */
  get nextIndex(): number {
    return this.firstIndex + this.starts.length;
  }

  /**
   * Adds a batch of `terms.length` packed entries (well formed): they follow the last one. The
   * batch is held as one Buffer over its bytes (a batch posted between threads arrives as a plain
   * Uint8Array), so readers of its entries make no Buffer view per entry.
   */
  push(batch: Uint8Array, terms: readonly number[]): void {
    const packed = bufferView(batch);
    if (terms.length > 0) this.heldBytes += batch.byteLength + BATCH_HELD_BYTES + terms.length * ENTRY_HELD_BYTES;
    let offset = 0;
    for (let k = 0; k < terms.length; k++) {
      const start = offset + LENGTH_BYTES;
      const length = payloadLengthAt(packed, start);
      this.sources.push(packed);
      this.starts.push(start);
      this.terms.push(terms[k]!);
      this.payloadBytes += length;
      offset = start + length;
    }
  }

  termAt(position: number): number {
    return this.terms[position]!;
  }

  payloadLength(position: number): number {
    return payloadLengthAt(this.sources[position]!, this.starts[position]!);
  }

  /** The packed bytes and payload start of the entry at `position`. */
  source(position: number): Uint8Array {
    return this.sources[position]!;
  }

  start(position: number): number {
    return this.starts[position]!;
  }

  /** Terms of positions [from, to). */
  termsOf(from: number, to: number): number[] {
    return this.terms.slice(from, to);
  }

  /** Positions [from, to) as packed bytes. */
  packed(from: number, to: number): Uint8Array {
    if (from >= to) return new Uint8Array(0);
    const sources = this.sources;
    const starts = this.starts;
    const last = to - 1;
    const lastEnd = starts[last]! + payloadLengthAt(sources[last]!, starts[last]!);
    if (sources[from] === sources[last]) return sources[from]!.subarray(starts[from]! - LENGTH_BYTES, lastEnd);
    let total = 0;
    for (let k = from; k < to; k++) total += LENGTH_BYTES + payloadLengthAt(sources[k]!, starts[k]!);
    const out = Buffer.allocUnsafe(total);
    let offset = 0;
    // One copy per run of entries that share a source.
    for (let k = from; k < to;) {
      const source = sources[k]!;
      let end = k + 1;
      while (end < to && sources[end] === source) end++;
      const runEnd = starts[end - 1]! + payloadLengthAt(source, starts[end - 1]!);
      out.set(source.subarray(starts[k]! - LENGTH_BYTES, runEnd), offset);
      offset += runEnd - (starts[k]! - LENGTH_BYTES);
      k = end;
    }
    return out;
  }

  /** Drops the first `count` entries. */
  dropFront(count: number): void {
    if (count <= 0) return;
    const sources = this.sources;
    for (let k = 0; k < count; k++) {
      const length = this.payloadLength(k);
      this.payloadBytes -= length;
      // A batch's own share goes with the last of its entries.
      this.heldBytes -= LENGTH_BYTES + length + ENTRY_HELD_BYTES + (k + 1 === sources.length || sources[k + 1] !== sources[k] ? BATCH_HELD_BYTES : 0);
    }
    this.sources.splice(0, count);
    this.starts.splice(0, count);
    this.terms.splice(0, count);
    this.firstIndex += count;
  }

  /** Drops entries from the front until at most `heldBytes` are held (keeping the last entry). */
  dropFrontTo(heldBytes: number): void {
    const sources = this.sources;
    let held = this.heldBytes;
    let count = 0;
    while (held > heldBytes && count < sources.length - 1) {
      held -= LENGTH_BYTES + this.payloadLength(count) + ENTRY_HELD_BYTES + (sources[count + 1] !== sources[count] ? BATCH_HELD_BYTES : 0);
      count++;
    }
    this.dropFront(count);
  }

  /** Drops every entry; the next one pushed is at `firstIndex`. */
  clear(firstIndex: number): void {
    this.truncate(0);
    this.firstIndex = firstIndex;
  }

  /** Keeps the first `count` entries. */
  truncate(count: number): void {
    if (count >= this.starts.length) return;
    const sources = this.sources;
    for (let k = count; k < this.starts.length; k++) {
      const length = this.payloadLength(k);
      this.payloadBytes -= length;
      // A batch's own share goes with the first of its entries, once none before it stays.
      this.heldBytes -= LENGTH_BYTES + length + ENTRY_HELD_BYTES + (k === 0 || sources[k - 1] !== sources[k] ? BATCH_HELD_BYTES : 0);
    }
    this.sources.length = count;
    this.starts.length = count;
    this.terms.length = count;
  }
}
