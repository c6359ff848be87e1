/**
 * The key-value facade over a RaftClient, for the built-in kv state machine: typed calls in,
 * the operation format of statemachines/kv-ops.ts on the wire. Reads are linearizable (they go
 * through the leader's ReadIndex), so a get sees every put that completed before it began.
 */
import type { RaftClient } from './raft-client.js';
import {
  decodeBooleanResult, decodeStringOrNullResult, encodeCas, encodeDelete, encodeGet, encodePut,
} from '../statemachines/kv-ops.js';

export interface KvClient {
  put(key: string, value: string): Promise<void>;
  /** The value, or null when the key is absent. */
  get(key: string): Promise<string | null>;
  /** Whether the key existed. */
  delete(key: string): Promise<boolean>;
  /** Sets `next` when the current value is `expected` (null: the key is absent); whether it did. */
  cas(key: string, expected: string | null, next: string): Promise<boolean>;
}

export function kv(client: RaftClient): KvClient {
  return {
    async put(key, value) {
      await client.send(encodePut(key, value));
    },
    async get(key) {
      return decodeStringOrNullResult(await client.sendReadOnly(encodeGet(key)));
    },
    async delete(key) {
      return decodeBooleanResult(await client.send(encodeDelete(key)));
    },
    async cas(key, expected, next) {
      return decodeBooleanResult(await client.send(encodeCas(key, expected, next)));
    },
  };
}
