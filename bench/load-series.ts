/**
 * What the coordinator keeps of the load generators' per-second reports (load-worker.ts): one
 * write-latency histogram and counts per second of the run, for the live line and the time
 * series, and the measured part (the seconds after the warm-up) merged into totals. A second's
 * histogram is reduced to its percentiles once reports have moved `sealAfterS` seconds past it, so
 * the coordinator's memory does not grow with the length of the run (a report that comes later
 * still than that adds to the second's counts only).
 */
import type { LoadSecond } from './load-worker.js';
import {
  decodeLatencyHistogram, latencyBucketCount, latencyBucketFloorUs, newLatencyHistogram, type LatencyHistogram,
} from './latency.js';

export interface SecondPoint {
  second: number;
  warmup: boolean;
  writesPerSecond: number;
  readsPerSecond: number;
  failed: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

interface SecondAccumulator {
  writes: number;
  reads: number;
  failed: number;
  /** Null once sealed: then `percentilesMs` holds p50/p90/p99. */
  writeHistogram: LatencyHistogram | null;
  percentilesMs: [number, number, number] | null;
}

const sealAfterS = 10;

function percentileMs(accumulator: SecondAccumulator, percentile: number): number {
  if (accumulator.writeHistogram !== null) return accumulator.writeHistogram.getValueAtPercentile(percentile) / 1000;
  const [p50, p90, p99] = accumulator.percentilesMs!;
  return percentile === 50 ? p50 : percentile === 90 ? p90 : p99;
}

export class LoadSeries {
  private readonly seconds = new Map<number, SecondAccumulator>();
  readonly measuredWrites = newLatencyHistogram();
  readonly measuredReads = newLatencyHistogram();
  private readonly buckets = new Array<number>(latencyBucketCount).fill(0);
  /** Seconds below this are sealed. */
  private sealedBelow = 0;

  constructor(private readonly warmupS: number) {}

  add(message: LoadSecond): void {
    let accumulator = this.seconds.get(message.second);
    if (accumulator === undefined) {
      accumulator = { writes: 0, reads: 0, failed: 0, writeHistogram: newLatencyHistogram(), percentilesMs: null };
      this.seconds.set(message.second, accumulator);
    }
    const writes = decodeLatencyHistogram(message.writeHistogram);
    accumulator.writes += message.writes;
    accumulator.reads += message.reads;
    accumulator.failed += message.failed;
    accumulator.writeHistogram?.add(writes);
    for (; this.sealedBelow < message.second - sealAfterS; this.sealedBelow++) {
      const old = this.seconds.get(this.sealedBelow);
      if (old === undefined || old.writeHistogram === null) continue;
      old.percentilesMs = [percentileMs(old, 50), percentileMs(old, 90), percentileMs(old, 99)];
      old.writeHistogram = null;
    }
    if (message.second >= this.warmupS) {
      this.measuredWrites.add(writes);
      this.measuredReads.add(decodeLatencyHistogram(message.readHistogram));
      message.writeBuckets.forEach((count, bucket) => { this.buckets[bucket]! += count; });
    }
  }

  /** Writes and p99 (ms) of one second, as far as reported. */
  second(second: number): { writes: number; p99Ms: number } {
    const accumulator = this.seconds.get(second);
    return { writes: accumulator?.writes ?? 0, p99Ms: accumulator ? percentileMs(accumulator, 99) : 0 };
  }

  /** One point per second from 0 to the last reported, zeros where nothing completed. */
  points(): SecondPoint[] {
    const out: SecondPoint[] = [];
    for (let second = 0; second <= Math.max(-1, ...this.seconds.keys()); second++) {
      const accumulator = this.seconds.get(second);
      const at = (p: number): number => (accumulator ? percentileMs(accumulator, p) : 0);
      out.push({
        second, warmup: second < this.warmupS, writesPerSecond: accumulator?.writes ?? 0, readsPerSecond: accumulator?.reads ?? 0,
        failed: accumulator?.failed ?? 0, p50Ms: at(50), p90Ms: at(90), p99Ms: at(99),
      });
    }
    return out;
  }

  /** Measured writes per latency bucket: [lower bound µs, count], empty buckets left out. */
  histogram(): [number, number][] {
    return this.buckets.flatMap((count, bucket): [number, number][] =>
      (count > 0 ? [[Math.round(latencyBucketFloorUs(bucket) * 10) / 10, count]] : []));
  }
}
