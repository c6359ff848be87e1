/**
 * What one `raftline bench` run produced, as the terminal summary, `--json` and the HTML report
 * (report.ts) read it. The type lives here, with the benchmark's other parts, so that the report
 * and the scripts under bench/ never import the CLI: the CLI's `bench` command (src/cli/bench.ts)
 * imports them, one direction only.
 */
import type { LatencyMs } from './latency.js';
import type { SecondPoint } from './load-series.js';
import type { MachineUsage, ProcessUsage } from './proc-sampler.js';
import type { StageTable } from './stage-table.js';
import type { Verdict } from './verdict.js';
import type { MemoryBreakdown, MemoryPoint } from './memory-series.js';
import type { MachineInfo } from './run-info.js';
import type { SnapshotFigures } from './snapshot-series.js';

export type { SecondPoint };

/** The servers' counters that say something went wrong with a server itself (BenchResult.incidents). */
export const incidentCounters = ['connectionsRefused', 'peerMessagesRefused', 'followerLogResets', 'logTailCuts', 'entriesCutAtRecovery'] as const;
export type IncidentCounter = (typeof incidentCounters)[number];

export interface BenchResult {
  configuration: {
    nodes: number; clients: number; outstandingPerClient: number; outstanding: number; sizeBytes: number;
    durationS: number; warmupS: number; readFraction: number;
    /** How linearizable reads were confirmed (src/cli/bench.ts, readModes); absent in results from before it. */
    readMode?: string; keysPerClient: number; actors: string; fsync: boolean; tls?: boolean; peers: string[] | null; writesMax: number;
    profiling: boolean;
    /** The servers' snapshot policy (entries between snapshots, 0: none; entries kept below one); null with --peers. */
    snapshotEvery: number | null; logKeep: number | null;
  };
  machine: MachineInfo;
  versions: Record<string, string>;
  startedAt: string;
  writesPerSecond: number;
  readsPerSecond: number;
  acknowledged: number;
  reads: number;
  failed: number;
  errors: string[];
  measuredS: number;
  latencyMs: LatencyMs;
  readLatencyMs: LatencyMs;
  /** Writes per latency bucket over the measured part: [lower bound µs, count]. */
  latencyHistogram: [number, number][];
  leader: { id: string; address: string } | null;
  stages: StageTable | null;
  /** The leader's stage histograms as the server reported them, by stage name (µs). */
  stagesUs: Record<string, unknown> | null;
  /** CPU time of every server process (all threads) per acknowledged write over the measured part; null when unread. */
  serverCpuUsPerWrite: number | null;
  /**
   * Mean entries per message since the servers started: per append to the leader's log, per
   * acknowledged AppendEntries, per AppendEntries a follower received. Null when unread.
   */
  batches: { appendEntriesMean: number; replicationEntriesMean: number; followerEntriesMean: number } | null;
  /**
   * Context switches of all threads of all server processes over the measured part, per
   * acknowledged write and per append batch: every hop between threads or processes, and every
   * sync, puts a thread to sleep and wakes it. Null where /proc is unread.
   */
  wakeups: { contextSwitchesPerWrite: number; contextSwitchesPerBatch: number } | null;
  /**
   * What went wrong with the servers themselves since they started, per server (only the counters
   * that are not zero): connections refused over a bound, peer messages refused, followers found
   * with less than they had acknowledged, damaged log tails cut at start and the entries they held.
   * A clean run has none; a run against a cluster that went through faults says so.
   */
  incidents: Record<string, Partial<Record<IncidentCounter, number>>>;
  cpu: { machine: MachineUsage | null; processes: ProcessUsage[] };
  memory: { id: string; firstMiB: number; lastMiB: number; maxMiB: number; slopeMiBPerMinute: number; flat: boolean | null }[];
  /**
   * Each server's resident memory split into its threads' V8 heaps, their ArrayBuffers and the
   * rest, after the warm-up (from the servers' own metrics, polled every few seconds).
   */
  memoryParts: MemoryBreakdown[];
  /**
   * Snapshots taken, installed and sent per server over the measured part, each poll (about once a
   * second) that saw some end, the largest data directory and log per server, and writes/s in the
   * measured seconds with a snapshot in progress against the others (snapshot-series.ts).
   */
  snapshots: SnapshotFigures;
  verdict: Verdict;
  series: {
    seconds: SecondPoint[]; rssMiB: Record<string, [number, number][]>; memoryMiB: Record<string, MemoryPoint[]>;
    /** Per server, [seconds since the start, bytes]: its data directory on disk (local cluster only) and its log (logBytes). */
    dataDirBytes: Record<string, [number, number][]>; logBytes: Record<string, [number, number][]>;
  };
}
