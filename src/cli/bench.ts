/**
 * `raftline bench`: starts a local cluster of server processes (or targets `--peers`), drives it
 * from tinypool load-generator threads, and reports writes/s, client latency, the leader's
 * per-stage table, CPU per process and thread, resident memory over time and a verdict on what
 * limits throughput, and the snapshots the servers took, installed and sent during the run — in the
 * terminal, as JSON (`--json`) and as an HTML report (`--report`).
 *
 * The run is warm-up plus duration; every figure except the time series covers the measured part
 * only. Load generators post one histogram per second (bench/load-worker.ts), which feed the live
 * line and the time series.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import type { ReadMode } from '../../bench/load-worker.js';
export { readModes, type ReadMode } from '../../bench/load-worker.js';
import Tinypool from 'tinypool';
import { clientTlsFromDir, LocalCluster, sleep, withTimeout } from '../cluster/local-cluster.js';
import { RaftClient } from '../client/raft-client.js';
import { ConfigurationError, TimeoutError } from '../errors.js';
import type { LoadDone, LoadResult, LoadSecond, LoadTask } from '../../bench/load-worker.js';
import { latencyMsOf } from '../../bench/latency.js';
import { LoadSeries, type SecondPoint } from '../../bench/load-series.js';
import { pidsListeningOn, ProcSampler, type ProcessUsage, type ProcTarget } from '../../bench/proc-sampler.js';
import { stageTableFromMetrics, withFollowerSides, type StageTable } from '../../bench/stage-table.js';
import type { MetricsSnapshot } from '../metrics/types.js';
import { verdictOf } from '../../bench/verdict.js';
import { MemorySeries } from '../../bench/memory-series.js';
import { scanDataDir, SnapshotSeries } from '../../bench/snapshot-series.js';
import { logKeepDefault, snapshotEveryDefault } from '../server/options.js';
import { machineInfo, versions } from '../../bench/run-info.js';
import { incidentCounters, type BenchResult } from '../../bench/bench-result.js';
import { formatLiveLine } from './bench-format.js';
import { leaseDriftMsDefault } from './flags.js';


export interface BenchOptions {
  nodes: number;
  clients: number;
  /** Requests in flight per client. */
  outstanding: number;
  sizeBytes: number;
  durationS: number;
  warmupS: number;
  /** Fraction of requests that are reads, 0..1. */
  readFraction: number;
  /** How reads are made (bench/load-worker.ts, ReadMode); default linearizable. */
  readMode?: ReadMode;
  /** Distinct keys each client writes, cycled through so the servers' state stays bounded (default 100,000). */
  keys?: number;
  actors: 'workers' | 'inline';
  /** An existing cluster to drive instead of starting one. */
  peers?: string[];
  unsafeNoFsync: boolean;
  basePort: number;
  writesMax: number;
  jsonFile?: string;
  reportFile?: string;
  /** Live progress: `tty` rewrites one line, `lines` prints one every few seconds. */
  live: 'tty' | 'lines' | 'off';
  /** Per-stage profiling in the servers bench starts (default on); off measures what it costs. */
  profiling?: boolean;
  /** Snapshot policy of the servers bench starts (`--snapshot-every`, `--log-keep`); the servers' defaults when absent. */
  snapshotEvery?: number;
  logKeep?: number;
  /** The servers bench starts serve TLS with the certificates of this `raftline certs create` folder; its clients use `client.pem`. */
  tlsDir?: string;
  /** With readMode 'lease': the lease's clock drift bound (the servers' default when absent). */
  leaseDriftMs?: number;
}

export type { BenchResult, SecondPoint };

/** The incident counters that are not zero, per server (see BenchResult.incidents). */
function incidentsOf(snapshots: Map<string, MetricsSnapshot>): BenchResult['incidents'] {
  const incidents: BenchResult['incidents'] = {};
  for (const snapshot of snapshots.values()) {
    for (const name of incidentCounters) {
      const count = snapshot.counters[name] ?? 0;
      if (count > 0) (incidents[snapshot.serverId] ??= {})[name] = count;
    }
  }
  return incidents;
}

/** Context switches of the server processes per write and per batch (see BenchResult.wakeups). */
function wakeupsOf(processes: ProcessUsage[], writes: number, batches: BenchResult['batches']): BenchResult['wakeups'] {
  const servers = processes.filter((process) => process.id !== 'load');
  if (servers.length === 0 || writes === 0) return null;
  const perWrite = servers.reduce((sum, process) => sum + process.contextSwitches, 0) / writes;
  return {
    contextSwitchesPerWrite: Math.round(perWrite * 100) / 100,
    contextSwitchesPerBatch: Math.round(perWrite * (batches?.appendEntriesMean ?? 1) * 10) / 10,
  };
}

/** Waits for a server that is leader and has committed an entry of its term. */
async function findLeader(client: RaftClient, addresses: string[], timeoutMs: number): Promise<{ id: string; address: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const address of addresses) {
      const status = await withTimeout(client.status(address), 1000).catch(() => null);
      if (status?.role === 'leader' && status.commit > 0) return { id: status.id, address };
    }
    await sleep(100);
  }
  throw new TimeoutError(`no leader among ${addresses.join(',')} within ${timeoutMs} ms`);
}

/**
 * The leader's stage table over the measured part (the metrics were reset when the warm-up ended),
 * with the followers' own stages beside it.
 */
async function leaderStages(snapshots: Map<string, MetricsSnapshot>, leader: { id: string; address: string }): Promise<{ table: StageTable; raw: Record<string, unknown> } | null> {
  const leaderSnapshot = snapshots.get(leader.address);
  if (leaderSnapshot === undefined) return null;
  const followers = [...snapshots.entries()].filter(([address]) => address !== leader.address).map(([, snapshot]) => snapshot);
  const table = withFollowerSides(stageTableFromMetrics(leaderSnapshot), followers);
  return { table, raw: Object.fromEntries(leaderSnapshot.stages.map((stage) => [stage.name, stage])) };
}

/** Mean batch sizes from the leader's gauges and the followers' (see BenchResult.batches). */
function batchesOf(snapshots: Map<string, MetricsSnapshot>, leaderAddress: string): BenchResult['batches'] {
  const leader = snapshots.get(leaderAddress);
  if (leader === undefined) return null;
  const round = (value: number): number => Math.round(value * 10) / 10;
  const followerMeans = [...snapshots].filter(([address]) => address !== leaderAddress)
    .map(([, snapshot]) => snapshot.gauges['followerBatchEntriesMean'] ?? 0);
  return {
    appendEntriesMean: round(leader.gauges['appendBatchEntriesMean'] ?? 0),
    replicationEntriesMean: round(leader.gauges['replicationBatchEntriesMean'] ?? 0),
    followerEntriesMean: round(followerMeans.length === 0 ? 0 : followerMeans.reduce((a, b) => a + b, 0) / followerMeans.length),
  };
}

/**
 * How often the servers' metrics are read during a run (one metrics call per server, and a walk of
 * each data directory bench made): often enough to place each snapshot within a second or so.
 * Their memory is kept from every fifth read, enough for its slope.
 */
const pollMs = 1000;
const memoryEveryMs = 5000;

/** Every server's metrics snapshot that answers within a second, by address; `reset` starts their histograms over. */
async function metricsOf(client: RaftClient, addresses: readonly string[], reset: boolean): Promise<Map<string, MetricsSnapshot>> {
  const all = await Promise.all(addresses.map((address) => withTimeout(client.metrics(address, { reset }), 1000).catch(() => null)));
  const snapshots = new Map<string, MetricsSnapshot>();
  addresses.forEach((address, i) => {
    if (all[i]) snapshots.set(address, all[i]!);
  });
  return snapshots;
}

/** Sum of the servers' processCpuUs gauges; null unless every server answered. */
function serverCpuUs(snapshots: Map<string, MetricsSnapshot>, count: number): number | null {
  if (snapshots.size !== count) return null;
  let sum = 0;
  for (const snapshot of snapshots.values()) sum += snapshot.gauges['processCpuUs'] ?? 0;
  return sum;
}

/** With --peers on this machine: each loopback peer's process, named by its server id. */
async function peerTargets(client: RaftClient, addresses: string[]): Promise<ProcTarget[]> {
  const local = addresses.filter((address) => /^(127\.\d+\.\d+\.\d+|localhost):\d+$/.test(address));
  const pids = pidsListeningOn(local.map((address) => Number(address.split(':')[1])));
  const targets: ProcTarget[] = [];
  for (const address of local) {
    const pid = pids.get(Number(address.split(':')[1]));
    if (pid === undefined || pid === process.pid) continue;
    const status = await withTimeout(client.status(address), 1000).catch(() => null);
    targets.push({ id: status?.id ?? address, pid });
  }
  return targets;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  if (options.peers && options.unsafeNoFsync) {
    throw new ConfigurationError('--unsafe-no-fsync applies to servers that bench starts; with --peers the servers\' own flags decide');
  }
  if (options.peers && (options.snapshotEvery !== undefined || options.logKeep !== undefined)) {
    throw new ConfigurationError('--snapshot-every and --log-keep apply to servers that bench starts; with --peers the servers\' own flags decide');
  }
  if (!(options.readFraction >= 0 && options.readFraction <= 1)) throw new ConfigurationError('--reads must be a fraction from 0 to 1');
  const readMode = options.readMode ?? 'linearizable';
  if (options.peers && (readMode === 'lease' || options.leaseDriftMs !== undefined)) {
    throw new ConfigurationError('--read-mode lease and --lease-drift-ms apply to servers that bench starts; with --peers start the servers with --read-lease');
  }
  if (readMode !== 'lease' && options.leaseDriftMs !== undefined) throw new ConfigurationError('--lease-drift-ms applies with --read-mode lease');
  const dir = options.peers ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-bench-'));
  const cluster = dir === null ? null : new LocalCluster({
    nodes: options.nodes, dir, basePort: options.basePort, actors: options.actors, logFile: path.join(dir, 'servers.log'),
    unsafeNoFsync: options.unsafeNoFsync, profiling: options.profiling ?? true,
    ...(options.snapshotEvery === undefined ? {} : { snapshotEvery: options.snapshotEvery }),
    ...(options.logKeep === undefined ? {} : { logKeep: options.logKeep }),
    ...(options.tlsDir === undefined ? {} : { tlsDir: options.tlsDir }),
    ...(readMode === 'lease' ? { readLease: { clockDriftMs: options.leaseDriftMs ?? leaseDriftMsDefault } } : {}),
  });
  const tls = options.tlsDir === undefined ? undefined : clientTlsFromDir(options.tlsDir);
  const addresses = options.peers ?? cluster!.addresses;
  const pool = new Tinypool({
    filename: new URL('../../bench/load-worker.js', import.meta.url).href,
    minThreads: options.clients, maxThreads: options.clients, idleTimeout: 60_000,
  });
  const control = await RaftClient.connect({ peers: addresses, requestTimeoutMs: 5000, ...(tls === undefined ? {} : { tls }) });
  let sampler: ProcSampler | null = null;
  let liveTimer: NodeJS.Timeout | null = null;
  try {
    await cluster?.checkPorts();
    cluster?.startAll();
    const leader = await findLeader(control, addresses, 20_000);
    const targets: ProcTarget[] = cluster !== null
      ? cluster.nodes.flatMap((node) => (node.process?.pid ? [{ id: node.id, pid: node.process.pid }] : []))
      : await peerTargets(control, addresses);
    targets.push({ id: 'load', pid: process.pid });
    if (ProcSampler.available()) sampler = new ProcSampler(targets, os.cpus().length);
    sampler?.start();

    const totalS = options.warmupS + options.durationS;
    const startAtMs = Date.now() + 200;
    const endAtMs = startAtMs + totalS * 1000;
    const series = new LoadSeries(options.warmupS);
    const orderedPeers = [leader.address, ...addresses.filter((address) => address !== leader.address)];
    const drained: Promise<void>[] = [];
    const tasks: Promise<LoadResult>[] = [];
    for (let i = 0; i < options.clients; i++) {
      const channel = new MessageChannel();
      drained.push(new Promise<void>((resolve) => {
        channel.port1.on('message', (message: LoadSecond | LoadDone) => {
          if ('done' in message) {
            channel.port1.close();
            resolve();
          } else {
            series.add(message);
          }
        });
      }));
      const task: LoadTask = {
        peers: orderedPeers, outstanding: options.outstanding, sizeBytes: options.sizeBytes, startAtMs, endAtMs,
        writesMax: Math.ceil(options.writesMax / options.clients), readFraction: options.readFraction,
        readMode: options.readMode ?? 'linearizable',
        keyPrefix: `bench-${i}-`, keys: options.keys ?? 100_000, requestTimeoutMs: 30_000, port: channel.port2, ...(tls === undefined ? {} : { tls }),
      };
      tasks.push(pool.run(task, { transferList: [channel.port2] }) as Promise<LoadResult>);
    }

    const memory = new MemorySeries();
    const snapshotSeries = new SnapshotSeries();
    const dirOf = new Map(cluster?.nodes.map((node) => [node.address, node.dir]) ?? []);
    let memoryRecordedMs = 0;
    /** Keeps what one poll read: snapshot counters and sizes always, memory every `memoryEveryMs` (and at the warm-up's end and the run's). */
    const record = async (snapshots: Map<string, MetricsSnapshot>, withMemory: boolean): Promise<void> => {
      const nowMs = Date.now();
      const atS = (nowMs - startAtMs) / 1000;
      if (withMemory || nowMs - memoryRecordedMs >= memoryEveryMs) {
        memoryRecordedMs = nowMs;
        for (const snapshot of snapshots.values()) memory.add(snapshot.serverId, atS, snapshot.memory);
      }
      await Promise.all([...snapshots].map(async ([address, snapshot]) => {
        const dir = dirOf.get(address);
        const scan = dir === undefined ? null : await scanDataDir(dir, startAtMs);
        snapshotSeries.add(snapshot.serverId, atS, snapshot.counters, snapshot.gauges['logBytes'], scan);
      }));
    };
    const warmupEndMs = startAtMs + options.warmupS * 1000;
    let warmupMarked = false;
    let cpuAtWarmupEnd: Promise<number | null> = Promise.resolve(null);
    const markWarmupEnd = (): void => {
      warmupMarked = true;
      sampler?.markWarmupEnd();
      cpuAtWarmupEnd = metricsOf(control, addresses, true).then(async (snapshots) => {
        await record(snapshots, true);
        return serverCpuUs(snapshots, addresses.length);
      });
    };
    let lastLineMs = 0;
    let polledMs = 0;
    let polling = false;
    liveTimer = setInterval(() => {
      const nowMs = Date.now();
      if (!warmupMarked && nowMs >= warmupEndMs) markWarmupEnd();
      if (!polling && nowMs >= startAtMs && nowMs - polledMs >= pollMs) {
        polledMs = nowMs;
        polling = true;
        void metricsOf(control, addresses, false).then((snapshots) => record(snapshots, false)).finally(() => { polling = false; });
      }
      if (options.live === 'off' || nowMs < startAtMs) return;
      const elapsedS = Math.min(totalS, (nowMs - startAtMs) / 1000);
      const last = series.second(Math.floor(elapsedS) - 1);
      const line = formatLiveLine(elapsedS, totalS, elapsedS < options.warmupS, last.writes, last.p99Ms);
      if (options.live === 'tty') process.stderr.write(`\r${line}\x1b[K`);
      else if (nowMs - lastLineMs >= 5000) {
        lastLineMs = nowMs;
        process.stderr.write(`${line}\n`);
      }
    }, 250);
    if (options.warmupS === 0) markWarmupEnd();
    const results = await Promise.all(tasks);
    await withTimeout(Promise.all(drained), 10_000);
    clearInterval(liveTimer);
    liveTimer = null;
    if (options.live === 'tty') process.stderr.write('\n');
    const finishedAtMs = Math.max(endAtMs, ...results.map((result) => result.lastDoneAtMs));
    const usage = sampler?.stop() ?? { processes: [], machine: null };
    sampler = null;
    const finalMetrics = await metricsOf(control, addresses, false);
    await record(finalMetrics, true);
    const cpuBeforeUs = await cpuAtWarmupEnd;
    const cpuAfterUs = serverCpuUs(finalMetrics, addresses.length);
    const leaderStageReport = await leaderStages(finalMetrics, leader);
    const stages = leaderStageReport?.table ?? null;

    const measuredS = Math.max(0.001, (finishedAtMs - Math.max(startAtMs, warmupEndMs)) / 1000);
    const failed = results.reduce((sum, result) => sum + result.failed, 0);
    const measuredWrites = series.measuredWrites.totalCount;
    const serverUsage = usage.processes;
    const batches = batchesOf(finalMetrics, leader.address);
    const seriesPoints = series.points();
    const result: BenchResult = {
      configuration: {
        nodes: options.peers ? options.peers.length : options.nodes, clients: options.clients,
        outstandingPerClient: options.outstanding, outstanding: options.outstanding * options.clients,
        sizeBytes: options.sizeBytes, durationS: options.durationS, warmupS: options.warmupS, readFraction: options.readFraction, keysPerClient: options.keys ?? 100_000,
        actors: options.peers ? 'as configured' : options.actors, fsync: !options.unsafeNoFsync, tls: options.tlsDir !== undefined, peers: options.peers ?? null,
        writesMax: options.writesMax, profiling: options.peers ? true : options.profiling ?? true,
        snapshotEvery: options.peers ? null : options.snapshotEvery ?? snapshotEveryDefault,
        readMode,
        logKeep: options.peers ? null : options.logKeep ?? logKeepDefault,
      },
      machine: machineInfo(),
      versions: versions(),
      startedAt: new Date(startAtMs).toISOString(),
      writesPerSecond: Math.round(measuredWrites / measuredS),
      readsPerSecond: Math.round(series.measuredReads.totalCount / measuredS),
      acknowledged: results.reduce((sum, result) => sum + result.writes, 0),
      reads: results.reduce((sum, result) => sum + result.reads, 0),
      failed,
      errors: [...new Set(results.flatMap((result) => result.errors))].slice(0, 5),
      measuredS: Math.round(measuredS * 1000) / 1000,
      latencyMs: latencyMsOf(series.measuredWrites),
      readLatencyMs: latencyMsOf(series.measuredReads),
      latencyHistogram: series.histogram(),
      leader,
      stages,
      stagesUs: leaderStageReport?.raw ?? null,
      serverCpuUsPerWrite: cpuBeforeUs === null || cpuAfterUs === null || measuredWrites === 0 ? null
        : Math.round(((cpuAfterUs - cpuBeforeUs) / measuredWrites) * 10) / 10,
      batches,
      wakeups: wakeupsOf(serverUsage, measuredWrites, batches),
      incidents: incidentsOf(finalMetrics),
      cpu: usage,
      memory: serverUsage.map((process) => ({
        id: process.id, firstMiB: process.rss.firstMiB, lastMiB: process.rss.lastMiB, maxMiB: process.rss.maxMiB,
        slopeMiBPerMinute: process.rss.slopeMiBPerMinute, flat: process.rss.flat,
      })),
      memoryParts: memory.breakdown(options.warmupS),
      snapshots: snapshotSeries.figures(seriesPoints, options.warmupS, totalS),
      verdict: verdictOf({
        stages, processes: serverUsage, machine: usage.machine, leaderId: leader.id,
        actors: options.actors, outstanding: options.outstanding * options.clients, fsync: !options.unsafeNoFsync,
      }),
      series: {
        seconds: seriesPoints,
        rssMiB: Object.fromEntries(serverUsage.map((process) => [process.id, process.rss.series])),
        memoryMiB: memory.series(),
        ...snapshotSeries.series(),
      },
    };
    if (options.jsonFile) fs.writeFileSync(options.jsonFile, JSON.stringify(result, null, 2) + '\n');
    if (options.reportFile) {
      const { renderReport } = await import('../../bench/report.js');
      fs.writeFileSync(options.reportFile, renderReport(result));
    }
    return result;
  } finally {
    if (liveTimer) clearInterval(liveTimer);
    sampler?.stop();
    await control.close();
    await pool.destroy();
    await cluster?.stopAll();
    if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
  }
}
