/**
 * A small log-linear latency histogram (HDR-style: 2^k ranges split into 32 linear buckets, so
 * relative error stays under ~3 %), recorded in microseconds. Cheap enough to stamp per batch.
 */
const subBuckets = 32;
const rangesMax = 40;

export interface HistogramSummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

export class Histogram {
  private readonly counts = new Float64Array(rangesMax * subBuckets);
  private total = 0;
  private sum = 0;
  private max = 0;

  record(valueUs: number, count = 1): void {
    const value = Math.max(0, Math.round(valueUs));
    this.counts[bucketOf(value)]! += count;
    this.total += count;
    this.sum += value * count;
    if (value > this.max) this.max = value;
  }

  percentile(p: number): number {
    if (this.total === 0) return 0;
    const rank = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperOf(i), this.max);
    }
    return this.max;
  }

  summary(): HistogramSummary {
    return {
      count: this.total,
      meanUs: this.total === 0 ? 0 : this.sum / this.total,
      p50Us: this.percentile(50),
      p90Us: this.percentile(90),
      p99Us: this.percentile(99),
      maxUs: this.max,
    };
  }
}

function bucketOf(value: number): number {
  if (value < subBuckets) return value;
  const range = Math.floor(Math.log2(value / subBuckets)) + 1;
  const width = 2 ** (range - 1);
  const base = subBuckets * width;
  const sub = Math.floor((value - base) / width);
  return Math.min(range * subBuckets + Math.min(sub, subBuckets - 1), rangesMax * subBuckets - 1);
}

function upperOf(bucket: number): number {
  const range = Math.floor(bucket / subBuckets);
  const sub = bucket % subBuckets;
  if (range === 0) return sub;
  const width = 2 ** (range - 1);
  return subBuckets * width + (sub + 1) * width - 1;
}
