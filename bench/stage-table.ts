/**
 * The per-stage table of the benchmark: one row per stage of the write path (docs/metrics.md), with its
 * p50 and p99, its share of the end-to-end time, its queue wait vs service time where the stage
 * has a queue, and where it starts on the waterfall (stages 5 and 6 — the leader's own log write
 * and the replication to followers — run side by side, so their shares may add past 100 %).
 *
 * Its source is the server's metrics snapshot (src/metrics/types.ts).
 */
import type { FollowerReplicationSnapshot, HistogramSnapshot, MetricsSnapshot, StageSnapshot } from '../src/metrics/types.js';

export interface StagePart {
  meanUs: number;
  p50Us: number;
  p99Us: number;
}

export interface StageRow {
  name: string;
  count: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  /** Mean of this stage over the mean of `total`, percent. */
  sharePercent: number;
  queue?: StagePart;
  service?: StagePart;
  /** Where the stage starts on the waterfall, µs after receive (from means). */
  startUs: number;
  /** Whether it runs alongside another stage (the log write and the replication). */
  parallel: boolean;
}

export interface StageTable {
  serverId: string;
  rows: StageRow[];
  total: StageRow | null;
  /** The leader's linearizable read stages (readStageNames), when it served reads: no waterfall, each its own span. */
  readRows?: StageRow[];
  /** Per follower on the leader: AppendEntries sent to acknowledged. */
  followers: { id: string; p50Us: number; p99Us: number; count: number }[];
  /** Each follower's own side of a write (receive, logSync, acknowledge), from its metrics. */
  followerSides: { id: string; stages: { name: string; count: number; p50Us: number; p99Us: number; queue?: StagePart; service?: StagePart }[] }[];
  counters: Record<string, number>;
  gauges: Record<string, number>;
}

/** Stages that run concurrently with the ones listed beside them. */
const parallelGroups: readonly (readonly string[])[] = [
  ['logWrite', 'logSync', 'replicate'],
  ['logWrite+logSync', 'replicate+commit'],
];
/** Within a parallel group, stages that follow one another. */
const chained: Record<string, string> = { logSync: 'logWrite' };

function part(snapshot: HistogramSnapshot | undefined): StagePart | undefined {
  if (snapshot === undefined || snapshot.count === 0) return undefined;
  return { meanUs: snapshot.meanUs, p50Us: snapshot.p50Us, p99Us: snapshot.p99Us };
}

interface RawStage {
  name: string;
  count: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  queue?: StagePart;
  service?: StagePart;
}

/** Lays the stages out in pipeline order: a parallel group starts together and the next stage starts when its longest member ends. */
function layout(stages: RawStage[], total: RawStage | undefined): StageRow[] {
  const totalMeanUs = total?.meanUs ?? 0;
  const rows: StageRow[] = [];
  let cursorUs = 0;
  let group: readonly string[] | null = null;
  let groupStartUs = 0;
  let groupEndUs = 0;
  const ends = new Map<string, number>();
  for (const stage of stages) {
    const inGroup = parallelGroups.find((candidate) => candidate.includes(stage.name)) ?? null;
    if (inGroup !== group) {
      if (group !== null) cursorUs = groupEndUs;
      group = inGroup;
      groupStartUs = cursorUs;
      groupEndUs = cursorUs;
    }
    let startUs = cursorUs;
    if (group !== null) {
      const before = chained[stage.name];
      startUs = before !== undefined && ends.has(before) ? ends.get(before)! : groupStartUs;
    }
    const endUs = startUs + stage.meanUs;
    ends.set(stage.name, endUs);
    if (group !== null) groupEndUs = Math.max(groupEndUs, endUs);
    else cursorUs = endUs;
    rows.push({
      ...stage,
      sharePercent: totalMeanUs > 0 ? Math.round((stage.meanUs / totalMeanUs) * 1000) / 10 : 0,
      startUs, parallel: group !== null,
    });
  }
  return rows;
}

function rowOf(stage: StageSnapshot): RawStage {
  const queue = part(stage.queue);
  const service = part(stage.service);
  return {
    name: stage.name, count: stage.count, meanUs: stage.meanUs, p50Us: stage.p50Us, p90Us: stage.p90Us, p99Us: stage.p99Us,
    ...(queue ? { queue } : {}), ...(service ? { service } : {}),
  };
}

export function stageTableFromMetrics(snapshot: MetricsSnapshot): StageTable {
  const stages = snapshot.stages.filter((stage) => stage.name !== 'total').map(rowOf);
  const totalSnapshot = snapshot.stages.find((stage) => stage.name === 'total');
  const total = totalSnapshot ? rowOf(totalSnapshot) : undefined;
  const rows = layout(stages, total);
  const followers = Object.entries(snapshot.followers).map(([id, follower]: [string, FollowerReplicationSnapshot]) => ({
    id, p50Us: follower.replicate.p50Us, p99Us: follower.replicate.p99Us, count: follower.replicate.count,
  }));
  const readStages = (snapshot.readStages ?? []).map(rowOf);
  const readTotal = readStages.find((stage) => stage.name === 'readTotal');
  const readRows = readStages.map((stage): StageRow => ({
    ...stage, startUs: 0, parallel: false,
    sharePercent: readTotal !== undefined && readTotal.meanUs > 0 ? Math.round((stage.meanUs / readTotal.meanUs) * 1000) / 10 : 0,
  }));
  return {
    serverId: snapshot.serverId, rows,
    ...(readRows.some((row) => row.count > 0) ? { readRows } : {}),
    total: total ? { ...total, sharePercent: 100, startUs: 0, parallel: false } : null,
    followers, followerSides: [], counters: snapshot.counters, gauges: snapshot.gauges,
  };
}

/** Adds the followers' own stages (from their metrics snapshots) to the leader's table. */
export function withFollowerSides(table: StageTable, followers: readonly MetricsSnapshot[]): StageTable {
  return {
    ...table,
    followerSides: followers.map((snapshot) => ({
      id: snapshot.serverId,
      stages: snapshot.followerStages.map((stage) => {
        const row = rowOf(stage);
        return {
          name: row.name, count: row.count, p50Us: row.p50Us, p99Us: row.p99Us,
          ...(row.queue ? { queue: row.queue } : {}), ...(row.service ? { service: row.service } : {}),
        };
      }),
    })),
  };
}
