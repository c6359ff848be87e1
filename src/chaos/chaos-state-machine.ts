/**
 * The state machine of the chaos workloads that need non-idempotent writes, loaded by path like a
 * user's module. Besides everything the built-in kv does (register workload), it keeps:
 *  - sets that are appended to: `['append', set, id]` pushes id even when it is there already, so
 *    a write applied twice shows as a duplicate in `['read-set', set]`;
 *  - a counter: `['incr', tag]` adds one and counts how many times each tag (the caller's own
 *    name for the call) was applied, so `['counter']` shows both the value and any tag applied
 *    twice, which is what exactly-once must prevent.
 * A snapshot is the kv's file (`kv.state`) and `chaos.state`: msgpack
 * `{ version: 1, sets: [[set, ids]], counter, applied: [[tag, times]] }`, in the maps' order.
 */
import { decode, encode } from '../messages/codec.js';
import type { AppliedTransaction, SnapshotReader, SnapshotWriter, StateMachine, TransactionContext } from '../state-machine.js';
import createKvStateMachine from '../statemachines/kv.js';

const SNAPSHOT_FILE = 'chaos.state';
const SNAPSHOT_VERSION = 1;

interface ChaosSnapshot {
  version: number;
  sets: [string, string[]][];
  counter: number;
  applied: [string, number][];
}

export type ChaosWrite = readonly ['append', string, string] | readonly ['incr', string];
export type ChaosQuery = readonly ['read-set', string] | readonly ['counter'];

export interface CounterState {
  value: number;
  /** How many times each tag was applied. */
  applied: Record<string, number>;
}

export const encodeAppend = (set: string, id: string): Uint8Array => encode(['append', set, id]);
export const encodeIncrement = (tag: string): Uint8Array => encode(['incr', tag]);
export const encodeReadSet = (set: string): Uint8Array => encode(['read-set', set]);
export const encodeReadCounter = (): Uint8Array => encode(['counter']);

export function decodeSet(bytes: Uint8Array | null): string[] {
  const value: unknown = bytes === null ? null : decode(bytes);
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new TypeError('chaos: a set reads as an array of strings');
  return value as string[];
}

export function decodeCounter(bytes: Uint8Array | null): CounterState {
  const value = (bytes === null ? null : decode(bytes)) as Partial<CounterState> | null;
  if (value === null || typeof value !== 'object' || typeof value.value !== 'number' || typeof value.applied !== 'object' || value.applied === null) {
    throw new TypeError('chaos: the counter reads as {value, applied}');
  }
  return value as CounterState;
}

/** The chaos write in `bytes`, or null when it is not one (then it is a kv operation). */
function chaosWrite(bytes: Uint8Array): ChaosWrite | null {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  if (value[0] === 'append' && value.length === 3 && typeof value[1] === 'string' && typeof value[2] === 'string') {
    return ['append', value[1], value[2]];
  }
  if (value[0] === 'incr' && value.length === 2 && typeof value[1] === 'string') return ['incr', value[1]];
  return null;
}

class ChaosStateMachine implements StateMachine {
  private readonly kv = createKvStateMachine();
  private readonly sets = new Map<string, string[]>();
  private counter = 0;
  private readonly applied = new Map<string, number>();

  startTransaction(transaction: TransactionContext): TransactionContext | void {
    if (chaosWrite(transaction.data) !== null) return transaction;
    return this.kv.startTransaction?.(transaction);
  }

  applyTransaction(transaction: AppliedTransaction): Uint8Array | null | Promise<Uint8Array | null> {
    const write = chaosWrite(transaction.data);
    if (write === null) return this.kv.applyTransaction(transaction);
    if (write[0] === 'append') {
      let set = this.sets.get(write[1]);
      if (set === undefined) this.sets.set(write[1], set = []);
      set.push(write[2]);
      return encode(set.length);
    }
    this.counter++;
    this.applied.set(write[1], (this.applied.get(write[1]) ?? 0) + 1);
    return encode(this.counter);
  }

  query(request: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    const value: unknown = decode(request);
    if (Array.isArray(value) && value[0] === 'read-set' && typeof value[1] === 'string') return encode(this.sets.get(value[1]) ?? []);
    if (Array.isArray(value) && value[0] === 'counter') return encode({ value: this.counter, applied: Object.fromEntries(this.applied) });
    return this.kv.query(request);
  }

  queryStale(request: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    return this.query(request);
  }

  takeSnapshot(writer: SnapshotWriter): number {
    this.kv.takeSnapshot(writer);
    // encode copies: the sets' arrays go on growing after this returns.
    const state: ChaosSnapshot = { version: SNAPSHOT_VERSION, sets: [...this.sets], counter: this.counter, applied: [...this.applied] };
    writer.addFile(SNAPSHOT_FILE, [encode(state)]);
    return writer.index;
  }

  loadSnapshot(reader: SnapshotReader): void {
    this.kv.loadSnapshot(reader);
    const state = decode(reader.read(SNAPSHOT_FILE)) as Partial<ChaosSnapshot> | null;
    if (state === null || typeof state !== 'object' || state.version !== SNAPSHOT_VERSION || !Array.isArray(state.sets)
      || typeof state.counter !== 'number' || !Array.isArray(state.applied)) {
      throw new Error(`chaos snapshot: expected { version: ${SNAPSHOT_VERSION}, sets, counter, applied }`);
    }
    this.sets.clear();
    for (const [set, ids] of state.sets) this.sets.set(set, ids);
    this.counter = state.counter;
    this.applied.clear();
    for (const [tag, times] of state.applied) this.applied.set(tag, times);
  }
}

export default function createChaosStateMachine(): StateMachine {
  return new ChaosStateMachine();
}
