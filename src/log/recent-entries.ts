/**
 * The log store's cache of recent entries. Appenders that fall behind read what was appended
 * lately, so the newest entries stay in memory, bounded by the bytes the cache holds; older ones
 * are read from disk. The bound counts each batch's whole buffer, not its payloads: a batch's
 * buffer comes from the log's spare buffers, at least 4 KiB, so a batch of one small entry (a
 * client per request: a session's open, one write, its close, each its own batch) holds some
 * 4 KiB for 60 bytes of payload. Counted by payload, 16 MiB of such batches held over a GiB.
 *
 * Kept as the appended batches themselves — the buffer written to disk, where each record starts,
 * and the terms — not as an object per entry: in steady state nothing reads it, and a hundred
 * thousand small long-lived objects (16 MiB of 128-byte entries) cost an allocation each on the
 * write path and a visit each at every full garbage collection. A read copies its entries out.
 * Eviction drops whole batches from the oldest, and hands each dropped buffer to `release` (the log
 * reuses it for a later batch: nothing else holds a view of it).
 */
import { RECORD_OVERHEAD_BYTES, type LogEntryRecord } from './log-record.js';

/** One appended batch: record k is entry firstIndex + k, starting at starts[k] of buffer. */
interface CachedBatch {
  firstIndex: number;
  count: number;
  terms: readonly number[];
  buffer: Uint8Array;
  /** Where each record starts, and (last) where the batch ends: count + 1 offsets. */
  starts: number[];
  /** What the batch holds in memory: its buffer's length. */
  heldBytes: number;
}

export class RecentEntries {
  private readonly bytesMax: number;
  /** Oldest first; batches before head are evicted. */
  private batches: CachedBatch[] = [];
  private head = 0;
  private firstIndexValue: number;
  private nextIndex: number;
  private bytes = 0;

  /** An empty cache whose next entry will be `nextIndex`; `release` gets each buffer dropped. */
  constructor(bytesMax: number, nextIndex: number, private readonly release: (buffer: Uint8Array) => void = () => {}) {
    this.bytesMax = bytesMax;
    this.firstIndexValue = nextIndex;
    this.nextIndex = nextIndex;
  }

  /** Index of the oldest cached entry; every index from it up to the last appended is cached. */
  get firstIndex(): number {
    return this.firstIndexValue;
  }

  /**
   * Adds the next `terms.length` entries, whose records lie in `buffer` from `starts[k]` (with
   * `starts[terms.length]` the end of the last), then evicts the oldest batches past the bound.
   * The cache keeps `buffer`, `starts` and `terms`: callers must not change them.
   */
  pushBatch(firstIndex: number, terms: readonly number[], buffer: Uint8Array, starts: number[]): void {
    const count = terms.length;
    if (count === 0) return;
    if (firstIndex !== this.nextIndex) this.clear(firstIndex);
    const heldBytes = buffer.byteLength;
    this.batches.push({ firstIndex, count, terms, buffer, starts, heldBytes });
    this.bytes += heldBytes;
    this.nextIndex = firstIndex + count;
    // The newest batch stays even when it alone is over the bound.
    while (this.bytes > this.bytesMax && this.head < this.batches.length - 1) {
      const evicted = this.batches[this.head++]!;
      this.bytes -= evicted.heldBytes;
      this.firstIndexValue = evicted.firstIndex + evicted.count;
      this.release(evicted.buffer);
    }
    if (this.head > 64 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head);
      this.head = 0;
    }
  }

  /** Entries from `fromIndex` (>= firstIndex), within the count and byte bounds, at least one; payloads are copies. */
  read(fromIndex: number, maxCount: number, maxBytes: number): LogEntryRecord[] {
    const out: LogEntryRecord[] = [];
    let bytes = 0;
    let position = this.positionOf(fromIndex);
    let index = fromIndex;
    while (position < this.batches.length && out.length < maxCount) {
      const batch = this.batches[position++]!;
      for (let k = index - batch.firstIndex; k < batch.count && out.length < maxCount; k++) {
        const start = batch.starts[k]! + RECORD_OVERHEAD_BYTES;
        const end = batch.starts[k + 1]!;
        if (out.length > 0 && bytes + (end - start) > maxBytes) return out;
        bytes += end - start;
        out.push({ index: batch.firstIndex + k, term: batch.terms[k]!, payload: Uint8Array.prototype.slice.call(batch.buffer, start, end) });
      }
      index = batch.firstIndex + batch.count;
    }
    return out;
  }

  /** Forgets every entry at or after `index`; the next push will be `index`. */
  truncateFrom(index: number): void {
    if (index <= this.firstIndexValue) {
      this.clear(index);
      return;
    }
    if (index >= this.nextIndex) return;
    const position = this.positionOf(index);
    for (let dropped = position + 1; dropped < this.batches.length; dropped++) {
      this.bytes -= this.batches[dropped]!.heldBytes;
      this.release(this.batches[dropped]!.buffer);
    }
    this.batches.length = position + 1;
    const batch = this.batches[position]!;
    const keep = index - batch.firstIndex;
    if (keep === 0) {
      this.bytes -= batch.heldBytes;
      this.batches.length = position;
      this.release(batch.buffer);
    } else {
      // The buffer stays whole: what the batch holds does not change.
      this.batches[position] = { ...batch, count: keep, terms: batch.terms.slice(0, keep), starts: batch.starts.slice(0, keep + 1) };
    }
    this.nextIndex = index;
  }

  /** Empties the cache; the next push will be `nextIndex`. */
  clear(nextIndex: number): void {
    for (let position = this.head; position < this.batches.length; position++) this.release(this.batches[position]!.buffer);
    this.batches = [];
    this.head = 0;
    this.bytes = 0;
    this.firstIndexValue = nextIndex;
    this.nextIndex = nextIndex;
  }

  /** Position in `batches` of the batch holding `index` (firstIndex <= index < nextIndex). */
  private positionOf(index: number): number {
    return lastStartingAtOrBefore(this.batches, index, this.head);
  }
}

/**
 * Binary search over runs sorted by first index: the position of the last run from `low` on whose
 * first index is at most `index` (`low` when none is).
 */
export function lastStartingAtOrBefore(runs: readonly { firstIndex: number }[], index: number, low = 0): number {
  let high = runs.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >>> 1;
    if (runs[middle]!.firstIndex <= index) low = middle;
    else high = middle - 1;
  }
  return low;
}
