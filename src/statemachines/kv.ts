/**
 * The built-in key-value state machine: a map from string keys to string values. Writes are
 * put, delete and cas; the read is get. The leader hook `startTransaction` refuses malformed
 * writes (and a get sent as a write) before anything is appended, so the log only ever holds
 * operations that apply cleanly. The format lives in kv-ops.ts, shared with the client facade.
 */
import type { AppliedTransaction, StateMachine, TransactionContext } from '../state-machine.js';
import { checkKvWrite, decodeKvOperation, decodeKvWrite, encodeKvResult } from './kv-ops.js';

class KvStateMachine implements StateMachine {
  private readonly entries = new Map<string, string>();

  startTransaction(transaction: TransactionContext): TransactionContext {
    // Validation only: the leader hook must not read applied state (it runs on another thread).
    checkKvWrite(transaction.data);
    return transaction;
  }

  applyTransaction(transaction: AppliedTransaction): Uint8Array | null {
    const operation = decodeKvWrite(transaction.data);
    switch (operation[0]) {
      case 'put':
        this.entries.set(operation[1], operation[2]);
        // No result bytes: the client reads null, and the updater's report omits the entry.
        return null;
      case 'delete':
        return encodeKvResult(this.entries.delete(operation[1]));
      case 'cas': {
        const [, key, expected, next] = operation;
        const current = this.entries.get(key) ?? null;
        if (current !== expected) return encodeKvResult(false);
        this.entries.set(key, next);
        return encodeKvResult(true);
      }
    }
  }

  query(request: Uint8Array): Uint8Array {
    const operation = decodeKvOperation(request);
    if (operation[0] !== 'get') throw new Error(`kv: '${operation[0]}' is a write; only 'get' is a query`);
    return encodeKvResult(this.entries.get(operation[1]) ?? null);
  }

  queryStale(request: Uint8Array): Uint8Array {
    return this.query(request);
  }
}

export default function createKvStateMachine(): StateMachine {
  return new KvStateMachine();
}
