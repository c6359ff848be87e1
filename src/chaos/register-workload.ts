/**
 * The register workload: concurrent clients put, get and cas string values on a rolling set of
 * keys, through the kv facade of a real RaftClient talking to the servers directly; every value
 * written is unique. Each operation goes into the history (history.ts) as an invoke and its
 * completion: `ok` with its result, `fail` when it definitely did not take effect (a read that did
 * not answer changes nothing; a write refused before it was appended), `info` otherwise, after
 * which the client continues under a fresh process id. Keys retire after a number of operations,
 * so each key's history, which the checker searches on its own, stays small.
 */
import type { ClientTls } from '../shell/tls-identity.js';
import { RaftClient } from '../client/raft-client.js';
import { kv, type KvClient } from '../client/kv.js';
import { decodeStringOrNullResult, encodeGet } from '../statemachines/kv-ops.js';
import type { SeededRng } from '../core/rng.js';
import type { HistoryEvent, HistoryWriter } from '../check/history.js';

export const registerReadModes = ['mixed', 'linearizable', 'stale'] as const;
export type RegisterReads = (typeof registerReadModes)[number];

export interface RegisterWorkloadOptions {
  addresses: string[];
  clients: number;
  /** Keys in use at once, and operations invoked on one key before it retires. */
  keysLive: number;
  operationsPerKeyMax: number;
  requestTimeoutMs: number;
  /** Absolute time (Date.now()) at which the clients stop invoking. */
  stopAtMs: number;
  rng: SeededRng;
  history: HistoryWriter;
  /**
   * 'mixed' (the default): half the gets are ReadIndex reads on the leader, half follower reads
   * served by a random server (which asks the leader for a read index): both linearizable.
   * 'linearizable': every get on the leader. 'stale': gets are served by a random server from its
   * applied state, which is not linearizable; the checker must find it out (the negative control
   * of the chaos tests).
   */
  reads?: RegisterReads;
  /** Called when a write completes ok (for the recovery figures): when it was invoked, when it completed. */
  onWriteOk(invokedMs: number, completedMs: number): void;
  /** The clients' TLS (a TLS cluster). */
  tls?: ClientTls;
}

export interface RegisterWorkloadResult {
  invoked: number;
  /** Gets invoked as follower reads (reads 'mixed'). */
  followerReads: number;
  ok: number;
  failed: number;
  unknown: number;
}

/** Codes that mean a write was refused before it was appended: it did not take effect. */
const refusedBeforeAppend = new Set(['ENTRY_TOO_LARGE', 'GROUP_MISMATCH', 'STATE_MACHINE_ERROR']);

export async function runRegisterWorkload(options: RegisterWorkloadOptions): Promise<RegisterWorkloadResult> {
  const { rng, history } = options;
  const result: RegisterWorkloadResult = { invoked: 0, followerReads: 0, ok: 0, failed: 0, unknown: 0 };
  let nextProcess = 0;
  let nextKey = 0;
  let nextValue = 0;
  // A key also retires after a few unknown writes: each one may take effect at any later point,
  // and the checker's search grows with their number.
  const unknownPerKeyMax = 8;
  const slots = Array.from({ length: options.keysLive }, () => ({ key: `r${nextKey++}`, invoked: 0, unknown: 0 }));
  /** The last value each key was seen to hold, so that some cas operations can succeed. */
  const lastSeen = new Map<string, string | null>();

  const record = (process: number, type: HistoryEvent['type'], f: HistoryEvent['f'], key: string, value: unknown): void => {
    history.write({ process, type, f, key, value });
  };

  const worker = async (client: RaftClient, store: KvClient): Promise<void> => {
    const get = async (key: string): Promise<string | null> => {
      const reads = options.reads ?? 'mixed';
      if (reads === 'linearizable' || (reads === 'mixed' && rng.nextFloat() < 0.5)) return store.get(key);
      const server = options.addresses[rng.intBetween(0, options.addresses.length - 1)]!;
      if (reads === 'mixed') {
        result.followerReads++;
        return decodeStringOrNullResult(await client.sendReadOnly(encodeGet(key), { server }));
      }
      return decodeStringOrNullResult(await client.sendStaleRead(encodeGet(key), server));
    };
    let process = nextProcess++;
    while (Date.now() < options.stopAtMs) {
      const slot = slots[rng.intBetween(0, slots.length - 1)]!;
      if (slot.invoked >= options.operationsPerKeyMax || slot.unknown >= unknownPerKeyMax) {
        slot.key = `r${nextKey++}`;
        slot.invoked = 0;
        slot.unknown = 0;
      }
      slot.invoked++;
      const key = slot.key;
      const roll = rng.nextFloat();
      const f: HistoryEvent['f'] = roll < 0.45 ? 'get' : roll < 0.75 ? 'put' : 'cas';
      const value = `v${nextValue++}`;
      const expected = rng.nextFloat() < 0.8 ? (lastSeen.get(key) ?? null) : `v${rng.intBetween(0, Math.max(0, nextValue - 1))}`;
      const input = f === 'put' ? value : f === 'cas' ? [expected, value] : null;
      record(process, 'invoke', f, key, input);
      const invokedMs = Date.now();
      result.invoked++;
      try {
        if (f === 'get') {
          const read = await get(key);
          lastSeen.set(key, read);
          record(process, 'ok', f, key, read);
        } else if (f === 'put') {
          await store.put(key, value);
          lastSeen.set(key, value);
          options.onWriteOk(invokedMs, Date.now());
          record(process, 'ok', f, key, value);
        } else {
          const swapped = await store.cas(key, expected, value);
          if (swapped) lastSeen.set(key, value);
          options.onWriteOk(invokedMs, Date.now());
          record(process, 'ok', f, key, swapped);
        }
        result.ok++;
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        if (f === 'get' || refusedBeforeAppend.has(code)) {
          record(process, 'fail', f, key, input);
          result.failed++;
        } else {
          record(process, 'info', f, key, input);
          result.unknown++;
          if (slot.key === key) slot.unknown++;
          process = nextProcess++;
        }
      }
    }
  };

  const clients = await Promise.all(Array.from({ length: options.clients }, () => RaftClient.connect({
    peers: options.addresses, requestTimeoutMs: options.requestTimeoutMs, retry: { delayMsMin: 10, delayMsMax: 200 },
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  })));
  try {
    await Promise.all(clients.map((client) => worker(client, kv(client))));
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
  return result;
}
