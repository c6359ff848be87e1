/**
 * The log store's cache of recent entries. The appenders mostly read what was just appended (to
 * send it to followers), so the newest entries stay in memory, bounded by payload bytes; older ones
 * are read from disk. The bound counts payload bytes only: per-entry framing is small and fixed.
 */
import type { LogEntryRecord } from './log-record.js';

export class RecentEntries {
  private readonly bytesMax: number;
  /** entries[head + k] is entry firstIndexValue + k; slots before head are evicted. */
  private entries: LogEntryRecord[] = [];
  private head = 0;
  private firstIndexValue: number;
  private bytes = 0;

  /** An empty cache whose next entry will be `nextIndex`. */
  constructor(bytesMax: number, nextIndex: number) {
    this.bytesMax = bytesMax;
    this.firstIndexValue = nextIndex;
  }

  /** Index of the oldest cached entry; every index from it up to the last appended is cached. */
  get firstIndex(): number {
    return this.firstIndexValue;
  }

  /** Adds the next entry, evicting the oldest ones past the byte bound. */
  push(entry: LogEntryRecord): void {
    this.entries.push(entry);
    this.bytes += entry.payload.length;
    while (this.bytes > this.bytesMax && this.head < this.entries.length) {
      this.bytes -= this.entries[this.head++]!.payload.length;
      this.firstIndexValue++;
    }
    // Drop evicted slots in bulk, so eviction stays O(1) amortized instead of an O(n) shift each.
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Entries from `fromIndex` (>= firstIndex), within the count and byte bounds, at least one. */
  read(fromIndex: number, maxCount: number, maxBytes: number): LogEntryRecord[] {
    const out: LogEntryRecord[] = [];
    let bytes = 0;
    let position = this.head + (fromIndex - this.firstIndexValue);
    while (position < this.entries.length && out.length < maxCount) {
      const entry = this.entries[position++]!;
      if (out.length > 0 && bytes + entry.payload.length > maxBytes) break;
      bytes += entry.payload.length;
      out.push(entry);
    }
    return out;
  }

  /** Forgets every entry at or after `index`; the next push will be `index`. */
  truncateFrom(index: number): void {
    if (index <= this.firstIndexValue) {
      this.clear(index);
      return;
    }
    const keepLength = this.head + (index - this.firstIndexValue);
    for (let position = keepLength; position < this.entries.length; position++) {
      this.bytes -= this.entries[position]!.payload.length;
    }
    this.entries.length = Math.min(keepLength, this.entries.length);
  }

  /** Empties the cache; the next push will be `nextIndex`. */
  clear(nextIndex: number): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    this.firstIndexValue = nextIndex;
  }
}
