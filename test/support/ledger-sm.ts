/**
 * A test state machine that records every applied write, in order: its query returns the whole
 * ledger, so a test can check that each acknowledged write is on every replica exactly once and
 * that the replicas are identical. Loaded by path, as a user's state machine is. Its snapshot is
 * the whole ledger (`ledger.state`, msgpack), so a replica restored from one still answers every
 * write ever applied.
 */
import { decode, encode } from '../../src/messages/codec.js';
import type { AppliedTransaction, SnapshotReader, SnapshotWriter, StateMachine } from '../../src/state-machine.js';

export default function createLedger(): StateMachine {
  const ledger: string[] = [];
  return {
    startTransaction(transaction) {
      if (typeof decode(transaction.data) !== 'string') throw new Error('ledger writes are strings');
      return transaction;
    },
    applyTransaction(transaction: AppliedTransaction) {
      ledger.push(decode(transaction.data) as string);
      return encode(ledger.length);
    },
    query() {
      return encode(ledger);
    },
    takeSnapshot(writer: SnapshotWriter) {
      writer.addFile('ledger.state', [encode(ledger)]);
    },
    loadSnapshot(reader: SnapshotReader) {
      const values = decode(reader.read('ledger.state'));
      if (!Array.isArray(values) || !values.every((value) => typeof value === 'string')) throw new Error('ledger snapshot: expected strings');
      ledger.length = 0;
      for (const value of values as string[]) ledger.push(value);
    },
  };
}
