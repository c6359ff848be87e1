/**
 * A test state machine whose applyTransaction returns promises that settle in reverse order (the
 * later the entry, the sooner it settles). Query returns the order of the serial and apply calls.
 * Its snapshot (`calls.state`) carries both lists, so the order stays checkable across a restart
 * from one; the updater takes it only once every apply before it has settled.
 */
import { decode, encode } from '../../src/messages/codec.js';
import type { AppliedTransaction, SnapshotReader, SnapshotWriter, StateMachine } from '../../src/state-machine.js';

export default function createAsyncRecorder(): StateMachine {
  const serialCalls: number[] = [];
  const applyCalls: number[] = [];
  return {
    applyTransactionSerial(transaction: AppliedTransaction) {
      serialCalls.push(transaction.index);
    },
    applyTransaction(transaction: AppliedTransaction) {
      applyCalls.push(transaction.index);
      const delayMs = Math.max(1, 60 - transaction.index * 5);
      const value = decode(transaction.data) as string;
      return new Promise((resolve) => setTimeout(() => resolve(encode(`applied ${value}`)), delayMs));
    },
    query() {
      return encode({ serialCalls, applyCalls });
    },
    takeSnapshot(writer: SnapshotWriter) {
      writer.addFile('calls.state', [encode({ serialCalls, applyCalls })]);
    },
    loadSnapshot(reader: SnapshotReader) {
      const state = decode(reader.read('calls.state')) as { serialCalls?: unknown; applyCalls?: unknown } | null;
      const isIndexes = (value: unknown): value is number[] => Array.isArray(value) && value.every((item) => typeof item === 'number');
      if (state === null || typeof state !== 'object' || !isIndexes(state.serialCalls) || !isIndexes(state.applyCalls)) {
        throw new Error('async recorder snapshot: expected { serialCalls, applyCalls }');
      }
      serialCalls.length = 0;
      serialCalls.push(...state.serialCalls);
      applyCalls.length = 0;
      applyCalls.push(...state.applyCalls);
    },
  };
}
