/**
 * A load generator, run by tinypool on its own thread: one RaftClient keeps `outstanding`
 * requests in flight — writes of `sizeBytes`-byte values, and a `readFraction` of linearizable
 * reads — until the run's end time or `writesMax` writes, whichever comes first.
 *
 * Latencies are recorded here, on the generator's thread, into one HDR histogram per second of
 * the run (by completion time, on a wall clock shared with the coordinator), and each finished
 * second is posted on `port` as a `LoadSecond`; a final `{ done: true }` follows the last one.
 * So the coordinator can print a live line and build time series without receiving every latency.
 */
import type { ClientTls } from '../src/shell/tls-identity.js';
import type { MessagePort } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { RaftClient } from '../src/client/raft-client.js';
import { encodeGet, encodePut } from '../src/statemachines/kv-ops.js';
import { latencyBucketCount, latencyBucketOf, newLatencyHistogram } from './latency.js';

/**
 * How the benchmark reads: 'linearizable' (ReadIndex on the leader), 'lease' (on the leader too,
 * whose servers bench starts with the leader lease: the client reads as for 'linearizable'),
 * 'follower' (spread over the followers, each asking the leader for a read index: client readFrom
 * 'followers'), 'stale' (a follower's applied state, at least the client's own last write: spread
 * over the followers too).
 */
export const readModes = ['linearizable', 'lease', 'follower', 'stale'] as const;
export type ReadMode = (typeof readModes)[number];

export interface LoadTask {
  peers: string[];
  outstanding: number;
  sizeBytes: number;
  /** Epoch ms at which the run (warm-up included) started and ends. */
  startAtMs: number;
  endAtMs: number;
  /** Requests (writes and reads) this generator issues at most. */
  writesMax: number;
  readFraction: number;
  /** How reads are made (ReadMode). */
  readMode: ReadMode;
  keyPrefix: string;
  /** Distinct keys this generator writes (cycled through). */
  keys: number;
  requestTimeoutMs: number;
  /** TLS to the servers (PEM contents), when they serve it. */
  tls?: ClientTls;
  port: MessagePort;
}

/** One second of one generator's load. Histograms travel as HDR compressed base64. */
export interface LoadSecond {
  second: number;
  writes: number;
  reads: number;
  failed: number;
  writeHistogram: string;
  readHistogram: string;
  /** Writes per latency bucket (latency.ts), for the report's histogram. */
  writeBuckets: number[];
}

export interface LoadDone {
  done: true;
}

export interface LoadResult {
  writes: number;
  reads: number;
  failed: number;
  /** The first few distinct failure messages, for the report. */
  errors: string[];
  /** Epoch ms of the last completion (the drain of in-flight requests may pass the end time). */
  lastDoneAtMs: number;
}

const errorsKeptMax = 5;

const timeOriginMs = performance.timeOrigin;

function nowEpochMs(): number {
  return timeOriginMs + performance.now();
}

export default async function runLoad(task: LoadTask): Promise<LoadResult> {
  const client = await RaftClient.connect({
    peers: task.peers, requestTimeoutMs: task.requestTimeoutMs, readFrom: task.readMode === 'follower' ? 'followers' : 'leader',
    ...(task.tls === undefined ? {} : { tls: task.tls }),
  });
  // Stale reads go round-robin over the servers after the first (the bench puts the leader first).
  const staleServers = task.peers.length > 1 ? task.peers.slice(1) : task.peers;
  let staleNext = 0;
  const read = (data: Uint8Array): Promise<Uint8Array | null> => (task.readMode === 'stale'
    ? client.sendStaleRead(data, { server: staleServers[staleNext++ % staleServers.length]! })
    : client.sendReadOnly(data));
  const value = 'x'.repeat(task.sizeBytes);
  const writeHistogram = newLatencyHistogram();
  const readHistogram = newLatencyHistogram();
  let writeBuckets = new Array<number>(latencyBucketCount).fill(0);
  let second = 0;
  let secondWrites = 0;
  let secondReads = 0;
  let secondFailed = 0;
  let writes = 0;
  let reads = 0;
  let failed = 0;
  let issued = 0;
  // Reads are spread evenly (an accumulator, not a random draw), so a run is repeatable.
  let readCredit = 0;
  const errors = new Set<string>();
  let lastDoneAtMs = task.startAtMs;

  const flush = (): void => {
    if (secondWrites + secondReads + secondFailed === 0) return;
    const message: LoadSecond = {
      second, writes: secondWrites, reads: secondReads, failed: secondFailed,
      writeHistogram: hdr.encodeIntoCompressedBase64(writeHistogram),
      readHistogram: hdr.encodeIntoCompressedBase64(readHistogram),
      writeBuckets,
    };
    task.port.postMessage(message);
    writeHistogram.reset();
    readHistogram.reset();
    writeBuckets = new Array<number>(latencyBucketCount).fill(0);
    secondWrites = 0;
    secondReads = 0;
    secondFailed = 0;
  };
  /** Records a finished request; returns the time it finished. */
  const completed = (sentMs: number, isRead: boolean, ok: boolean): number => {
    const doneMs = nowEpochMs();
    lastDoneAtMs = doneMs;
    const at = Math.floor((doneMs - task.startAtMs) / 1000);
    if (at !== second) {
      flush();
      second = at;
    }
    if (!ok) {
      secondFailed++;
      failed++;
      return doneMs;
    }
    const latencyUs = Math.max(1, Math.round((doneMs - sentMs) * 1000));
    if (isRead) {
      readHistogram.recordValue(latencyUs);
      secondReads++;
      reads++;
    } else {
      writeHistogram.recordValue(latencyUs);
      writeBuckets[latencyBucketOf(latencyUs)]!++;
      secondWrites++;
      writes++;
    }
    return doneMs;
  };

  const lane = async (): Promise<void> => {
    // One clock read per request: the time a request finished is when the next one is sent.
    let nowMs = nowEpochMs();
    while (nowMs < task.endAtMs && issued < task.writesMax) {
      readCredit += task.readFraction;
      const isRead = readCredit >= 1 && issued > 0;
      if (isRead) readCredit -= 1;
      // Writes cycle through `keys` keys, so the servers' state stays bounded however long the run;
      // a read asks for a key written earlier.
      const key = `${task.keyPrefix}${(isRead ? Math.floor(issued / 2) : issued) % task.keys}`;
      issued++;
      const sentMs = nowMs;
      try {
        if (isRead) await read(encodeGet(key));
        else await client.send(encodePut(key, value));
        nowMs = completed(sentMs, isRead, true);
      } catch (error) {
        if (errors.size < errorsKeptMax) errors.add((error as Error).message);
        nowMs = completed(sentMs, isRead, false);
      }
    }
  };
  // Lanes start at the shared start time, so every generator's second 0 is the same second.
  const waitMs = task.startAtMs - nowEpochMs();
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  await Promise.all(Array.from({ length: task.outstanding }, lane));
  flush();
  const done: LoadDone = { done: true };
  task.port.postMessage(done);
  task.port.close();
  await client.close();
  return { writes, reads, failed, errors: [...errors], lastDoneAtMs };
}
