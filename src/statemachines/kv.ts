/**
 * The built-in key-value state machine: a map from string keys to string values. Writes are
 * put, delete and cas; the read is get. The leader hook `startTransaction` refuses malformed
 * writes (and a get sent as a write) before anything is appended, so the log only ever holds
 * operations that apply cleanly. The format lives in kv-ops.ts, shared with the client facade.
 * Values are kept as UTF-8 bytes outside the JavaScript heap (value-arena.ts says why); the map
 * holds a handle per key, and a read decodes the bytes, so every read sees the string that
 * decoding the put's bytes gives.
 */
import type { AppliedTransaction, StateMachine, TransactionContext } from '../state-machine.js';
import { checkKvWrite, decodeKvOperation, decodeKvWrite, encodeKvResult, viewPut, type PutView } from './kv-ops.js';
import { ValueArena } from './value-arena.js';

class KvStateMachine implements StateMachine {
  /** Key -> handle of its value in `values`. */
  private readonly entries = new Map<string, number>();
  private readonly values = new ValueArena();
  private readonly put: PutView = { key: '', valueStart: 0, valueEnd: 0 };

  startTransaction(transaction: TransactionContext): TransactionContext {
    // Validation only: the leader hook must not read applied state (it runs on another thread).
    checkKvWrite(transaction.data);
    return transaction;
  }

  applyTransaction(transaction: AppliedTransaction): Uint8Array | null {
    const data = transaction.data;
    const put = this.put;
    if (viewPut(data, put)) {
      // The value's bytes go to the arena as they are: no string is made for them.
      const handle = this.entries.get(put.key);
      const stored = handle === undefined
        ? this.values.store(data, put.valueStart, put.valueEnd)
        : this.values.replace(handle, data, put.valueStart, put.valueEnd);
      if (stored !== handle) this.entries.set(put.key, stored);
      // No result bytes: the client reads null, and the updater's report omits the entry.
      return null;
    }
    const operation = decodeKvWrite(data);
    switch (operation[0]) {
      case 'put':
        this.setText(operation[1], operation[2]);
        return null;
      case 'delete': {
        const handle = this.entries.get(operation[1]);
        if (handle === undefined) return encodeKvResult(false);
        this.values.release(handle);
        this.entries.delete(operation[1]);
        return encodeKvResult(true);
      }
      case 'cas': {
        const [, key, expected, next] = operation;
        if (this.valueOf(key) !== expected) return encodeKvResult(false);
        this.setText(key, next);
        return encodeKvResult(true);
      }
    }
  }

  query(request: Uint8Array): Uint8Array {
    const operation = decodeKvOperation(request);
    if (operation[0] !== 'get') throw new Error(`kv: '${operation[0]}' is a write; only 'get' is a query`);
    return encodeKvResult(this.valueOf(operation[1]));
  }

  private valueOf(key: string): string | null {
    const handle = this.entries.get(key);
    return handle === undefined ? null : this.values.text(handle);
  }

  private setText(key: string, value: string): void {
    const handle = this.entries.get(key);
    if (handle !== undefined) this.values.release(handle);
    this.entries.set(key, this.values.storeText(value));
  }

  queryStale(request: Uint8Array): Uint8Array {
    return this.query(request);
  }
}

export default function createKvStateMachine(): StateMachine {
  return new KvStateMachine();
}
