/**
 * A test state machine whose applyTransaction returns promises that settle in reverse order (the
 * later the entry, the sooner it settles). Query returns the order of the serial and apply calls.
 */
import { decode, encode } from '../../src/messages/codec.js';
import type { AppliedTransaction, StateMachine } from '../../src/state-machine.js';

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
  };
}
