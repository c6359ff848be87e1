/**
 * A load generator, run by tinypool on its own thread: one RaftClient keeps `outstanding` writes
 * in flight with values of `sizeBytes` for `durationMs`, bounded in count and time, and returns
 * how many were acknowledged and each one's latency in microseconds.
 */
import { RaftClient } from '../src/client/raft-client.js';
import { encodePut } from '../src/statemachines/kv-ops.js';

export interface LoadTask {
  peers: string[];
  outstanding: number;
  sizeBytes: number;
  durationMs: number;
  writesMax: number;
  keyPrefix: string;
}

export interface LoadResult {
  acknowledged: number;
  failed: number;
  elapsedMs: number;
  latenciesUs: Float64Array;
}

export default async function runLoad(task: LoadTask): Promise<LoadResult> {
  const client = await RaftClient.connect({ peers: task.peers, requestTimeoutMs: 30000 });
  const value = 'x'.repeat(task.sizeBytes);
  const latencies: number[] = [];
  let issued = 0;
  let failed = 0;
  const startMs = performance.now();
  const endMs = startMs + task.durationMs;
  const lane = async (): Promise<void> => {
    while (performance.now() < endMs && issued < task.writesMax) {
      const key = `${task.keyPrefix}${issued++}`;
      const sentMs = performance.now();
      try {
        await client.send(encodePut(key, value));
        latencies.push((performance.now() - sentMs) * 1000);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: task.outstanding }, lane));
  const elapsedMs = performance.now() - startMs;
  await client.close();
  return { acknowledged: latencies.length, failed, elapsedMs, latenciesUs: Float64Array.from(latencies) };
}
