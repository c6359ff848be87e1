/**
 * The state machine the simulator runs: a ledger of unique string values, applied in log order.
 * Every apply is reported to the simulation's checkers (which value, at which log index, at which
 * ledger position), so a write applied twice, lost, or applied differently on two nodes is seen
 * at once. The linearizable read returns the ledger's length: a read that began after a write was
 * acknowledged must count that write.
 *
 * A snapshot carries the whole ledger, not only its length: the checkers read `values` (every
 * acknowledged write once in every live node's ledger at the end, the nodes' ledgers equal), and
 * the positions later applies report continue from it. Loading reports nothing to the observer:
 * the entries it restores were reported where they were applied, and a node restarted from a
 * snapshot applies (and reports) only the entries after it. What a load restored is reported to
 * its own observer instead (the checkers compare it with what the cluster committed).
 */
import { decode, encode } from '../messages/codec.js';
import type { AppliedTransaction, SnapshotReader, SnapshotWriter, StateMachine, TransactionContext } from '../state-machine.js';

const SNAPSHOT_FILE = 'ledger.state';
const SNAPSHOT_VERSION = 1;

export type ApplyObserver = (index: number, value: string, position: number) => void;
/** A snapshot through `index` was loaded: the ledger now holds `values`. */
export type LoadObserver = (index: number, values: readonly string[]) => void;

export class SimLedger implements StateMachine {
  readonly values: string[] = [];
  lastAppliedIndex = 0;

  constructor(private readonly observer: ApplyObserver | null, private readonly loadObserver: LoadObserver | null = null) {}

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

  /** One file: msgpack `{ version: 1, values, lastAppliedIndex }` (a copy: applies go on). */
  takeSnapshot(writer: SnapshotWriter): number {
    writer.addFile(SNAPSHOT_FILE, [encode({ version: SNAPSHOT_VERSION, values: this.values, lastAppliedIndex: this.lastAppliedIndex })]);
    return writer.index;
  }

  /**
   * Replaces the ledger with the snapshot's. Not only on a fresh instance: the simulated node
   * hands its updater the same ledger object at every load of one life (sim-node.ts), so what it
   * held before is dropped here.
   */
  loadSnapshot(reader: SnapshotReader): void {
    const state = decode(reader.read(SNAPSHOT_FILE)) as { version?: unknown; values?: unknown; lastAppliedIndex?: unknown } | null;
    if (state === null || typeof state !== 'object' || state.version !== SNAPSHOT_VERSION || !Array.isArray(state.values)
      || !state.values.every((value) => typeof value === 'string') || typeof state.lastAppliedIndex !== 'number') {
      throw new Error(`sim ledger snapshot: expected { version: ${SNAPSHOT_VERSION}, values: strings, lastAppliedIndex }`);
    }
    this.values.length = 0;
    for (const value of state.values as string[]) this.values.push(value);
    this.lastAppliedIndex = state.lastAppliedIndex;
    this.loadObserver?.(reader.index, this.values);
  }
}
