/**
 * A linearizability checker for register histories (put / get / cas on string keys): the
 * Wing–Gong search with Lowe's memoization ("Testing for linearizability", 2017), as Porcupine and
 * Knossos run it. Keys are independent registers, so each key's sub-history is checked on its own
 * (linearizability is compositional), which keeps every search small.
 *
 * The search walks a list of call and return events in real-time order. At a call it tries to
 * linearize that operation now (the register model must accept its result); the pair (set of
 * operations linearized, register value) is cached, so a configuration reached once is never
 * explored again. At the return of an operation not yet linearized it backtracks. Operations whose
 * outcome is unknown (`info`) have their return after the end of the history and need not be
 * linearized at all: they may or may not have taken effect. A failed read (`fail` or `info` on a
 * get) imposes nothing and is left out; so is every `fail`.
 *
 * A search that passes its step budget ends `undecided`, which callers must count as a failure
 * (a history nobody checked is not a passing history).
 */
import type { HistoryEvent, RegisterFunction } from './history.js';

export type Verdict = 'linearizable' | 'violation' | 'undecided';

export interface Operation {
  /** Position among the key's operations; also its bit in the linearized set. */
  id: number;
  process: number;
  f: RegisterFunction;
  key: string;
  /** put: the value; cas: [expected, next]; get: null. */
  input: unknown;
  /** get: the value read; cas: true or false; put: null. Undefined while unknown (info). */
  output: unknown;
  /** Event positions in the whole history; `returnAt` is Infinity for an unknown outcome. */
  callAt: number;
  returnAt: number;
}

export interface KeyResult {
  key: string;
  verdict: Verdict;
  operations: number;
  /** Search steps taken (calls tried and backtracks). */
  steps: number;
  /** For a violation: the operations whose return no linearization could reach, as text. */
  explanation?: string;
}

export interface CheckResult {
  verdict: Verdict;
  /** Completed and unknown operations checked (failed ones and unknown reads excluded). */
  operations: number;
  keys: KeyResult[];
}

export interface CheckOptions {
  /** Search steps per key before it is declared undecided. */
  stepsMaxPerKey?: number;
}

type Register = string | null;

/**
 * Pairs each process's invoke with its completion and keeps what constrains the register:
 * throws an Error on a malformed history (a completion without an invoke, a second invoke by a
 * process whose operation is still open, a completion that does not match its invoke).
 */
export function operationsOf(events: readonly HistoryEvent[]): Operation[] {
  const open = new Map<number, { event: HistoryEvent; at: number }>();
  const closed = new Set<number>();
  const operations: Operation[] = [];
  const keep = (invoke: HistoryEvent, callAt: number, output: unknown, returnAt: number): void => {
    operations.push({ id: operations.length, process: invoke.process, f: invoke.f, key: invoke.key, input: invoke.value, output, callAt, returnAt });
  };
  for (const [at, event] of events.entries()) {
    if (event.type === 'invoke') {
      if (open.has(event.process)) throw new Error(`event ${at}: process ${event.process} invoked while its previous operation is open`);
      if (closed.has(event.process)) throw new Error(`event ${at}: process ${event.process} invoked after an info (it must use a fresh process id)`);
      open.set(event.process, { event, at });
      continue;
    }
    const started = open.get(event.process);
    if (started === undefined) throw new Error(`event ${at}: ${event.type} of process ${event.process} without an invoke`);
    if (started.event.f !== event.f || started.event.key !== event.key) {
      throw new Error(`event ${at}: ${event.type} ${event.f} ${event.key} does not match the invoke ${started.event.f} ${started.event.key}`);
    }
    open.delete(event.process);
    if (event.type === 'fail') continue;
    if (event.type === 'info') {
      closed.add(event.process);
      if (event.f !== 'get') keep(started.event, started.at, undefined, Infinity);
      continue;
    }
    if (event.f === 'cas' && typeof event.value !== 'boolean') throw new Error(`event ${at}: a cas ok must carry true or false`);
    if (event.f === 'get' && event.value !== null && typeof event.value !== 'string') throw new Error(`event ${at}: a get ok must carry a string or null`);
    keep(started.event, started.at, event.f === 'put' ? null : event.value, at);
  }
  // An operation still open when the history ends is unknown, like an info.
  for (const { event, at } of open.values()) {
    if (event.f !== 'get') keep(event, at, undefined, Infinity);
  }
  return operations;
}

/** The register model: whether `operation` may take effect on `state`, and the state after it. */
function step(state: Register, operation: Operation): Register | undefined {
  switch (operation.f) {
    case 'put':
      return operation.input as string;
    case 'get':
      return operation.output === state ? state : undefined;
    case 'cas': {
      const [expected, next] = operation.input as [Register, string];
      // An unknown cas is linearized only as taking effect: failing, it changes nothing, which
      // is the same as not linearizing it at all.
      if (operation.output === undefined || operation.output === true) return state === expected ? next : undefined;
      return state !== expected ? state : undefined;
    }
  }
}

interface Node {
  operation: Operation;
  isCall: boolean;
  /** For a call, its return node. */
  match: Node | null;
  prev: Node | null;
  next: Node | null;
}

function describe(operation: Operation): string {
  const output = operation.output === undefined ? '?' : JSON.stringify(operation.output);
  return `process ${operation.process} ${operation.f}(${JSON.stringify(operation.input)}) -> ${output}`;
}

/** Checks one key's operations, all on the same register, starting absent (null). */
export function checkKey(key: string, operations: readonly Operation[], stepsMax = 2_000_000): KeyResult {
  const ops = operations.map((operation, id) => ({ ...operation, id }));
  const events: { time: number; order: number; node: Node }[] = [];
  for (const operation of ops) {
    const call: Node = { operation, isCall: true, match: null, prev: null, next: null };
    const ret: Node = { operation, isCall: false, match: null, prev: null, next: null };
    call.match = ret;
    events.push({ time: operation.callAt, order: 0, node: call });
    // Unknown returns go after every known event, in call order, so the list stays well formed.
    events.push({ time: operation.returnAt === Infinity ? Number.MAX_SAFE_INTEGER : operation.returnAt, order: operation.callAt, node: ret });
  }
  events.sort((a, b) => a.time - b.time || a.order - b.order);
  const head: Node = { operation: ops[0]!, isCall: false, match: null, prev: null, next: null };
  let last = head;
  for (const { node } of events) {
    last.next = node;
    node.prev = last;
    last = node;
  }
  const lift = (call: Node): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  const known = ops.filter((operation) => operation.returnAt !== Infinity).length;
  const words = new Uint32Array(Math.ceil(ops.length / 32) || 1);
  const cache = new Set<string>();
  const stack: { call: Node; state: Register }[] = [];
  let state: Register = null;
  let linearizedKnown = 0;
  let steps = 0;
  let deepest = -1;
  let blockedAt: Operation | null = null;
  let entry = head.next;
  while (linearizedKnown < known) {
    if (++steps > stepsMax) return { key, verdict: 'undecided', operations: ops.length, steps };
    if (entry === null || (!entry.isCall && entry.operation.returnAt === Infinity)) {
      // Only unknown operations remain before this point; every known one was linearized.
      break;
    }
    if (entry.isCall) {
      const operation = entry.operation;
      const next = step(state, operation);
      if (next !== undefined) {
        words[operation.id >>> 5]! |= 1 << (operation.id & 31);
        const signature = `${words.join(',')}|${next === null ? '' : 's' + next}`;
        if (!cache.has(signature)) {
          cache.add(signature);
          stack.push({ call: entry, state });
          state = next;
          if (operation.returnAt !== Infinity) linearizedKnown++;
          lift(entry);
          entry = head.next;
          continue;
        }
        words[operation.id >>> 5]! &= ~(1 << (operation.id & 31));
      }
      entry = entry.next;
      continue;
    }
    // The return of an operation not yet linearized: this path cannot work; undo the last choice.
    if (linearizedKnown > deepest) {
      deepest = linearizedKnown;
      blockedAt = entry.operation;
    }
    const top = stack.pop();
    if (top === undefined) {
      const blocked = blockedAt ?? entry.operation;
      return {
        key, verdict: 'violation', operations: ops.length, steps,
        explanation: `no linearization of key ${JSON.stringify(key)} reaches the return of ${describe(blocked)} ` +
          `(at most ${Math.max(deepest, 0)} of ${known} completed operations linearized before it)`,
      };
    }
    const operation = top.call.operation;
    words[operation.id >>> 5]! &= ~(1 << (operation.id & 31));
    if (operation.returnAt !== Infinity) linearizedKnown--;
    state = top.state;
    unlift(top.call);
    entry = top.call.next;
  }
  return { key, verdict: 'linearizable', operations: ops.length, steps };
}

/** Checks a whole history, key by key. Violations and undecided keys come first in `keys`. */
export function checkHistory(events: readonly HistoryEvent[], options: CheckOptions = {}): CheckResult {
  const operations = operationsOf(events);
  const byKey = new Map<string, Operation[]>();
  for (const operation of operations) {
    let list = byKey.get(operation.key);
    if (list === undefined) byKey.set(operation.key, list = []);
    list.push(operation);
  }
  const keys = [...byKey].map(([key, list]) => checkKey(key, list, options.stepsMaxPerKey));
  const rank = { violation: 0, undecided: 1, linearizable: 2 } as const;
  keys.sort((a, b) => rank[a.verdict] - rank[b.verdict]);
  const verdict: Verdict = keys.some((result) => result.verdict === 'violation') ? 'violation'
    : keys.some((result) => result.verdict === 'undecided') ? 'undecided' : 'linearizable';
  return { verdict, operations: operations.length, keys };
}
