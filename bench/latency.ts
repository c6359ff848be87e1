/**
 * Latency recording shared by the load generators and the coordinator: HDR histograms in
 * microseconds (3 significant digits, up to 2 minutes), and coarse logarithmic buckets — ten per
 * decade from 1 µs — that the report draws as a histogram.
 */
import * as hdr from 'hdr-histogram-js';

export type LatencyHistogram = hdr.Histogram;

const latencyUsMax = 120_000_000;
const bucketsPerDecade = 10;
const decades = 8;
export const latencyBucketCount = bucketsPerDecade * decades;

export function newLatencyHistogram(): LatencyHistogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: latencyUsMax, numberOfSignificantValueDigits: 3 });
}

export function decodeLatencyHistogram(encoded: string): LatencyHistogram {
  return hdr.decodeFromCompressedBase64(encoded);
}

export function latencyBucketOf(latencyUs: number): number {
  const bucket = Math.floor(Math.log10(Math.max(1, latencyUs)) * bucketsPerDecade);
  return Math.min(latencyBucketCount - 1, bucket);
}

/** The lower bound of a bucket in microseconds. */
export function latencyBucketFloorUs(bucket: number): number {
  return 10 ** (bucket / bucketsPerDecade);
}

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function latencyMsOf(histogram: LatencyHistogram): LatencyMs {
  if (histogram.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  };
}
