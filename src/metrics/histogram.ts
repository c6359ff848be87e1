/**
 * A latency histogram in microseconds over hdr-histogram-js (its JavaScript implementation: per
 * batch, one record costs ≈0.1 µs, and WebAssembly would add a copy per call). Two significant
 * digits; values from 1 µs to one hour. A batch of writes that spent the same time in a stage is
 * recorded once with its count.
 */
import { build, type Histogram } from 'hdr-histogram-js';
import type { HistogramSnapshot } from './types.js';

const valueUsMax = 3_600_000_000;

/**
 * Durations that came out negative: a stage's end stamped before its start, which only a clock
 * that differs between threads would cause. Counted, not hidden (the tests require zero).
 */
export const negativeDurations = { count: 0 };

export class LatencyHistogram {
  private readonly histogram: Histogram = build({
    bitBucketSize: 32, autoResize: false, lowestDiscernibleValue: 1, highestTrackableValue: valueUsMax,
    numberOfSignificantValueDigits: 2, useWebAssembly: false,
  });

  /** Records `count` writes that each spent `valueUs`; negative values (none expected) count as 0. */
  record(valueUs: number, count: number): void {
    if (count <= 0) return;
    if (valueUs < 0) negativeDurations.count += count;
    const value = valueUs <= 0 ? 0 : valueUs >= valueUsMax ? valueUsMax : Math.round(valueUs);
    this.histogram.recordValueWithCount(value, count);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  snapshot(): HistogramSnapshot {
    const h = this.histogram;
    if (h.totalCount === 0) return { count: 0, meanUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
    return {
      count: h.totalCount,
      meanUs: h.mean,
      p50Us: h.getValueAtPercentile(50),
      p90Us: h.getValueAtPercentile(90),
      p99Us: h.getValueAtPercentile(99),
      p999Us: h.getValueAtPercentile(99.9),
      maxUs: h.maxValue,
    };
  }

  reset(): void {
    this.histogram.reset();
  }
}

/** A stage's histogram, and its queue and service parts where the stage has a queue. */
export class StageHistograms {
  readonly all = new LatencyHistogram();
  readonly queue: LatencyHistogram | null;
  readonly service: LatencyHistogram | null;

  constructor(readonly name: string, hasQueue: boolean) {
    this.queue = hasQueue ? new LatencyHistogram() : null;
    this.service = hasQueue ? new LatencyHistogram() : null;
  }

  /** Records a stage with no queue. */
  record(valueUs: number, count: number): void {
    this.all.record(valueUs, count);
  }

  /** Records a stage that is queue wait then service; the stage is their sum. */
  recordSplit(queueUs: number, serviceUs: number, count: number): void {
    this.all.record(queueUs + serviceUs, count);
    this.queue?.record(queueUs, count);
    this.service?.record(serviceUs, count);
  }

  reset(): void {
    this.all.reset();
    this.queue?.reset();
    this.service?.reset();
  }
}
