/**
 * Where each server's resident memory is over a run, from the memory part of its metrics
 * (src/metrics/memory.ts), polled every few seconds: the V8 heaps of all its threads (resident),
 * the ArrayBuffers they hold, and everything else the process has resident (allocator, code,
 * stacks, mapped files), with the slope of each after the warm-up. A resident set that grows is
 * then either a heap, buffers, or memory outside both, and the report says which.
 */
import type { MemorySnapshot } from '../src/metrics/memory.js';
import { slopePerSecond } from './proc-sampler.js';

const MiB = 1024 * 1024;

/** One part's level at the end of the warm-up and at the end, and its slope in between. */
export interface MemoryPart {
  firstMiB: number;
  lastMiB: number;
  slopeMiBPerMinute: number;
}

export interface MemoryBreakdown {
  id: string;
  /** V8 heaps of every thread, resident. */
  heaps: MemoryPart;
  /** ArrayBuffers and Buffers of every thread (outside the heaps). */
  arrayBuffers: MemoryPart;
  /** The resident set less the heaps and the buffers. */
  rest: MemoryPart;
  /** The last snapshot's resident heap per thread (MiB). */
  threadsMiB: Record<string, number>;
}

/** A point: seconds since the run started, then rss, heaps, array buffers (MiB). */
export type MemoryPoint = [number, number, number, number];

const round = (value: number, places = 1): number => Math.round(value * 10 ** places) / 10 ** places;

export class MemorySeries {
  private readonly points = new Map<string, MemoryPoint[]>();
  private readonly lastThreads = new Map<string, Record<string, number>>();

  add(id: string, atS: number, memory: MemorySnapshot): void {
    let heaps = 0;
    let buffers = 0;
    const threads: Record<string, number> = {};
    for (const [name, heap] of Object.entries(memory.threads)) {
      heaps += heap.residentBytes;
      buffers += heap.arrayBufferBytes;
      threads[name] = round(heap.residentBytes / MiB);
    }
    let list = this.points.get(id);
    if (list === undefined) this.points.set(id, list = []);
    list.push([round(atS, 3), round(memory.rssBytes / MiB), round(heaps / MiB), round(buffers / MiB)]);
    this.lastThreads.set(id, threads);
  }

  series(): Record<string, MemoryPoint[]> {
    return Object.fromEntries(this.points);
  }

  /** Per server, the parts from the first point at or after `fromS` to the last; a server with fewer than two such points is left out. */
  breakdown(fromS: number): MemoryBreakdown[] {
    const out: MemoryBreakdown[] = [];
    for (const [id, all] of this.points) {
      const points = all.filter(([atS]) => atS >= fromS);
      if (points.length < 2) continue;
      const part = (value: (point: MemoryPoint) => number): MemoryPart => ({
        firstMiB: round(value(points[0]!)),
        lastMiB: round(value(points[points.length - 1]!)),
        slopeMiBPerMinute: round(slopePerSecond(points.map((point) => [point[0], value(point)])) * 60, 2),
      });
      out.push({
        id,
        heaps: part((point) => point[2]),
        arrayBuffers: part((point) => point[3]),
        rest: part((point) => point[1] - point[2] - point[3]),
        threadsMiB: this.lastThreads.get(id) ?? {},
      });
    }
    return out;
  }
}
