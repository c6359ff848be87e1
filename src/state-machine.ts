/**
 * The user's state machine, in Ratis's vocabulary and order. A state machine is a module whose
 * default export is a factory `() => StateMachine`. The server loads it twice:
 *  - on the main thread, for the leader hooks `startTransaction` and `preAppendTransaction`,
 *    which run on the request path and must not depend on applied state;
 *  - in the updater actor, for everything that reads or changes applied state: the apply calls,
 *    in log order, and queries.
 */

export interface StateMachineContext {
  serverId: string;
  groupId: string;
  /** A folder the state machine may use (`<dir>/<groupId>/current/sm`). */
  dir: string;
}

/** A client's write, as the leader hooks see it. */
export interface TransactionContext {
  clientId: string;
  callId: number;
  /** The client's request bytes. */
  data: Uint8Array;
  /**
   * The bytes that go into the log, when the state machine wants to log something other than the
   * request (Ratis `TransactionContext.logData`); defaults to `data`.
   */
  logData?: Uint8Array;
}

/** A committed entry, as the updater applies it. */
export interface AppliedTransaction {
  index: number;
  term: number;
  clientId: string;
  callId: number;
  /** The logged bytes. */
  data: Uint8Array;
}

export interface StateMachine {
  /** Called once in each place the module is loaded, before anything else. */
  initialize?(context: StateMachineContext): void | Promise<void>;
  /**
   * Leader, request path: validate and shape the write. Throwing replies StateMachineError to the
   * client and appends nothing.
   */
  startTransaction?(transaction: TransactionContext): TransactionContext | void;
  /** Leader, just before the entry gets its index and term. Throwing: as startTransaction. */
  preAppendTransaction?(transaction: TransactionContext): TransactionContext | void;
  /** Updater: strictly in log order, one at a time, before applyTransaction of the same entry. */
  applyTransactionSerial?(transaction: AppliedTransaction): void;
  /**
   * Updater: called in log order; may return a promise, and results may complete out of order.
   * The result bytes are the reply to the client (null for none).
   */
  applyTransaction(transaction: AppliedTransaction): Uint8Array | null | Promise<Uint8Array | null>;
  /** Linearizable read (after ReadIndex) and stale read. */
  query(request: Uint8Array): Uint8Array | null | Promise<Uint8Array | null>;
  queryStale?(request: Uint8Array): Uint8Array | null | Promise<Uint8Array | null>;
  close?(): void | Promise<void>;
}

export type StateMachineFactory = () => StateMachine;

/** The names of the built-in state machines, for `--state-machine`. */
export const builtInStateMachines = ['kv', 'counter'] as const;
export type BuiltInStateMachine = (typeof builtInStateMachines)[number];
