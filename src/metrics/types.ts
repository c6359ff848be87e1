/**
 * The shape of a server's metrics: what `RaftServer.metrics()`, the metrics RPC, the Prometheus
 * endpoint and the benchmark report all read. Durations are microseconds on the process's
 * monotonic clock.
 */
import type { MemorySnapshot } from './memory.js';

/** The stages of a write, in pipeline order (docs/metrics.md). `total` is receive to reply. */
export const leaderStageNames = [
  'receive', 'startTransaction', 'admit', 'preAppend', 'logWrite', 'logSync', 'replicate',
  'commit', 'applySerial', 'apply', 'reply', 'total',
] as const;
export type LeaderStageName = (typeof leaderStageNames)[number];

/**
 * The stages of a linearizable read on the leader: `readIndex` (received → its read index
 * confirmed: the heartbeat round's wait, about nothing on the lease), `readApply` (received → the
 * state machine has applied through it), `query` (applied → the batch of the turn goes to the
 * updater (queue) → the answers are back (service)), `readTotal` (received → replied). The query
 * runs while the round is out: readIndex runs alongside readApply and query, and the reply waits
 * for the later of the two.
 */
export const readStageNames = ['readIndex', 'readApply', 'query', 'readTotal'] as const;
export type ReadStageName = (typeof readStageNames)[number];

/** A follower's side of a write: frame received, entries synced, acknowledgement sent. */
export const followerStageNames = ['receive', 'logSync', 'acknowledge'] as const;
export type FollowerStageName = (typeof followerStageNames)[number];

export interface HistogramSnapshot {
  count: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export interface StageSnapshot<N extends string = string> extends HistogramSnapshot {
  name: N;
  /** Time spent waiting in the stage's queue, where it has one. */
  queue?: HistogramSnapshot;
  /** Time spent being served, where the stage has a queue. */
  service?: HistogramSnapshot;
}

export interface FollowerReplicationSnapshot {
  /** AppendEntries sent to acknowledged, per entry. */
  replicate: HistogramSnapshot;
  matchIndex: number;
  inFlightRequests: number;
  inFlightBytes: number;
}

export interface MetricsSnapshot {
  serverId: string;
  role: 'leader' | 'follower' | 'candidate' | 'precandidate';
  term: number;
  /** Wall-clock time of the snapshot, ms since the epoch. */
  takenAtMs: number;
  /** Whether per-stage profiling is on (it can be turned off; counters and gauges stay). */
  profiling: boolean;
  /** Leader side, in `leaderStageNames` order; empty histograms while not leader. */
  stages: StageSnapshot<LeaderStageName>[];
  /** Linearizable reads on the leader, in `readStageNames` order. */
  readStages?: StageSnapshot<ReadStageName>[];
  /** Per follower, on the leader. */
  followers: Record<string, FollowerReplicationSnapshot>;
  /** This server's side as a follower, in `followerStageNames` order. */
  followerStages: StageSnapshot<FollowerStageName>[];
  /** Monotonic counts: writes committed and applied, log syncs, batches, bytes sent and received. */
  counters: Record<string, number>;
  /** Current levels: queue depths, pending requests, mean batch sizes, in-flight bytes. */
  gauges: Record<string, number>;
  /** Resident memory of the process and the heap of each of its JavaScript threads. */
  memory: MemorySnapshot;
}
