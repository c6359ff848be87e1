/**
 * The user's state machine, in Ratis's vocabulary and order. A state machine is a module whose
 * default export is a factory `() => StateMachine`. The server loads it twice:
 *  - on the main thread, for the leader hooks `startTransaction` and `preAppendTransaction`,
 *    which run on the request path and must not depend on applied state, and for the event hooks
 *    (`notify...`);
 *  - in the updater actor, for everything that reads or changes applied state: the apply calls,
 *    in log order, and queries.
 */
import type {
  ConfigurationChangedEvent, FollowerCaughtUpEvent, FollowerSlowEvent, LeaderChangedEvent, LeaderReadyEvent, NoLeaderEvent,
} from './events.js';

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

/** One file of a snapshot, as its manifest lists it. */
export interface SnapshotFileInfo {
  name: string;
  size: number;
  crc32c: number;
}

/**
 * The group's configuration in a snapshot: the voters, and (from raftline versions with
 * membership changes) the learners, the outgoing voters of a joint change and every member's address.
 */
export interface SnapshotConfiguration {
  voters: string[];
  learners?: string[];
  outgoing?: string[] | null;
  addresses?: Record<string, string>;
}

/** A snapshot, as its manifest describes it (Ratis SnapshotInfo). */
export interface SnapshotInfo {
  /** The last log index the snapshot covers, and that entry's term. */
  index: number;
  term: number;
  /** The group's configuration at that index. */
  configuration: SnapshotConfiguration;
  files: SnapshotFileInfo[];
}

/**
 * Given to `takeSnapshot`: the state machine adds the files its state is made of. The updater goes
 * on applying entries while the files are written (a few MiB at a time, between applies), so each
 * file's chunks must be a point-in-time copy that nothing changes afterwards.
 */
export interface SnapshotWriter {
  /** The applied index when `takeSnapshot` was called, and its term: the snapshot covers this index. */
  readonly index: number;
  readonly term: number;
  /**
   * Adds a file made of `chunks`, in order. `name`: 1-64 of [A-Za-z0-9._-], not starting with
   * `raftline` (the server's own files); each name once per snapshot.
   */
  addFile(name: string, chunks: readonly Uint8Array[]): void;
}

/** Given to `loadSnapshot`: the files of a snapshot, already checked against their CRC32C. */
export interface SnapshotReader {
  readonly index: number;
  readonly term: number;
  /** The names the state machine gave its files. */
  readonly files: readonly string[];
  /** The whole file. */
  read(name: string): Uint8Array;
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
  /**
   * Updater: writes the applied state with `writer.addFile` and returns the index it covers,
   * `writer.index` (returning nothing means the same). Called when enough entries were applied
   * since the last snapshot (`snapshotEvery`) or on demand. A state machine without this hook
   * keeps its whole log: nothing is ever purged, and a replica that lost its disk replays it all.
   */
  takeSnapshot?(writer: SnapshotWriter): number | void | Promise<number | void>;
  /**
   * Updater: loads a snapshot, replacing everything the state machine holds. Called at start with
   * the newest valid snapshot (after `initialize`), and when a snapshot from the leader was
   * installed (the follower was too far behind for the log): then on the running instance, whose
   * state the snapshot replaces whole.
   */
  loadSnapshot?(reader: SnapshotReader): void | Promise<void>;
  close?(): void | Promise<void>;

  /*
   * Events (Ratis EventApi / LeaderEventApi), the same as the server's (`server.on`, src/events.ts)
   * and in the same order, each hook before the server's listeners. They run on the main-thread
   * instance (the one that runs startTransaction), never in the updater, so they see none of the
   * applied state: they suit telling something outside (a router, a lock service, a log). They
   * run on the server's thread, which waits for their synchronous part (a returned promise is not
   * awaited): they must be quick. A hook that throws, or whose promise rejects, is logged as a
   * warning; the server goes on.
   */
  /** The known (term, leader) changed; leaderId null while an election runs. */
  notifyLeaderChanged?(event: LeaderChangedEvent): void | Promise<void>;
  /** This server leads and has applied its term's no-op: the updater's instance is current, linearizable reads are served. */
  notifyLeaderReady?(event: LeaderReadyEvent): void | Promise<void>;
  /** At start, with the configuration in force, and whenever it changes. */
  notifyConfigurationChanged?(event: ConfigurationChangedEvent): void | Promise<void>;
  /** Leader: a follower fell more than `followerSlowLagEntries` behind the commit index (once per episode). */
  notifyFollowerSlow?(event: FollowerSlowEvent): void | Promise<void>;
  /** Leader: a follower reported slow is back below half that bound. */
  notifyFollowerCaughtUp?(event: FollowerCaughtUpEvent): void | Promise<void>;
  /** No leader known here for longer than `noLeaderMsMax` (once per stretch without one). */
  notifyNoLeader?(event: NoLeaderEvent): void | Promise<void>;
}

export type StateMachineFactory = () => StateMachine;

/** The names of the built-in state machines, for `--state-machine`. */
export const builtInStateMachines = ['kv', 'counter'] as const;
export type BuiltInStateMachine = (typeof builtInStateMachines)[number];
