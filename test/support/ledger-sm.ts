/**
 * A test state machine that records every applied write, in order: its query returns the whole
 * ledger, so a test can check that each acknowledged write is on every replica exactly once and
 * that the replicas are identical. Loaded by path, as a user's state machine is.
 */
import { decode, encode } from '../../src/messages/codec.js';
import type { AppliedTransaction, StateMachine } from '../../src/state-machine.js';

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
  };
}
