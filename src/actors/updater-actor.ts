/**
 * The state machine updater actor (Ratis `StateMachineUpdater`): holds the durable entries the
 * log actor hands over, and applies them once committed, strictly in log order:
 * `applyTransactionSerial`, then `applyTransaction` (which may return a promise: calls are made in
 * order, results may complete out of order). It also answers queries.
 *
 * Exactly-once: every replica applies the same log, so deduplication by (session, callId) is done
 * here, deterministically, at apply time. An entry whose call was already applied (a client
 * retried a write after a leader change) is not applied again; it gets the first result. Results
 * below a client's `firstUnacked` are forgotten, which bounds the table per session. Sessions are
 * opened, ended and forgotten when idle by entries of the log (session-table.ts), which bounds the
 * tables in number: a write of a session not held is answered SESSION_EXPIRED and not applied.
 */
import { Kind } from '../messages/kinds.js';
import type {
  UpdaterAppliedMessage, UpdaterCommitMessage, UpdaterInput, UpdaterLogInput, UpdaterQueryMessage,
  UpdaterQueryResultMessage,
} from '../messages/messages.js';
import { decodeClockData, EntryDecoder, EntryType, type EntryBody } from '../messages/entry.js';
import { EntryRun } from '../messages/packed-entries.js';
import type { ActorLink } from '../shell/actor-link.js';
import type { ActorControl } from '../shell/control.js';
import type { StateMachine, StateMachineContext } from '../state-machine.js';
import { loadStateMachine } from '../statemachines/load.js';
import { assert, errorToWire, SessionExpiredError, StateMachineError, type WireError } from '../errors.js';
import { nowUs } from '../metrics/clock.js';
import { nodeTimers, type Timers } from '../shell/timers.js';
import { encode } from '../messages/codec.js';
import { defaultLimits } from '../limits.js';
import { SessionTable } from './session-table.js';

export interface UpdaterActorOptions {
  stateMachine: string;
  context: StateMachineContext;
  /** Stamp each apply loop for per-stage latency (reported in UpdaterApplied). */
  profiling?: boolean;
  /**
   * This server's session bound (Limits.sessionIdleMsMax), told to a client with its session so
   * that it renews an idle one in time. Only the bound a clock entry carries forgets sessions.
   */
  sessionIdleMsMax?: number;
}

/** The actor's shell: Node's timers and module loader, or the simulator's clock and machines. */
export interface UpdaterActorEnvironment {
  timers: Timers;
  loadStateMachine(spec: string): Promise<StateMachine>;
  /** The session table (the simulator's tests give deliberately broken ones). */
  sessionTable?(): SessionTable<unknown>;
}

const nodeEnvironment: UpdaterActorEnvironment = { timers: nodeTimers, loadStateMachine };

export interface UpdaterStatus {
  appliedIndex: number;
  commitIndex: number;
  bufferedEntries: number;
  sessions: number;
}

export interface UpdaterActorLinks {
  main: ActorLink<UpdaterInput, UpdaterAppliedMessage | UpdaterQueryResultMessage>;
  log: ActorLink<UpdaterLogInput, never>;
  /** A leader's commit indexes, decided by the appender (Ratis: the log appender updates the commit and wakes the updater). */
  appender?: ActorLink<UpdaterCommitMessage, never>;
}

interface CallOutcome {
  ok: boolean;
  result: Uint8Array | null;
  error: WireError | null;
  /** While an async apply runs: settles when it is done; null once the outcome is known. */
  settled: Promise<void> | null;
}

/** The outcome of every synchronous apply that returned no result: shared, never changed. */
const appliedWithoutResult: CallOutcome = Object.freeze({ ok: true, result: null, error: null, settled: null }) as CallOutcome;

export class UpdaterActor implements ActorControl<void, UpdaterStatus> {
  private stateMachine: StateMachine | null = null;
  /** Durable entries not yet applied, as they came from the log (packed); the first is at index buffer.firstIndex. */
  private readonly buffer = new EntryRun(1);
  private commitIndex = 0;
  /** Truncations received from the log actor, and commits waiting for theirs. */
  private truncationsSeen = 0;
  private heldCommits: UpdaterCommitMessage[] = [];
  /** Invariant: appliedIndex <= settledIndex is false; settledIndex <= appliedIndex <= commitIndex. */
  private appliedIndex = 0;
  /** Every apply through this index has completed (its promise settled). */
  private settledIndex = 0;
  private readonly unsettled = new Map<number, boolean>();
  private readonly sessions: SessionTable<CallOutcome>;
  /** Outcomes since the last report, as columns (see UpdaterAppliedMessage). */
  private doneIndexes: number[] = [];
  private doneResults: (Uint8Array | null)[] = [];
  private doneErrors: (WireError | null)[] = [];
  private readonly entries = new EntryDecoder();
  /** While profiling: [firstIndex, lastIndex, startUs, endUs] of each apply loop since the last report. */
  private pendingLoops: number[] = [];
  /** While profiling: [commitIndex, committedUs] of the appender's commits since the last report. */
  private pendingCommitStamps: number[] = [];
  private reportScheduled = false;
  private queriesWaiting: UpdaterQueryMessage[] = [];

  constructor(
    private readonly options: UpdaterActorOptions,
    private readonly links: UpdaterActorLinks,
    private readonly environment: UpdaterActorEnvironment = nodeEnvironment,
  ) {
    this.sessions = (environment.sessionTable?.() as SessionTable<CallOutcome> | undefined) ?? new SessionTable<CallOutcome>();
    // Entries from the log may arrive while the state machine loads; they are buffered.
    this.links.log.onMessage((message) => this.onLog(message));
  }

  async start(): Promise<void> {
    const stateMachine = await this.environment.loadStateMachine(this.options.stateMachine);
    await stateMachine.initialize?.(this.options.context);
    this.stateMachine = stateMachine;
    this.links.main.onMessage((message) => this.onMain(message));
    this.links.appender?.onMessage((message) => this.onCommit(message));
    this.applyCommitted();
  }

  async status(): Promise<UpdaterStatus> {
    return { appliedIndex: this.settledIndex, commitIndex: this.commitIndex, bufferedEntries: this.buffer.length, sessions: this.sessions.size };
  }

  async stop(): Promise<void> {
    await this.stateMachine?.close?.();
    this.stateMachine = null;
  }

  private onLog(message: UpdaterLogInput): void {
    if (message.k === Kind.UpdaterEntries) {
      assert(message.firstIndex === this.buffer.nextIndex,
        `updater got entries from ${message.firstIndex}, expected ${this.buffer.nextIndex}`);
      this.buffer.push(message.entries, message.terms);
      // Behind every truncation on this port already: it takes effect at once.
      if (message.commitIndex !== undefined) this.commitIndex = Math.max(this.commitIndex, message.commitIndex);
    } else {
      assert(message.fromIndex > this.appliedIndex, `truncation at ${message.fromIndex} below applied ${this.appliedIndex}`);
      this.buffer.truncate(message.fromIndex - this.buffer.firstIndex);
      this.truncationsSeen++;
      this.takeHeldCommits();
    }
    this.applyCommitted();
  }

  private onMain(message: UpdaterInput): void {
    switch (message.k) {
      case Kind.UpdaterCommit:
        this.onCommit(message);
        break;
      case Kind.UpdaterQuery:
        this.queriesWaiting.push(message);
        this.answerQueries();
        break;
      default:
        break;
    }
  }

  private onCommit(message: UpdaterCommitMessage): void {
    if (message.committedUs !== undefined) this.pendingCommitStamps.push(message.commitIndex, message.committedUs);
    this.heldCommits.push(message);
    this.takeHeldCommits();
    this.applyCommitted();
  }

  /** Commit indexes whose truncations have all arrived take effect (see UpdaterCommitMessage). */
  private takeHeldCommits(): void {
    let taken = 0;
    while (taken < this.heldCommits.length && this.heldCommits[taken]!.truncations <= this.truncationsSeen) {
      this.commitIndex = Math.max(this.commitIndex, this.heldCommits[taken]!.commitIndex);
      taken++;
    }
    if (taken > 0) this.heldCommits.splice(0, taken);
  }

  private applyCommitted(): void {
    const stateMachine = this.stateMachine;
    if (stateMachine === null) return;
    const buffer = this.buffer;
    const through = Math.min(this.commitIndex, buffer.nextIndex - 1);
    if (through <= this.appliedIndex) return;
    const offset = this.appliedIndex + 1 - buffer.firstIndex;
    const count = through - this.appliedIndex;
    const startUs = this.options.profiling ? nowUs() : 0;
    for (let i = 0; i < count; i++) {
      const index = this.appliedIndex + 1;
      const position = offset + i;
      const start = buffer.start(position);
      this.applyOne(stateMachine, index, buffer.termAt(position), buffer.source(position), start, start + buffer.payloadLength(position));
      this.appliedIndex = index;
    }
    if (this.options.profiling) this.pendingLoops.push(through - count + 1, through, startUs, nowUs());
    // Drop applied entries from the front of the buffer.
    buffer.dropFront(offset + count);
    this.advanceSettled();
    this.scheduleReport();
  }

  private applyOne(stateMachine: StateMachine, index: number, term: number, source: Uint8Array, start: number, end: number): void {
    const entry = this.entries.decodeAt(source, start, end);
    if (entry.type !== EntryType.write) {
      this.applyOther(index, entry);
      return;
    }
    const session = this.sessions.touch(entry.clientId);
    if (session === undefined) {
      // Ended, forgotten or never opened: whatever this copy of the call is, it is not applied.
      this.done(index, null, new SessionExpiredError(
        `session ${entry.clientId} is not held (closed, idle past the bound, or never opened); call ${entry.callId} not applied`,
        { session: entry.clientId, callId: entry.callId }).toWire());
      return;
    }
    const calls = session.calls;
    // Outcomes the client no longer waits for go, from the oldest: the cost per entry is what it
    // removes, not the size of the table.
    calls.pruneBelow(entry.firstUnacked);
    const earlier = calls.get(entry.callId);
    if (earlier !== undefined) {
      // A retried write: applied once already; it gets the first outcome, once that is known.
      const report = (): void => this.done(index, earlier.ok ? earlier.result : null, earlier.ok ? null : earlier.error);
      if (earlier.settled === null) {
        report();
      } else {
        this.unsettled.set(index, true);
        void earlier.settled.then(() => {
          report();
          this.unsettled.delete(index);
          this.advanceSettled();
          this.scheduleReport();
        });
      }
      return;
    }
    const transaction = { index, term, clientId: entry.clientId, callId: entry.callId, data: entry.data };
    let result: Uint8Array | null | void | Promise<Uint8Array | null | void>;
    try {
      stateMachine.applyTransactionSerial?.(transaction);
      result = stateMachine.applyTransaction(transaction);
    } catch (error) {
      const wire = asStateMachineError(error);
      calls.set(entry.callId, { ok: false, result: null, error: wire, settled: null });
      this.done(index, null, wire);
      return;
    }
    if (!(result instanceof Promise)) {
      // The common case, a synchronous apply: no closure, and no outcome object when there is no result.
      calls.set(entry.callId, result === undefined || result === null ? appliedWithoutResult : { ok: true, result, error: null, settled: null });
      this.done(index, result ?? null, null);
      return;
    }
    const outcome: CallOutcome = { ok: false, result: null, error: null, settled: null };
    calls.set(entry.callId, outcome);
    const finish = (ok: boolean, value: Uint8Array | null, error: WireError | null): void => {
      outcome.ok = ok;
      outcome.result = value;
      outcome.error = error;
      outcome.settled = null;
      this.done(index, ok ? value : null, ok ? null : error);
    };
    this.unsettled.set(index, true);
    outcome.settled = result.then(
      (value) => finish(true, value ?? null, null),
      (error: unknown) => finish(false, null, asStateMachineError(error)),
    ).finally(() => {
      this.unsettled.delete(index);
      this.advanceSettled();
      this.scheduleReport();
    });
  }

  /** The entries that are not a client's write: the no-op, a session's open and end, the clock. */
  private applyOther(index: number, entry: EntryBody): void {
    switch (entry.type) {
      case EntryType.sessionOpen: {
        const session = this.sessions.open(entry.clientId, index);
        const idleMsMax = this.options.sessionIdleMsMax ?? defaultLimits.sessionIdleMsMax;
        this.done(index, encode({ session, idleMsMax }), null);
        break;
      }
      case EntryType.sessionEnd:
        this.sessions.end(entry.clientId);
        break;
      case EntryType.clock: {
        // A clock entry that does not decode (no leader writes one) changes nothing, on every replica alike.
        const clock = decodeClockData(entry.data);
        if (clock !== null) this.sessions.clock(clock.logTimeMs, clock.sessionIdleMsMax);
        break;
      }
      default:
        break;
    }
  }

  private advanceSettled(): void {
    let settled = this.appliedIndex;
    for (const index of this.unsettled.keys()) settled = Math.min(settled, index - 1);
    this.settledIndex = settled;
    this.answerQueries();
  }

  private done(index: number, result: Uint8Array | null, error: WireError | null): void {
    // An outcome the report's applied index implies (no result, no error, and nothing earlier
    // still unsettled, so the settled index will cover it) need not be listed: most puts.
    if (result === null && error === null && this.unsettled.size === 0) return;
    this.doneIndexes.push(index);
    this.doneResults.push(result);
    this.doneErrors.push(error);
  }

  /**
   * Results are reported once per drained queue, not per entry; only the outcomes that are not
   * implied by the applied index travel (see UpdaterAppliedMessage).
   */
  private scheduleReport(): void {
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    this.environment.timers.setImmediate(() => {
      this.reportScheduled = false;
      const appliedIndex = this.settledIndex;
      const message: UpdaterAppliedMessage = {
        k: Kind.UpdaterApplied, appliedIndex, indexes: [], results: [], errors: [], loops: this.pendingLoops,
        commits: this.pendingCommitStamps,
      };
      const sessions = this.sessions.takeReport();
      if (sessions !== null) message.sessions = sessions;
      this.pendingLoops = [];
      this.pendingCommitStamps = [];
      const { doneIndexes, doneResults, doneErrors } = this;
      for (let i = 0; i < doneIndexes.length; i++) {
        if (doneResults[i] !== null || doneErrors[i] !== null || doneIndexes[i]! > appliedIndex) {
          message.indexes.push(doneIndexes[i]!);
          message.results.push(doneResults[i]!);
          message.errors.push(doneErrors[i]!);
        }
      }
      this.doneIndexes = [];
      this.doneResults = [];
      this.doneErrors = [];
      this.links.main.send(message);
    });
  }

  private answerQueries(): void {
    const stateMachine = this.stateMachine;
    if (stateMachine === null || this.queriesWaiting.length === 0) return;
    const queries = this.queriesWaiting;
    this.queriesWaiting = [];
    for (const query of queries) {
      const reply = (ok: boolean, result: Uint8Array | null, error: WireError | null): void =>
        this.links.main.send({ k: Kind.UpdaterQueryResult, queryId: query.queryId, ok, result, error });
      try {
        const run = query.stale && stateMachine.queryStale ? stateMachine.queryStale.bind(stateMachine) : stateMachine.query.bind(stateMachine);
        const result = run(query.data);
        if (result instanceof Promise) {
          result.then((value) => reply(true, value ?? null, null), (error: unknown) => reply(false, null, asStateMachineError(error)));
        } else {
          reply(true, result ?? null, null);
        }
      } catch (error) {
        reply(false, null, asStateMachineError(error));
      }
    }
  }
}

function asStateMachineError(error: unknown): WireError {
  if (error instanceof Error && !('code' in error)) return new StateMachineError(error.message).toWire();
  return errorToWire(error);
}
