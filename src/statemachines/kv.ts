/**
 * The built-in key-value state machine: a map from string keys to string values. Writes are
 * put, delete and cas; the read is get. The leader hook `startTransaction` refuses malformed
 * writes (and a get sent as a write) before anything is appended, so the log only ever holds
 * operations that apply cleanly. The format lives in kv-ops.ts, shared with the client facade.
 * Keys and values are kept as UTF-8 bytes outside the JavaScript heap (value-arena.ts and
 * key-index.ts say why): the index maps a key's bytes to its value's handle, and a read decodes
 * the value's bytes, so every read sees the string that decoding the put's bytes gives.
 * A snapshot is that storage copied as it lies (kv-snapshot.ts has the format).
 */
import type { AppliedTransaction, SnapshotReader, SnapshotWriter, StateMachine, TransactionContext } from '../state-machine.js';
import { KV_SNAPSHOT_FILE, readKvSnapshot, writeKvSnapshot } from './kv-snapshot.js';
import { checkKvWrite, decodeKvOperation, decodeKvWrite, encodeKvResult, viewPut, type PutView } from './kv-ops.js';
import { KeyIndex } from './key-index.js';
import { ValueArena } from './value-arena.js';

export class KvStateMachine implements StateMachine {
  /** Key (UTF-8 bytes) -> handle of its value in `values`. */
  private readonly entries = new KeyIndex();
  private readonly values = new ValueArena();
  private readonly put: PutView = { keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0 };

  startTransaction(transaction: TransactionContext): TransactionContext {
    // Validation only: the leader hook must not read applied state (it runs on another thread).
    checkKvWrite(transaction.data);
    return transaction;
  }

  applyTransaction(transaction: AppliedTransaction): Uint8Array | null {
    const data = transaction.data;
    const put = this.put;
    if (viewPut(data, put) && isAscii(data, put.keyStart, put.keyEnd)) {
      // Key and value stay bytes: the key is looked up as it arrived, the value copied to the arena.
      const handle = this.entries.get(data, put.keyStart, put.keyEnd);
      if (handle < 0) {
        this.entries.set(data, put.keyStart, put.keyEnd, this.values.store(data, put.valueStart, put.valueEnd));
      } else {
        const stored = this.values.replace(handle, data, put.valueStart, put.valueEnd);
        if (stored !== handle) this.entries.set(data, put.keyStart, put.keyEnd, stored);
      }
      // No result bytes: the client reads null, and the updater's report omits the entry.
      return null;
    }
    // Anything else, and keys beyond ASCII (whose bytes may not be the UTF-8 of the string they
    // decode to: the key is the string), go through the decoded operation.
    const operation = decodeKvWrite(data);
    switch (operation[0]) {
      case 'put':
        this.setText(operation[1], operation[2]);
        return null;
      case 'delete': {
        const key = keyBytes(operation[1]);
        const handle = this.entries.delete(key, 0, key.length);
        if (handle < 0) return encodeKvResult(false);
        this.values.release(handle);
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

  queryStale(request: Uint8Array): Uint8Array {
    return this.query(request);
  }

  /** One file, `kv.state`: a copy of the index and arenas, so applies may go on at once. */
  takeSnapshot(writer: SnapshotWriter): number {
    writer.addFile(KV_SNAPSHOT_FILE, writeKvSnapshot(this.entries, this.values));
    return writer.index;
  }

  loadSnapshot(reader: SnapshotReader): void {
    readKvSnapshot(reader.read(KV_SNAPSHOT_FILE), this.entries, this.values);
  }

  private valueOf(key: string): string | null {
    const bytes = keyBytes(key);
    const handle = this.entries.get(bytes, 0, bytes.length);
    return handle < 0 ? null : this.values.text(handle);
  }

  private setText(key: string, value: string): void {
    const bytes = keyBytes(key);
    const replaced = this.entries.set(bytes, 0, bytes.length, this.values.storeText(value));
    if (replaced >= 0) this.values.release(replaced);
  }
}

function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'utf8');
}

function isAscii(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

export default function createKvStateMachine(): KvStateMachine {
  return new KvStateMachine();
}
