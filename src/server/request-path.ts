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
import { PendingRequests, type PendingWrite } from './pending-requests.js';
import type { ChunkSample, RepliedWrite, StageRecorder } from '../metrics/stage-recorder.js';
import { nowUs } from '../metrics/clock.js';

/** What the request path needs from its server. */
export interface RequestPathHost {
  readonly id: string;
  readonly limits: Limits;
  raftCore(): RaftCore;
  notLeader(leaderId: string | null): NotLeaderError;
  /**
   * Hands a batch of new entries to the log and the appender, then lets the core speak; returns
   * the log sequence number of the batch (its log stamps come back under it).
   */
  appendEntries(firstIndex: number, terms: number[], payloads: Uint8Array[]): number;
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
  /** Stage stamps of the batch's chunks: the first write of each chunk is timed for all of it. */
  private batchSamples: ChunkSample[] = [];
  private sample: ChunkSample | null = null;
  private sampleConnection: Inbound | null = null;
  private replied: RepliedWrite[] = [];
  private batchScheduled = false;
  private closed = false;
  private appliedIndexSeen = 0;
  private nextReadId = 1;
  private readonly readsWaitingRound = new Map<number, PendingRead>();
  private readsWaitingApply: PendingRead[] = [];
  private nextQueryId = 1;
  private readonly queries = new Map<number, QueryDone>();

  constructor(private readonly host: RequestPathHost, private readonly hooks: StateMachine, private readonly recorder: StageRecorder) {
    this.pending = new PendingRequests(host.limits.pendingRequestsMax, host.limits.pendingBytesMax);
  }

  /** The highest index the updater reported applied (and settled). */
  get appliedIndex(): number {
    return this.appliedIndexSeen;
  }

  get pendingCount(): number {
    return this.pending.pendingCount;
  }

  get pendingBytes(): number {
    return this.pending.pendingBytes;
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
    this.batchSamples = [];
    this.sample = null;
    this.recorder.clearLeader();
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
    if (message.data.length > this.host.limits.entryBytesMax) {
      return this.replyError(connection, callId, new EntryTooLargeError(
        `entry of ${message.data.length} bytes is over the limit of ${this.host.limits.entryBytesMax} bytes`,
        { sizeBytes: message.data.length, limitBytes: this.host.limits.entryBytesMax }));
    }
    // Stage startTransaction, then admit, then preAppend (DESIGN.md stages 2-4). The first
    // write of each received chunk is stamped at their boundaries; the rest of the chunk shares them.
    const sample = this.sample;
    const stamped = this.recorder.profiling &&
      (sample === null || sample.receivedUs !== connection.receivedUs || this.sampleConnection !== connection);
    const startUs = stamped ? nowUs() : 0;
    const hooks = this.hooks;
    let transaction: TransactionContext = { clientId, callId, data: message.data };
    try {
      transaction = hooks.startTransaction?.(transaction) ?? transaction;
    } catch (error) {
      return this.replyError(connection, callId, new StateMachineError(`startTransaction failed: ${(error as Error).message}`));
    }
    const logData = transaction.logData ?? transaction.data;
    const admitUs = stamped ? nowUs() : 0;
    if (!this.pending.tryAdmit(logData.length)) {
      this.recorder.counters.writesRefused++;
      return this.replyError(connection, callId, new ResourceUnavailableError(
        `leader ${this.host.id} has ${this.pending.pendingCount} pending requests; retry later`,
        { pendingRequestsMax: this.host.limits.pendingRequestsMax, pendingBytesMax: this.host.limits.pendingBytesMax }));
    }
    const preAppendUs = stamped ? nowUs() : 0;
    try {
      transaction = hooks.preAppendTransaction?.(transaction) ?? transaction;
    } catch (error) {
      this.pending.release(logData.length);
      return this.replyError(connection, callId, new StateMachineError(`preAppendTransaction failed: ${(error as Error).message}`));
    }
    const payload = encodeEntry({
      type: EntryType.write, clientId, callId, firstUnacked: message.firstUnacked, data: transaction.logData ?? transaction.data,
    });
    let writeSample: ChunkSample | null = sample;
    if (stamped) {
      writeSample = {
        receivedUs: connection.receivedUs, startUs, admitUs, preAppendUs, preAppendedUs: nowUs(), count: 1, batch: null,
      };
      this.sample = writeSample;
      this.sampleConnection = connection;
      this.batchSamples.push(writeSample);
    } else if (writeSample !== null) {
      writeSample.count++;
    }
    const write: PendingWrite = { clientId, callId, index: 0, bytes: logData.length, waiters: [reply], sample: writeSample };
    this.batch.push({ payload, write });
    this.recorder.counters.writesReceived++;
    this.batchByCall.set(PendingRequests.key(clientId, callId), write);
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      setImmediate(() => this.appendBatch());
    }
  }

  /** Appends everything admitted in this turn: one message to the log, one to the appender. */
  private appendBatch(): void {
    this.batchScheduled = false;
    const batch = this.batch;
    const samples = this.batchSamples;
    this.batch = [];
    this.batchSamples = [];
    this.sample = null;
    this.sampleConnection = null;
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
    const terms = new Array<number>(batch.length).fill(proposed.term);
    const payloads = batch.map(({ payload }) => payload);
    const writes = batch.map(({ write }, i) => {
      write.index = proposed.firstIndex + i;
      return write;
    });
    this.pending.add(writes);
    const appendedUs = this.recorder.profiling ? nowUs() : 0;
    const seq = this.host.appendEntries(proposed.firstIndex, terms, payloads);
    this.recorder.onAppendBatch(seq, proposed.firstIndex, batch.length, samples, appendedUs);
  }

  /** Results from the updater, with the stamps of its apply loops (see StageRecorder). */
  onApplied(appliedIndex: number, results: ApplyResult[], applyLoops: readonly number[]): void {
    const receiptUs = this.recorder.profiling ? nowUs() : 0;
    this.appliedIndexSeen = Math.max(this.appliedIndexSeen, appliedIndex);
    this.recorder.onApplyLoops(applyLoops);
    const replied = this.replied;
    this.pending.onApplied(results, replied);
    if (replied.length > 0) {
      this.recorder.onReplied(replied, receiptUs, this.recorder.profiling ? nowUs() : 0);
      replied.length = 0;
    }
    this.recorder.releaseApplyLoops(appliedIndex);
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
