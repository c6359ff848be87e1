/**
 * One etcd load generator, run by tinypool on its own thread: the same loop as raftline's
 * (bench/load-worker.ts) — `outstanding` requests in flight, `sizeBytes`-byte values, a
 * `readFraction` of linearizable reads — through one etcd3 client, bounded in count and time.
 * Latencies after the warm-up go into HDR histograms, returned encoded at the end.
 */
import * as hdr from 'hdr-histogram-js';
import { Etcd3 } from 'etcd3';
import { newLatencyHistogram } from '../latency.js';

export interface EtcdLoadTask {
  endpoints: string[];
  outstanding: number;
  sizeBytes: number;
  startAtMs: number;
  warmupEndMs: number;
  endAtMs: number;
  requestsMax: number;
  readFraction: number;
  keyPrefix: string;
  /** Distinct keys this generator writes (cycled through). */
  keys: number;
}

export interface EtcdLoadResult {
  writes: number;
  reads: number;
  failed: number;
  errors: string[];
  writeHistogram: string;
  readHistogram: string;
  lastDoneAtMs: number;
}

function nowEpochMs(): number {
  return performance.timeOrigin + performance.now();
}

export default async function runEtcdLoad(task: EtcdLoadTask): Promise<EtcdLoadResult> {
  const client = new Etcd3({ hosts: task.endpoints, dialTimeout: 10_000 });
  const value = Buffer.from('x'.repeat(task.sizeBytes));
  const writeHistogram = newLatencyHistogram();
  const readHistogram = newLatencyHistogram();
  const errors = new Set<string>();
  let writes = 0;
  let reads = 0;
  let failed = 0;
  let issued = 0;
  let readCredit = 0;
  let lastDoneAtMs = task.startAtMs;
  const lane = async (): Promise<void> => {
    while (nowEpochMs() < task.endAtMs && issued < task.requestsMax) {
      readCredit += task.readFraction;
      const isRead = readCredit >= 1 && issued > 0;
      if (isRead) readCredit -= 1;
      // Writes cycle through `keys` keys, so the servers' state stays bounded however long the run;
      // a read asks for a key written earlier.
      const key = `${task.keyPrefix}${(isRead ? Math.floor(issued / 2) : issued) % task.keys}`;
      issued++;
      const sentMs = nowEpochMs();
      try {
        if (isRead) await client.get(key).serializable(false).buffer();
        else await client.put(key).value(value).exec();
      } catch (error) {
        failed++;
        if (errors.size < 5) errors.add((error as Error).message);
        continue;
      }
      const doneMs = nowEpochMs();
      lastDoneAtMs = doneMs;
      if (doneMs < task.warmupEndMs) continue;
      const latencyUs = Math.max(1, Math.round((doneMs - sentMs) * 1000));
      if (isRead) {
        readHistogram.recordValue(latencyUs);
        reads++;
      } else {
        writeHistogram.recordValue(latencyUs);
        writes++;
      }
    }
  };
  const waitMs = task.startAtMs - nowEpochMs();
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  await Promise.all(Array.from({ length: task.outstanding }, lane));
  client.close();
  return {
    writes, reads, failed, errors: [...errors], lastDoneAtMs,
    writeHistogram: hdr.encodeIntoCompressedBase64(writeHistogram),
    readHistogram: hdr.encodeIntoCompressedBase64(readHistogram),
  };
}
