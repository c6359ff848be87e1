/**
 * The built-in counter state machine: one integer. A write `['add', n]` adds n (an integer,
 * 1 when the request is empty) and answers the new value; any query answers the current value.
 * Values travel msgpack-encoded through the project codec.
 */
import { decode, encode } from '../messages/codec.js';
import type { AppliedTransaction, SnapshotReader, SnapshotWriter, StateMachine, TransactionContext } from '../state-machine.js';

/** The counter's snapshot: one file holding msgpack `{ version: 1, value }`. */
const SNAPSHOT_FILE = 'counter.state';
const SNAPSHOT_VERSION = 1;

/** The amount a write adds; throws an Error that says what is wrong with a malformed write. */
export function decodeCounterWrite(bytes: Uint8Array): number {
  if (bytes.length === 0) return 1;
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    throw new Error(`counter: write does not decode as msgpack: ${(error as Error).message}`);
  }
  if (!Array.isArray(value) || value[0] !== 'add') {
    throw new Error("counter: a write must be ['add', n] or empty");
  }
  if (value.length === 1) return 1;
  const amount: unknown = value[1];
  if (value.length !== 2 || typeof amount !== 'number' || !Number.isSafeInteger(amount)) {
    throw new Error("counter: in ['add', n], n must be a safe integer");
  }
  return amount;
}

export function encodeCounterAdd(amount = 1): Uint8Array {
  return encode(['add', amount]);
}

export function decodeCounterValue(bytes: Uint8Array | null): number {
  const value = bytes === null ? null : decode(bytes);
  if (typeof value !== 'number') throw new TypeError(`counter: expected a number result, got ${typeof value}`);
  return value;
}

class CounterStateMachine implements StateMachine {
  private value = 0;

  startTransaction(transaction: TransactionContext): TransactionContext {
    decodeCounterWrite(transaction.data);
    return transaction;
  }

  applyTransaction(transaction: AppliedTransaction): Uint8Array {
    const next = this.value + decodeCounterWrite(transaction.data);
    // Refused before the state changes, so every replica refuses the same entry the same way.
    if (!Number.isSafeInteger(next)) throw new Error('counter: the sum leaves the safe integer range');
    this.value = next;
    return encode(this.value);
  }

  query(): Uint8Array {
    return encode(this.value);
  }

  queryStale(): Uint8Array {
    return encode(this.value);
  }

  takeSnapshot(writer: SnapshotWriter): number {
    writer.addFile(SNAPSHOT_FILE, [encode({ version: SNAPSHOT_VERSION, value: this.value })]);
    return writer.index;
  }

  loadSnapshot(reader: SnapshotReader): void {
    const state = decode(reader.read(SNAPSHOT_FILE)) as { version?: unknown; value?: unknown } | null;
    if (state === null || typeof state !== 'object' || state.version !== SNAPSHOT_VERSION || typeof state.value !== 'number' || !Number.isSafeInteger(state.value)) {
      throw new Error(`counter snapshot: expected { version: ${SNAPSHOT_VERSION}, value: a safe integer }`);
    }
    this.value = state.value;
  }
}

export default function createCounterStateMachine(): StateMachine {
  return new CounterStateMachine();
}
