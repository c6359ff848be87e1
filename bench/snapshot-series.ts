/**
 * Snapshots over a bench run, from the servers' counters (src/metrics/stage-recorder.ts) polled
 * about once a second: when each server took, installed or sent one, how long it took and how
 * big it was, the size of each server's data directory and of its log over time, and the
 * throughput of the seconds with a snapshot in progress against the others.
 *
 * The counters move when a snapshot is done, so a poll sees that one ended since the poll before,
 * and its duration (the ms counter's delta). Where bench can read the server's data directory, the
 * snapshot's manifest says when it ended: the store writes it last (src/snapshot/snapshot-store.ts),
 * so its modification time is the end, within a sync; the snapshot was in progress for its
 * duration before that. Where it cannot (--peers, a snapshot sent, several ended between two polls
 * and the directory holds fewer of them, taken and installed in one interval), the span runs from
 * the previous poll less the duration to the poll that saw it: it holds the real one wherever in
 * between it ended, at the price of counting up to a poll interval more.
 */
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SecondPoint } from './load-series.js';

export const snapshotKinds = ['taken', 'installed', 'sent'] as const;
export type SnapshotKind = (typeof snapshotKinds)[number];

/** The counters behind each kind: number, bytes, ms (all since the server started). */
const countersOf: Record<SnapshotKind, readonly [string, string, string]> = {
  taken: ['snapshotsTaken', 'snapshotBytes', 'snapshotMs'],
  installed: ['snapshotsInstalled', 'snapshotInstallBytes', 'snapshotInstallMs'],
  sent: ['snapshotsSent', 'snapshotSendBytes', 'snapshotSendMs'],
};

/** One poll's news of one server: `count` snapshots of a kind ended since the poll before. */
export interface SnapshotEvent {
  /** The second of the run (as in the per-second series) when the poll saw it. */
  second: number;
  /** Seconds since the run started: when the poll saw it, and the earliest it can have begun. */
  atS: number;
  fromS: number;
  server: string;
  kind: SnapshotKind;
  count: number;
  ms: number;
  bytes: number;
  /** What placed the span: the manifests' times, or the polls. */
  placedBy: 'manifest' | 'poll';
}

/** What a poll read of one server's data directory: its size on disk, and the snapshots it holds with the time each ended (seconds since the run started). */
export interface DataDirScan {
  bytes: number;
  snapshots: { index: number; endS: number }[];
}

export interface SnapshotTotals {
  count: number;
  bytes: number;
  ms: number;
}

/** Mean writes/s of the measured seconds with a snapshot in progress on any server, and of the others. */
export interface ThroughputSplit {
  duringSeconds: number;
  duringWritesPerSecond: number | null;
  withoutSeconds: number;
  withoutWritesPerSecond: number | null;
  /** During over without; null when either set of seconds is empty. */
  ratio: number | null;
}

export interface SnapshotFigures {
  /** Per server and kind, the snapshots seen in the measured part (polls after the warm-up). */
  servers: Record<string, Record<SnapshotKind, SnapshotTotals>>;
  /** Every poll that saw snapshots end, warm-up included, in the order seen. */
  events: SnapshotEvent[];
  /** The largest data directory (bytes on disk, as du counts them) and log (the logBytes gauge) seen per server over the run. */
  dataDirMaxBytes: Record<string, number>;
  logMaxBytes: Record<string, number>;
  throughputDuringSnapshots: ThroughputSplit;
}

interface Sample {
  atS: number;
  counts: number[];
  /** The newest snapshot index seen in its directory (0: none or unread). */
  newestIndex: number;
}

const round = (value: number, places: number): number => Math.round(value * 10 ** places) / 10 ** places;

export class SnapshotSeries {
  private readonly last = new Map<string, Sample>();
  private readonly eventList: SnapshotEvent[] = [];
  private readonly dirBytes = new Map<string, [number, number][]>();
  private readonly logBytes = new Map<string, [number, number][]>();

  /**
   * One server's counters and logBytes gauge at `atS` seconds into the run, and its data directory
   * when bench can read it. A sample older than the last one kept (two polls answered out of order)
   * adds only its sizes.
   */
  add(server: string, atS: number, counters: Readonly<Record<string, number>>, logBytes: number | undefined, dir: DataDirScan | null): void {
    if (logBytes !== undefined) push(this.logBytes, server, [round(atS, 3), logBytes]);
    if (dir !== null) push(this.dirBytes, server, [round(atS, 3), dir.bytes]);
    const counts = snapshotKinds.flatMap((kind) => countersOf[kind].map((name) => counters[name] ?? 0));
    const before = this.last.get(server);
    if (before !== undefined && (atS <= before.atS || counts.some((count, i) => count < before.counts[i]!))) return;
    // A manifest that ended after the counters were read (the directory is read just after) counts at the next poll.
    const counted = (dir?.snapshots ?? []).filter((snapshot) => snapshot.endS <= atS);
    const newestIndex = Math.max(before?.newestIndex ?? 0, ...counted.map((snapshot) => snapshot.index));
    this.last.set(server, { atS, counts, newestIndex });
    if (before === undefined) return;
    const delta = (k: number, i: number): number => counts[k * 3 + i]! - before.counts[k * 3 + i]!;
    // The manifests new since the poll before end the snapshots taken or installed since, when they are all there and of one kind.
    const ends = counted.filter((snapshot) => snapshot.index > before.newestIndex).map((snapshot) => snapshot.endS);
    const takenOrInstalled = [delta(0, 0), delta(1, 0)];
    snapshotKinds.forEach((kind, k) => {
      const [count, bytes, ms] = [delta(k, 0), delta(k, 1), delta(k, 2)];
      if (count === 0) return;
      const byManifest = kind !== 'sent' && ends.length === count && takenOrInstalled.filter((n) => n > 0).length === 1;
      // Several in one interval: their durations are known only in sum, so the span starts that long before the first end.
      const [fromS, endS] = byManifest ? [Math.min(...ends) - ms / 1000, Math.max(...ends)] : [before.atS - ms / 1000, atS];
      this.eventList.push({
        second: Math.floor(endS), atS: round(endS, 3), fromS: round(Math.max(0, fromS), 3),
        server, kind, count, ms: Math.round(ms), bytes, placedBy: byManifest ? 'manifest' : 'poll',
      });
    });
  }

  get events(): readonly SnapshotEvent[] {
    return this.eventList;
  }

  /** Data directory and log bytes over time, per server: [seconds since the start, bytes]. */
  series(): { dataDirBytes: Record<string, [number, number][]>; logBytes: Record<string, [number, number][]> } {
    return { dataDirBytes: Object.fromEntries(this.dirBytes), logBytes: Object.fromEntries(this.logBytes) };
  }

  /** The figures of a run whose measured part starts `fromS` seconds in and ends before `toS`, over its per-second series. */
  figures(points: readonly SecondPoint[], fromS: number, toS: number): SnapshotFigures {
    const servers: SnapshotFigures['servers'] = {};
    for (const server of [...this.last.keys()].sort()) {
      servers[server] = { taken: { count: 0, bytes: 0, ms: 0 }, installed: { count: 0, bytes: 0, ms: 0 }, sent: { count: 0, bytes: 0, ms: 0 } };
    }
    for (const event of this.eventList) {
      if (event.atS < fromS) continue;
      const totals = servers[event.server]![event.kind];
      totals.count += event.count;
      totals.bytes += event.bytes;
      totals.ms += event.ms;
    }
    const max = (series: Map<string, [number, number][]>): Record<string, number> =>
      Object.fromEntries([...series].sort(([a], [b]) => a.localeCompare(b)).map(([server, points]) => [server, Math.max(...points.map(([, bytes]) => bytes))]));
    return {
      servers, events: [...this.eventList], dataDirMaxBytes: max(this.dirBytes), logMaxBytes: max(this.logBytes),
      throughputDuringSnapshots: throughputSplit(points, this.eventList, fromS, toS),
    };
  }
}

function push(series: Map<string, [number, number][]>, server: string, point: [number, number]): void {
  let points = series.get(server);
  if (points === undefined) series.set(server, points = []);
  points.push(point);
}

/**
 * Splits the seconds `fromS` <= second < `toS` of the per-second series into those that overlap
 * some event's span [fromS, atS] (a snapshot in progress on any server) and the rest, and takes
 * the mean writes/s of each.
 */
export function throughputSplit(points: readonly SecondPoint[], events: readonly Pick<SnapshotEvent, 'fromS' | 'atS'>[], fromS: number, toS: number): ThroughputSplit {
  const during: number[] = [];
  const without: number[] = [];
  for (const point of points) {
    if (point.second < fromS || point.second >= toS) continue;
    const start = point.second;
    const busy = events.some((event) => event.fromS < start + 1 && event.atS > start);
    (busy ? during : without).push(point.writesPerSecond);
  }
  const mean = (values: number[]): number | null => (values.length === 0 ? null : Math.round(values.reduce((a, b) => a + b, 0) / values.length));
  const duringMean = mean(during);
  const withoutMean = mean(without);
  return {
    duringSeconds: during.length, duringWritesPerSecond: duringMean, withoutSeconds: without.length, withoutWritesPerSecond: withoutMean,
    ratio: duringMean === null || withoutMean === null || withoutMean === 0 ? null : round(duringMean / withoutMean, 3),
  };
}

/** A snapshot's manifest (src/snapshot/snapshot-store.ts): `snapshot_<index>_<term>.manifest`. */
const manifestName = /^snapshot_(\d+)_\d+\.manifest$/;

/**
 * A server's data directory: the bytes it takes on disk, as `du` counts them (allocated blocks,
 * so preallocated segments count in full), and the snapshots it holds, each with its manifest's
 * modification time as seconds since `startAtMs`. Files that go while it is read (a purge) are
 * skipped.
 */
export async function scanDataDir(dir: string, startAtMs: number): Promise<DataDirScan> {
  const scan: DataDirScan = { bytes: 0, snapshots: [] };
  const walk = async (folder: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    await Promise.all(entries.map(async (entry) => {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) return walk(file);
      const stat = await fs.lstat(file).catch(() => null);
      if (stat === null) return;
      scan.bytes += stat.blocks * 512;
      const manifest = manifestName.exec(entry.name);
      if (manifest !== null) scan.snapshots.push({ index: Number(manifest[1]), endS: (stat.mtimeMs - startAtMs) / 1000 });
    }));
  };
  await walk(dir);
  return scan;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** Writes/s with a snapshot in progress and without, and their ratio, in a few words. */
export function formatThroughputSplit(split: ThroughputSplit): string {
  if (split.duringSeconds === 0) return 'no measured second with one in progress';
  return `writes/s ${split.duringWritesPerSecond} in ${split.duringSeconds} s with one in progress, ${split.withoutWritesPerSecond ?? '-'} in ${split.withoutSeconds} s without` +
    (split.ratio === null ? '' : ` (${(split.ratio * 100).toFixed(1)}%)`);
}

/**
 * The snapshot figures in one line, for the terminal summary and the HTML report: per kind the
 * servers' counts with the mean duration and size, writes/s with a snapshot in progress and
 * without, and the largest data directory and log per server.
 */
export function formatSnapshots(figures: SnapshotFigures): string {
  const servers = Object.entries(figures.servers);
  const kinds = snapshotKinds.map((kind) => {
    const totals = servers.map(([id, perKind]) => [id, perKind[kind]] as const).filter(([, total]) => total.count > 0);
    const count = totals.reduce((sum, [, total]) => sum + total.count, 0);
    if (count === 0) return `${kind} 0`;
    const ms = totals.reduce((sum, [, total]) => sum + total.ms, 0);
    const bytes = totals.reduce((sum, [, total]) => sum + total.bytes, 0);
    return `${kind} ${totals.map(([id, total]) => `${id} ${total.count}`).join(', ')} (mean ${Math.round(ms / count)} ms, ${mib(bytes / count)} MiB)`;
  });
  const throughput = formatThroughputSplit(figures.throughputDuringSnapshots);
  const sizes = (label: string, max: Record<string, number>): string[] =>
    (Object.keys(max).length === 0 ? [] : [`max ${label} MiB ${Object.entries(max).map(([id, bytes]) => `${id} ${mib(bytes)}`).join(', ')}`]);
  return [kinds.join('; '), throughput, ...sizes('data dir', figures.dataDirMaxBytes), ...sizes('log', figures.logMaxBytes)].join('   ');
}
