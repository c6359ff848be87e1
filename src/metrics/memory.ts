/**
 * Where a server's memory is: the process's resident set (anonymous and file-backed, from Linux's
 * /proc/self/status) and, per JavaScript thread, V8's heap (used, committed, resident, young
 * generation) and the ArrayBuffers the thread holds outside it. With these a resident set that
 * moves can be told apart: a heap that grows, buffers that pile up, or memory outside both
 * (the allocator, code, thread stacks).
 *
 * An actor worker cannot be asked synchronously, so each writes its figures once a second into
 * a slot of a shared board (a SharedArrayBuffer of float64s) that the server reads when it takes a
 * snapshot: no message on the data plane, no wait. The main thread samples itself at the snapshot.
 */
import fs from 'node:fs';
import v8 from 'node:v8';

export interface ThreadHeapSnapshot {
  /** Bytes in the V8 heap's objects, live or not yet collected. */
  usedBytes: number;
  /** Bytes V8 has committed to the heap (all spaces). */
  committedBytes: number;
  /** Resident in memory (V8 counts it by page, so it can exceed the committed figure a little). */
  residentBytes: number;
  /** Committed to the young generation (both semi-spaces). */
  youngBytes: number;
  /** ArrayBuffers and Buffers this thread holds, allocated outside the V8 heap. */
  arrayBufferBytes: number;
  /** How old the figures are: 0 for the thread that took the snapshot, up to a second for a worker's. */
  ageMs: number;
}

export interface MemorySnapshot {
  /** The whole process's resident set. */
  rssBytes: number;
  /** Its anonymous part (heaps, allocator, stacks) and its file-backed part; null where /proc is missing. */
  rssAnonBytes: number | null;
  rssFileBytes: number | null;
  /** Per JavaScript thread: `main`, and `log`, `appender`, `updater` when the actors run in workers. */
  threads: Record<string, ThreadHeapSnapshot>;
}

/** This thread's heap figures now (a few microseconds: not for a hot path). */
export function sampleThreadHeap(): ThreadHeapSnapshot {
  const heap = v8.getHeapStatistics();
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return {
    usedBytes: heap.used_heap_size,
    committedBytes: heap.total_heap_size,
    residentBytes: heap.total_physical_size,
    youngBytes: young?.space_size ?? 0,
    arrayBufferBytes: process.memoryUsage().arrayBuffers,
    ageMs: 0,
  };
}

/** VmRSS, RssAnon and RssFile of /proc/self/status in bytes; the RSS alone where /proc is missing. */
export function sampleProcessMemory(): Omit<MemorySnapshot, 'threads'> {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/status', 'utf8');
  } catch {
    return { rssBytes: process.memoryUsage.rss(), rssAnonBytes: null, rssFileBytes: null };
  }
  const kib = (field: string): number | null => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match === null ? null : Number(match[1]) * 1024;
  };
  return { rssBytes: kib('VmRSS') ?? process.memoryUsage.rss(), rssAnonBytes: kib('RssAnon'), rssFileBytes: kib('RssFile') };
}

/** The figures a worker writes, in row order; each row ends with the time of its report. */
const heapFields = ['usedBytes', 'committedBytes', 'residentBytes', 'youngBytes', 'arrayBufferBytes'] as const;
const ROW_CELLS = heapFields.length + 1;
const TIME_CELL = heapFields.length;

/** The shared board: one row per worker thread; a row whose time is 0 has no report yet. */
export class HeapBoard {
  readonly buffer: SharedArrayBuffer;
  private readonly cells: Float64Array;

  constructor(readonly names: readonly string[], buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(names.length * ROW_CELLS * Float64Array.BYTES_PER_ELEMENT);
    this.cells = new Float64Array(this.buffer);
  }

  /** Writes this thread's figures into row `name` (called by the worker itself). */
  report(name: string): void {
    const row = this.row(name);
    const heap = sampleThreadHeap();
    heapFields.forEach((field, i) => { this.cells[row + i] = heap[field]; });
    this.cells[row + TIME_CELL] = Date.now();
  }

  /** The rows reported so far. A row read while its worker writes it may mix two samples a second apart. */
  read(nowMs: number): Record<string, ThreadHeapSnapshot> {
    const out: Record<string, ThreadHeapSnapshot> = {};
    for (const name of this.names) {
      const row = this.row(name);
      const sampledAtMs = this.cells[row + TIME_CELL]!;
      if (sampledAtMs === 0) continue;
      const heap = { ageMs: Math.max(0, nowMs - sampledAtMs) } as ThreadHeapSnapshot;
      heapFields.forEach((field, i) => { heap[field] = this.cells[row + i]!; });
      out[name] = heap;
    }
    return out;
  }

  /** In a worker: reports now and then every `intervalMs`, on a timer that does not keep the thread alive. */
  reportEvery(name: string, intervalMs: number): void {
    this.report(name);
    setInterval(() => this.report(name), intervalMs).unref();
  }

  private row(name: string): number {
    const index = this.names.indexOf(name);
    if (index < 0) throw new RangeError(`no heap board row ${name} (rows: ${this.names.join(', ')})`);
    return index * ROW_CELLS;
  }
}

/** How often a worker writes its row. */
const HEAP_REPORT_INTERVAL_MS = 1000;

/** What a worker is given to report into its row: the board's memory, its rows, and its own row's name. */
export interface HeapBoardSeat {
  buffer: SharedArrayBuffer;
  names: string[];
  name: string;
}

/** In a worker entry: starts reporting this thread's heap into its seat of the server's board. */
export function reportHeapFrom(seat: HeapBoardSeat): void {
  new HeapBoard(seat.names, seat.buffer).reportEvery(seat.name, HEAP_REPORT_INTERVAL_MS);
}
