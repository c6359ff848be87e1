/**
 * `raftline bench`: starts a local cluster of server processes, drives it with load generators on
 * tinypool threads keeping N writes outstanding, and reports writes/s, client latency and the
 * leader's per-stage latency table (the stages of DESIGN.md), in the terminal and as JSON.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Tinypool from 'tinypool';
import { LocalCluster } from './local-cluster.js';
import { RaftClient } from '../client/raft-client.js';
import type { LoadResult, LoadTask } from '../../bench/load-worker.js';
import type { LeaderStageName, StageSnapshot } from '../metrics/types.js';

export interface BenchOptions {
  nodes: number;
  outstanding: number;
  sizeBytes: number;
  durationS: number;
  actors: 'workers' | 'inline';
  clients: number;
  basePort: number;
  jsonFile?: string;
  writesMax: number;
  /** Per-stage profiling in the servers (default on); off measures what it costs. */
  profiling?: boolean;
}

export interface BenchResult {
  nodes: number;
  actors: string;
  outstanding: number;
  sizeBytes: number;
  durationS: number;
  writesPerSecond: number;
  acknowledged: number;
  failed: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  profiling: boolean;
  /** CPU time of all server processes (all threads) per acknowledged write, over the load; null when unread. */
  serverCpuUsPerWrite: number | null;
  /** The leader's per-stage latency (µs), by stage name; null when it could not be read. */
  stagesUs: Record<LeaderStageName, StageSnapshot<LeaderStageName>> | null;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-bench-'));
  const cluster = new LocalCluster({
    nodes: options.nodes, dir, basePort: options.basePort, actors: options.actors, logFile: path.join(dir, 'servers.log'),
    profiling: options.profiling ?? true,
  });
  const pool = new Tinypool({
    filename: new URL('../../bench/load-worker.js', import.meta.url).href,
    minThreads: options.clients, maxThreads: options.clients,
  });
  try {
    cluster.startAll();
    const leader = await cluster.waitForLeader();
    const cpuClient = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 5000 });
    const serverCpuUs = async (): Promise<number | null> => {
      const all = await Promise.all(cluster.addresses.map((address) => cpuClient.metrics(address).catch(() => null)));
      return all.every((metrics) => metrics !== null) ? all.reduce((sum, metrics) => sum + metrics!.gauges['processCpuUs']!, 0) : null;
    };
    const cpuBeforeUs = await serverCpuUs();
    const clients = Math.max(1, Math.min(options.clients, options.outstanding));
    const tasks: Promise<LoadResult>[] = [];
    for (let i = 0; i < clients; i++) {
      const task: LoadTask = {
        peers: [leader.address, ...cluster.addresses.filter((address) => address !== leader.address)],
        outstanding: Math.floor(options.outstanding / clients) + (i < options.outstanding % clients ? 1 : 0),
        sizeBytes: options.sizeBytes,
        durationMs: options.durationS * 1000,
        writesMax: Math.ceil(options.writesMax / clients),
        keyPrefix: `bench-${i}-`,
      };
      tasks.push(pool.run(task) as Promise<LoadResult>);
    }
    const results = await Promise.all(tasks);
    const cpuAfterUs = await serverCpuUs();
    await cpuClient.close();
    const acknowledged = results.reduce((sum, result) => sum + result.acknowledged, 0);
    const failed = results.reduce((sum, result) => sum + result.failed, 0);
    const elapsedMs = Math.max(...results.map((result) => result.elapsedMs));
    const latencies = new Float64Array(acknowledged);
    let offset = 0;
    for (const result of results) {
      latencies.set(result.latenciesUs, offset);
      offset += result.latenciesUs.length;
    }
    latencies.sort();
    const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 5000 });
    const metrics = await client.metrics(leader.address).catch(() => null);
    await client.close();
    const result: BenchResult = {
      nodes: options.nodes, actors: options.actors, outstanding: options.outstanding, sizeBytes: options.sizeBytes,
      durationS: options.durationS, writesPerSecond: Math.round((acknowledged / elapsedMs) * 1000), acknowledged, failed,
      latencyMs: {
        p50: percentile(latencies, 50) / 1000, p90: percentile(latencies, 90) / 1000,
        p99: percentile(latencies, 99) / 1000, max: percentile(latencies, 100) / 1000,
      },
      profiling: options.profiling ?? true,
      serverCpuUsPerWrite: cpuBeforeUs === null || cpuAfterUs === null || acknowledged === 0 ? null
        : Math.round(((cpuAfterUs - cpuBeforeUs) / acknowledged) * 10) / 10,
      stagesUs: metrics === null ? null
        : Object.fromEntries(metrics.stages.map((stage) => [stage.name, stage])) as Record<LeaderStageName, StageSnapshot<LeaderStageName>>,
    };
    if (options.jsonFile) fs.writeFileSync(options.jsonFile, JSON.stringify(result, null, 2) + '\n');
    return result;
  } finally {
    await pool.destroy();
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatBench(result: BenchResult): string {
  const round = (value: number): string => value.toFixed(value < 10 ? 2 : 1);
  const lines = [
    `raftline bench: ${result.nodes} nodes, actors=${result.actors}, ${result.outstanding} outstanding, ${result.sizeBytes}-byte values, ${result.durationS} s, profiling ${result.profiling ? 'on' : 'off'}`,
    `  writes/s     ${result.writesPerSecond}   (${result.acknowledged} acknowledged, ${result.failed} failed)`,
    `  server CPU   ${result.serverCpuUsPerWrite ?? '?'} µs per write (all threads of all servers)`,
    `  latency ms   p50 ${round(result.latencyMs.p50)}   p90 ${round(result.latencyMs.p90)}   p99 ${round(result.latencyMs.p99)}   max ${round(result.latencyMs.max)}`,
  ];
  if (result.stagesUs && result.profiling) {
    lines.push('', '  leader stage latency (ms)       p50      p99   queue p50  service p50');
    const ms = (us: number | undefined): string => (us === undefined ? '' : (us / 1000).toFixed(3)).padStart(9);
    for (const stage of Object.values(result.stagesUs)) {
      lines.push(`  ${stage.name.padEnd(26)}${ms(stage.p50Us)}${ms(stage.p99Us)}   ${ms(stage.queue?.p50Us)}  ${ms(stage.service?.p50Us)}`);
    }
  }
  return lines.join('\n');
}
