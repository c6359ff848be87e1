/**
 * The etcd side of the side-by-side benchmark (bench/peers/etcd.sh): drives an etcd cluster with
 * the workload `raftline bench` runs — the same clients, requests in flight per client, value
 * size, warm-up, duration and read fraction — from tinypool threads, one etcd3 client each, and
 * prints (and with --json writes) writes/s and the latency percentiles under the same names as
 * raftline's JSON.
 *
 *   node dist/bench/peers/etcd-load.js --endpoints http://127.0.0.1:2379,... [--clients 1]
 *     [--outstanding 256] [--size 128] [--duration 10] [--warmup 8] [--reads 0] [--keys 100000] [--json FILE]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import Tinypool from 'tinypool';
import { Etcd3 } from 'etcd3';
import { decodeLatencyHistogram, latencyMsOf, newLatencyHistogram } from '../latency.js';
import { machineInfo } from '../run-info.js';
import type { EtcdLoadResult, EtcdLoadTask } from './etcd-worker.js';

function positive(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number >= ${min}, got '${text}'`);
  return value;
}

/** Waits until a put succeeds: the cluster has a leader and takes writes. */
async function waitReady(endpoints: string[], timeoutMs: number): Promise<void> {
  const client = new Etcd3({ hosts: endpoints, dialTimeout: 2000 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.put('raftline-bench-ready').value('1').exec();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`etcd at ${endpoints.join(',')} not ready within ${timeoutMs} ms: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.close();
  }
}

const { values } = parseArgs({
  options: {
    endpoints: { type: 'string' }, clients: { type: 'string', default: '1' }, outstanding: { type: 'string', default: '256' },
    size: { type: 'string', default: '128' }, duration: { type: 'string', default: '10' }, warmup: { type: 'string', default: '8' },
    reads: { type: 'string', default: '0' }, keys: { type: 'string', default: '100000' }, 'requests-max': { type: 'string', default: '10000000' }, json: { type: 'string' },
  },
});
if (values.endpoints === undefined) throw new Error('--endpoints http://host:port,... is required');
const endpoints = values.endpoints.split(',');
const clients = positive('clients', values.clients, 1);
const outstanding = positive('outstanding', values.outstanding, 1);
const sizeBytes = positive('size', values.size, 1);
const durationS = positive('duration', values.duration, 1);
const warmupS = positive('warmup', values.warmup, 0);
const readFraction = positive('reads', values.reads, 0);
const keys = positive('keys', values.keys, 1);
const requestsMax = positive('requests-max', values['requests-max'], 1);

await waitReady(endpoints, 30_000);
const pool = new Tinypool({ filename: new URL('./etcd-worker.js', import.meta.url).href, minThreads: clients, maxThreads: clients });
const startAtMs = Date.now() + 500;
const warmupEndMs = startAtMs + warmupS * 1000;
const endAtMs = warmupEndMs + durationS * 1000;
let results: EtcdLoadResult[];
try {
  results = await Promise.all(Array.from({ length: clients }, (_, i) => {
    const task: EtcdLoadTask = {
      endpoints, outstanding, sizeBytes, startAtMs, warmupEndMs, endAtMs, requestsMax: Math.ceil(requestsMax / clients),
      readFraction, keyPrefix: `bench-${i}-`, keys,
    };
    return pool.run(task) as Promise<EtcdLoadResult>;
  }));
} finally {
  await pool.destroy();
}
const writes = newLatencyHistogram();
const reads = newLatencyHistogram();
for (const result of results) {
  writes.add(decodeLatencyHistogram(result.writeHistogram));
  reads.add(decodeLatencyHistogram(result.readHistogram));
}
const measuredS = (Math.max(endAtMs, ...results.map((result) => result.lastDoneAtMs)) - warmupEndMs) / 1000;
const output = {
  system: 'etcd',
  configuration: { nodes: endpoints.length, endpoints, clients, outstandingPerClient: outstanding, sizeBytes, durationS, warmupS, readFraction },
  machine: machineInfo(),
  writesPerSecond: Math.round(writes.totalCount / measuredS),
  readsPerSecond: Math.round(reads.totalCount / measuredS),
  acknowledged: writes.totalCount,
  failed: results.reduce((sum, result) => sum + result.failed, 0),
  errors: [...new Set(results.flatMap((result) => result.errors))].slice(0, 5),
  latencyMs: latencyMsOf(writes),
  readLatencyMs: latencyMsOf(reads),
};
if (values.json !== undefined) fs.writeFileSync(values.json, JSON.stringify(output, null, 2) + '\n');
const latency = output.latencyMs;
process.stdout.write(`etcd: ${output.writesPerSecond} writes/s (${output.acknowledged} acknowledged, ${output.failed} failed); ` +
  `latency ms p50 ${latency.p50} p90 ${latency.p90} p99 ${latency.p99} p99.9 ${latency.p999} max ${latency.max}\n`);
