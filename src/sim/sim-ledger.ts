/**
 * The state machine the simulator runs: a ledger of unique string values, applied in log order.
 * Every apply is reported to the simulation's checkers (which value, at which log index, at which
 * ledger position), so a write applied twice, lost, or applied differently on two nodes is seen
 * at once. The linearizable read returns the ledger's length: a read that began after a write was
 * acknowledged must count that write.
 */
import { decode, encode } from '../messages/codec.js';
import type { AppliedTransaction, StateMachine, TransactionContext } from '../state-machine.js';

export type ApplyObserver = (index: number, value: string, position: number) => void;

export class SimLedger implements StateMachine {
  readonly values: string[] = [];
  lastAppliedIndex = 0;

  constructor(private readonly observer: ApplyObserver | null) {}

  startTransaction(transaction: TransactionContext): TransactionContext {
    if (typeof decode(transaction.data) !== 'string') throw new Error('ledger writes are strings');
    return transaction;
  }

  applyTransaction(transaction: AppliedTransaction): Uint8Array {
    const value = decode(transaction.data) as string;
    this.values.push(value);
    this.lastAppliedIndex = transaction.index;
    this.observer?.(transaction.index, value, this.values.length);
    return encode(this.values.length);
  }

  query(): Uint8Array {
    return encode(this.values.length);
  }
}
