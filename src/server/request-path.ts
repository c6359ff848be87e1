/**
 * The request path of a server (DESIGN.md stages 1-4 and 9): client writes through
 * `startTransaction`, admission (the pending-request permits), `preAppendTransaction` and a batch
 * appended once per turn of the event loop; linearizable reads waiting for their ReadIndex and
 * then for the state machine to catch up; stale reads; replies and the retry cache. The server
 * (raft-server.ts) owns the consensus core and the actors and calls in here; this class reaches
 * back only through `RequestPathHost`.
 */
import type { RaftCore } from '../core/raft-core.js';
import type { ReadReady } from '../core/types.js';
import { Kind } from '../messages/kinds.js';
import { RequestType, type ApplyResult, type ClientRequestMessage } from '../messages/messages.js';
import { encodeEntry, EntryType } from '../messages/entry.js';
import {
  EntryTooLargeError, LeaderNotReadyError, ResourceUnavailableError, StateMachineError, type NotLeaderError,
  type RaftlineError, type WireError,
} from '../errors.js';
import type { Limits } from '../limits.js';
import type { StateMachine, TransactionContext } from '../state-machine.js';
import type { Inbound } from './listener.js';
import { PendingRequests, type PendingWrite, type StageSummaries } from './pending-requests.js';

/** What the request path needs from its server. */
export interface RequestPathHost {
  readonly id: string;
  readonly limits: Limits;
  raftCore(): RaftCore;
  notLeader(leaderId: string | null): NotLeaderError;
  /** Hands a batch of new entries to the log and the appender, then lets the core speak. */
  appendEntries(firstIndex: number, terms: number[], payloads: Uint8Array[]): void;
  /** Asks the updater to run a query. */
  sendQuery(queryId: number, data: Uint8Array, stale: boolean): void;
  /** Lets the core's pending effects out (after a ReadIndex request). */
  processReady(): void;
}

interface PendingRead {
  connection: Inbound;
  callId: number;
  data: Uint8Array;
  readIndex: number;
}

type QueryDone = (ok: boolean, result: Uint8Array | null, error: WireError | null) => void;

export class RequestPath {
  private readonly pending: PendingRequests;
  /** Writes admitted in this turn of the event loop, appended together at its end. */
  private batch: { write: PendingWrite; payload: Uint8Array }[] = [];
  /** The same writes by call, so a retry that arrives in the same turn joins its original. */
  private readonly batchByCall = new Map<string, PendingWrite>();
  private batchScheduled = false;
  private closed = false;
  private appliedIndexSeen = 0;
  private nextReadId = 1;
  private readonly readsWaitingRound = new Map<number, PendingRead>();
  private readsWaitingApply: PendingRead[] = [];
  private nextQueryId = 1;
  private readonly queries = new Map<number, QueryDone>();

  /**
   * @param defer runs a callback after the current turn's work (setImmediate; the simulator's
   *   scheduler in simulation): the end of the turn is when the batch is appended.
   */
  constructor(
    private readonly host: RequestPathHost,
    private readonly hooks: StateMachine,
    private readonly defer: (run: () => void) => void = setImmediate,
  ) {
    this.pending = new PendingRequests(host.limits.pendingRequestsMax, host.limits.pendingBytesMax);
  }

  /** The highest index the updater reported applied (and settled). */
  get appliedIndex(): number {
    return this.appliedIndexSeen;
  }

  get pendingCount(): number {
    return this.pending.pendingCount;
  }

  stageSummaries(): StageSummaries {
    return this.pending.stageSummaries();
  }

  /** Leader: the log is durable through `index` / the commit index reached `index` (stamps). */
  onSynced(index: number): void {
    this.pending.onSynced(index, performance.now());
  }

  onCommitted(index: number): void {
    this.pending.onCommitted(index, performance.now());
  }

  onQueryResult(queryId: number, ok: boolean, result: Uint8Array | null, error: WireError | null): void {
    this.queries.get(queryId)?.(ok, result, error);
  }

  /** ReadIndex confirmed by a heartbeat round: the read waits for the state machine to catch up. */
  onReadsReady(reads: readonly ReadReady[]): void {
    for (const read of reads) {
      const waiting = this.readsWaitingRound.get(read.readId);
      if (waiting === undefined) continue;
      this.readsWaitingRound.delete(read.readId);
      waiting.readIndex = read.readIndex;
      this.readsWaitingApply.push(waiting);
    }
    this.serveReads();
  }

  onReadsFailed(readIds: readonly number[], error: RaftlineError): void {
    for (const readId of readIds) {
      const waiting = this.readsWaitingRound.get(readId);
      if (waiting === undefined) continue;
      this.readsWaitingRound.delete(readId);
      this.replyError(waiting.connection, waiting.callId, error);
    }
  }

  /** Leadership lost (or the server closing): every write and read in progress gets `error`. */
  failAll(error: RaftlineError): void {
    this.pending.failAll((write) => this.replyWriteError(write, error));
    for (const { write } of this.batch) {
      this.pending.release(write.bytes);
      this.replyWriteError(write, error);
    }
    this.batch = [];
    this.batchByCall.clear();
    for (const read of this.readsWaitingRound.values()) this.replyError(read.connection, read.callId, error);
    this.readsWaitingRound.clear();
  }

  close(error: RaftlineError): void {
    this.closed = true;
    this.failAll(error);
  }

  private replyError(connection: Inbound, callId: number, error: RaftlineError): void {
    connection.send({ k: Kind.ClientReply, callId, ok: false, result: null, error: error.toWire(), index: 0 });
  }

  private replyWriteError(write: PendingWrite, error: RaftlineError): void {
    const result: ApplyResult = { index: 0, clientId: write.clientId, callId: write.callId, ok: false, result: null, error: error.toWire() };
    for (const waiter of write.waiters) waiter(result);
  }

  onClientRequest(connection: Inbound, message: ClientRequestMessage): void {
    const core = this.host.raftCore();
    if (message.type === RequestType.staleRead) {
      this.query(message.data, true, (ok, result, error) =>
        connection.send({ k: Kind.ClientReply, callId: message.callId, ok, result, error, index: 0 }));
      return;
    }
    if (core.role !== 'leader') {
      this.replyError(connection, message.callId, this.host.notLeader(core.leaderId));
      return;
    }
    if (message.type === RequestType.readOnly) {
      const readId = this.nextReadId++;
      const result = core.readIndex(readId);
      if (!result.ok) {
        const error = result.reason === 'notLeader' ? this.host.notLeader(result.leaderId)
          : new LeaderNotReadyError(`leader ${this.host.id} has not yet committed an entry of term ${core.term}`);
        this.replyError(connection, message.callId, error);
        return;
      }
      this.readsWaitingRound.set(readId, { connection, callId: message.callId, data: message.data, readIndex: 0 });
      this.host.processReady();
      return;
    }
    this.onWrite(connection, message);
  }

  private onWrite(connection: Inbound, message: ClientRequestMessage): void {
    const { clientId, callId } = message;
    this.pending.pruneCache(clientId, message.firstUnacked);
    const reply = (result: ApplyResult): void => connection.send({
      k: Kind.ClientReply, callId, ok: result.ok, result: result.result, error: result.error, index: result.index,
    });
    // Retry cache (Ratis `RetryCache`): a retried call is answered, or joins the pending one.
    const cached = this.pending.findCached(clientId, callId);
    if (cached !== undefined) return reply(cached);
    const pending = this.pending.findPending(clientId, callId);
    if (pending !== undefined) {
      pending.waiters.push(reply);
      return;
    }
    const queued = this.batchByCall.get(PendingRequests.key(clientId, callId));
    if (queued !== undefined) {
      queued.waiters.push(reply);
      return;
    }
    const receivedMs = performance.now();
    if (message.data.length > this.host.limits.entryBytesMax) {
      return this.replyError(connection, callId, new EntryTooLargeError(
        `entry of ${message.data.length} bytes is over the limit of ${this.host.limits.entryBytesMax} bytes`,
        { sizeBytes: message.data.length, limitBytes: this.host.limits.entryBytesMax }));
    }
    // Stage startTransaction, then admit, then preAppend (DESIGN.md stages 2-4).
    const hooks = this.hooks;
    let transaction: TransactionContext = { clientId, callId, data: message.data };
    try {
      transaction = hooks.startTransaction?.(transaction) ?? transaction;
    } catch (error) {
      return this.replyError(connection, callId, new StateMachineError(`startTransaction failed: ${(error as Error).message}`));
    }
    const logData = transaction.logData ?? transaction.data;
    if (!this.pending.tryAdmit(logData.length)) {
      return this.replyError(connection, callId, new ResourceUnavailableError(
        `leader ${this.host.id} has ${this.pending.pendingCount} pending requests; retry later`,
        { pendingRequestsMax: this.host.limits.pendingRequestsMax, pendingBytesMax: this.host.limits.pendingBytesMax }));
    }
    try {
      transaction = hooks.preAppendTransaction?.(transaction) ?? transaction;
    } catch (error) {
      this.pending.release(logData.length);
      return this.replyError(connection, callId, new StateMachineError(`preAppendTransaction failed: ${(error as Error).message}`));
    }
    const payload = encodeEntry({
      type: EntryType.write, clientId, callId, firstUnacked: message.firstUnacked, data: transaction.logData ?? transaction.data,
    });
    const write: PendingWrite = {
      clientId, callId, index: 0, bytes: logData.length, waiters: [reply], receivedMs, appendedMs: 0, syncedMs: 0, committedMs: 0,
    };
    this.batch.push({ payload, write });
    this.batchByCall.set(PendingRequests.key(clientId, callId), write);
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      this.defer(() => this.appendBatch());
    }
  }

  /** Appends everything admitted in this turn: one message to the log, one to the appender. */
  private appendBatch(): void {
    this.batchScheduled = false;
    const batch = this.batch;
    this.batch = [];
    this.batchByCall.clear();
    if (batch.length === 0 || this.closed) return;
    const core = this.host.raftCore();
    const proposed = core.propose(batch.length);
    if (!proposed.ok) {
      const error = this.host.notLeader(proposed.leaderId);
      for (const { write } of batch) {
        this.pending.release(write.bytes);
        this.replyWriteError(write, error);
      }
      return;
    }
    const nowMs = performance.now();
    const terms = new Array<number>(batch.length).fill(proposed.term);
    const payloads = batch.map(({ payload }) => payload);
    const writes = batch.map(({ write }, i) => {
      write.index = proposed.firstIndex + i;
      write.appendedMs = nowMs;
      return write;
    });
    this.pending.add(writes);
    this.host.appendEntries(proposed.firstIndex, terms, payloads);
  }

  onApplied(appliedIndex: number, results: ApplyResult[]): void {
    this.appliedIndexSeen = Math.max(this.appliedIndexSeen, appliedIndex);
    this.pending.onApplied(results, performance.now());
    this.serveReads();
  }

  /** Linearizable reads whose ReadIndex is confirmed, once the state machine has caught up. */
  private serveReads(): void {
    if (this.readsWaitingApply.length === 0) return;
    const ready = this.readsWaitingApply.filter((read) => read.readIndex <= this.appliedIndexSeen);
    if (ready.length === 0) return;
    this.readsWaitingApply = this.readsWaitingApply.filter((read) => read.readIndex > this.appliedIndexSeen);
    for (const read of ready) {
      this.query(read.data, false, (ok, result, error) =>
        read.connection.send({ k: Kind.ClientReply, callId: read.callId, ok, result, error, index: 0 }));
    }
  }

  private query(data: Uint8Array, stale: boolean, done: QueryDone): void {
    const queryId = this.nextQueryId++;
    this.queries.set(queryId, (ok, result, error) => {
      this.queries.delete(queryId);
      done(ok, result, error);
    });
    this.host.sendQuery(queryId, data, stale);
  }
}
