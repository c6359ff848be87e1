/**
 * The request path of a server (stages receive to preAppend, and reply, docs/metrics.md): writes through
 * `startTransaction`, admission (the pending-request permits), `preAppendTransaction` and a batch
 * appended once per turn of the event loop; linearizable reads waiting for their ReadIndex and
 * then for the state machine to catch up; stale reads; replies and the retry cache; client
 * sessions' open and close requests, and the leader's clock entries (sessions are opened, ended
 * and forgotten at apply time: src/actors/session-table.ts). The server
 * (raft-server.ts) owns the consensus core and the actors and calls in here; this class reaches
 * back only through `RequestPathHost`.
 */
import type { RaftCore } from '../core/raft-core.js';
import type { ReadReady } from '../core/types.js';
import { Kind } from '../messages/kinds.js';
import {
  RequestType, type ClientRequestBatchMessage, type ClientRequestMessage, type RequestTypeNumber,
} from '../messages/messages.js';
import {
  encodeClockData, encodeEntry, encodeEntryInto, entryClientIdUtf8, entryPayloadBytes, EntryType, type EntryTypeNumber,
} from '../messages/entry.js';
import { LENGTH_BYTES, packPayloads, writeLengthAt } from '../messages/packed-entries.js';
import {
  EntryTooLargeError, LeaderNotReadyError, MalformedMessageError, ResourceUnavailableError, StateMachineError, TimeoutError, type NotLeaderError,
  type TransferInProgressError,
  type RaftlineError, type WireError,
} from '../errors.js';
import type { Limits } from '../limits.js';
import type { StateMachine, TransactionContext } from '../state-machine.js';
import type { UpdaterSessionsReport } from '../messages/messages.js';
import type { Inbound } from './listener.js';
import { PendingRequests, type PendingWrite, type ReplyTo } from './pending-requests.js';
import type { ChunkSample, ReadStamps, RepliedWrite, StageRecorder } from '../metrics/stage-recorder.js';
import { nowUs } from '../metrics/clock.js';
import { FollowerReadIndex } from './follower-read-index.js';
import { membersOf } from '../core/configuration.js';
import type { NodeId } from '../core/types.js';

/** What the request path needs from its server. */
export interface RequestPathHost {
  readonly id: string;
  readonly limits: Limits;
  raftCore(): RaftCore;
  notLeader(leaderId: string | null): NotLeaderError;
  /** The answer to `count` requests while leadership passes to `target` (this leader handing over, or this server taking over). */
  transferInProgress(target: string, count: number): TransferInProgressError;
  /**
   * Hands a batch of new entries to the log and the appender, then lets the core speak; returns
   * the log sequence number of the batch (its log stamps come back under it).
   */
  appendEntries(firstIndex: number, terms: number[], entries: Uint8Array): number;
  /** Asks the updater to run `data.length` queries, numbered from `firstQueryId`, answered in one message. */
  sendQueryBatch(firstQueryId: number, data: Uint8Array[], stale: boolean): void;
  /** Lets the core's pending effects out (once per turn after ReadIndex requests). */
  processReady(): void;
  /** Sends a follower's ReadIndexRequest to the leader, or the leader's ReadIndexReply to a follower. */
  sendReadIndexRequest(leaderId: NodeId, term: number, requestId: number): void;
  sendReadIndexReply(to: NodeId, requestId: number, readIndex: number, error: WireError | null): void;
  /** The server's monotonic clock (ms). */
  monotonicMs(): number;
}

/** An admitted write (or session open or close) waiting for the end of the turn, with what its payload is encoded from. */
interface BatchedWrite {
  write: PendingWrite;
  type: EntryTypeNumber;
  data: Uint8Array;
  firstUnacked: number;
  /** The client id in UTF-8 (shared by the writes of one client). */
  clientIdUtf8: Buffer;
  payloadBytes: number;
}

/** A client id as the request path keeps it: one string object and its UTF-8 bytes, or why it cannot go in an entry. */
interface KnownClientId {
  id: string;
  utf8: Buffer | MalformedMessageError;
}

/**
 * A linearizable read. Its query runs once the state machine has applied through its read index,
 * which may be before its heartbeat round comes back: the answer is then held until the round
 * confirms the read (a state that applied through the read index, read after the read arrived,
 * is a linearizable answer once no newer leader can have committed anything before it arrived).
 */
interface PendingRead extends ReplyTo, ReadStamps {
  data: Uint8Array;
  /** The index the state machine must have applied: the read index, and at least the request's minIndex. */
  readIndex: number;
  /** A stale read waiting for its minIndex (served by queryStale), else a linearizable read. */
  stale?: boolean;
  /** A read served by a follower (counted), and when a read waiting for the apply gives up (0: never). */
  follower?: boolean;
  deadlineMs?: number;
  /** Confirmed by its heartbeat round, or on the lease. */
  confirmed: boolean;
  /** Answered (or failed): nothing more to do. */
  done: boolean;
  /** The updater's answer, held until the read is confirmed. */
  result: Uint8Array | null;
  error: WireError | null;
  answered: boolean;
}

/** A follower's ReadIndexRequest the leader confirms with its own ReadIndex machinery. */
interface RemoteRead {
  from: NodeId;
  requestId: number;
}

/** Linearizable reads whose queries went to the updater in one message. */
interface QueryBatch {
  reads: PendingRead[];
}

/**
 * A read this server serves from its own state, with no round of its own: a follower read (the
 * leader confirms its read index) or a stale read. It counts as confirmed.
 */
function localRead(to: ReplyTo, data: Uint8Array, readIndex: number): PendingRead {
  return {
    connection: to.connection, batched: to.batched, callId: to.callId, data, readIndex, confirmed: true, done: false, result: null, error: null,
    answered: false, receivedUs: 0, confirmedUs: 0, appliedUs: 0, sentUs: 0, resultUs: 0,
  };
}

function answer(to: ReplyTo, index: number, result: Uint8Array | null, error: WireError | null): void {
  if (to.batched) to.connection.replyBatched(to.callId, index, result, error);
  else to.connection.send({ k: Kind.ClientReply, callId: to.callId, ok: error === null, result, error, index });
}

function answerWrite(write: PendingWrite): void {
  for (const to of write.waiters) answer(to, write.index, write.result, write.error);
}

const noData = new Uint8Array(0);

/** What the updater last reported of its sessions, as the server shows it. */
export interface SessionsSeen {
  held: number;
  logTimeMs: number;
  opened: number;
  ended: number;
  expired: number;
}

export class RequestPath {
  private readonly pending: PendingRequests;
  /** Writes admitted in this turn of the event loop, appended together at its end. */
  private batch: BatchedWrite[] = [];
  /** Where each batch is packed; the host copies it before appendEntries returns, so it is reused. */
  private packScratch = Buffer.allocUnsafeSlow(64 * 1024);
  /** Stage stamps of the batch's chunks: the first write of each chunk is timed for all of it. */
  private batchSamples: ChunkSample[] = [];
  private sample: ChunkSample | null = null;
  private sampleConnection: Inbound | null = null;
  private replied: RepliedWrite[] = [];
  private batchScheduled = false;
  /** The client id of the latest frame (knownClientId). */
  private lastClientId: KnownClientId | null = null;
  private closed = false;
  private appliedIndexSeen = 0;
  private nextReadId = 1;
  private readonly readsWaitingRound = new Map<number, PendingRead>();
  private readsWaitingApply: PendingRead[] = [];
  /** Requests that came while no leader was known, each retried once one is (or after an election timeout). */
  private leaderWait: { sinceMs: number; to: ReplyTo; retry: () => void }[] = [];
  /** Reads ready to query, sent to the updater together at the end of the turn. */
  private readsToQuery: PendingRead[] = [];
  private staleReadsToQuery: PendingRead[] = [];
  private readyScheduled = false;
  private queriesScheduled = false;
  /** Query batches at the updater, by their first query id. */
  private readonly queryBatches = new Map<number, QueryBatch>();
  private nextQueryId = 1;
  /** Follower reads waiting for the leader's read index (follower-read-index.ts). */
  private readonly followerReads: FollowerReadIndex<PendingRead>;
  /** On a leader: followers' read-index requests, by the read id the core confirms them under. */
  private readonly remoteReads = new Map<number, RemoteRead>();
  private sessionsSeen: SessionsSeen = { held: 0, logTimeMs: 0, opened: 0, ended: 0, expired: 0 };

  /**
   * @param defer runs a callback after the current turn's work (setImmediate; the simulator's
   *   scheduler in simulation): the end of the turn is when the batch is appended.
   */
  constructor(
    private readonly host: RequestPathHost,
    private readonly hooks: StateMachine,
    private readonly recorder: StageRecorder,
    private readonly defer: (run: () => void) => void = setImmediate,
  ) {
    this.pending = new PendingRequests(host.limits.pendingRequestsMax, host.limits.pendingBytesMax);
    this.followerReads = new FollowerReadIndex<PendingRead>({
      id: host.id,
      term: () => host.raftCore().term,
      // A server outside the configuration in force (removed) is not heard by the leader: it asks no one.
      leaderId: () => {
        const core = host.raftCore();
        return membersOf(core.configuration.configuration).some((member) => member.id === host.id) ? core.leaderId : null;
      },
      sendRequest: (leaderId, term, requestId) => {
        recorder.counters.readIndexRequestsSent++;
        host.sendReadIndexRequest(leaderId, term, requestId);
      },
      defer,
    }, (reads, readIndex) => {
      for (const read of reads) {
        read.readIndex = Math.max(read.readIndex, readIndex);
        read.deadlineMs = host.monotonicMs() + this.readWaitMs;
        this.readsWaitingApply.push(read);
      }
      this.serveReads();
    }, (reads, error) => {
      for (const read of reads) this.replyError(read, error);
    }, () => host.monotonicMs());
  }

  /**
   * The longest a read waits for this server's apply to reach its index, or a follower for the
   * leader's read index: two of the longest election timeouts. A replica further behind than that
   * is not catching up soon; the client hears TIMEOUT (or LEADER_NOT_READY) and may go elsewhere.
   */
  private get readWaitMs(): number {
    return 2 * this.host.limits.electionTicksMax * this.host.limits.tickMs;
  }

  /** Reads waiting for this server's apply to reach their index (stale reads with a minIndex, follower reads), and follower reads waiting for a read index. */
  get readsWaiting(): { apply: number; staleApply: number; readIndex: number } {
    let stale = 0;
    for (const read of this.readsWaitingApply) if (read.stale === true) stale++;
    return { apply: this.readsWaitingApply.length, staleApply: stale, readIndex: this.followerReads.waiting };
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

  /** The updater's sessions as last reported. */
  get sessions(): Readonly<SessionsSeen> {
    return this.sessionsSeen;
  }

  /** Clients the retry cache holds a table for. */
  get retryCacheClients(): number {
    return this.pending.clientCount;
  }

  /** The updater's report on its sessions: the ones it ended or forgot leave the retry cache too. */
  onSessions(report: UpdaterSessionsReport): void {
    const { held, logTimeMs, opened, ended, expired, forgotten } = report;
    this.sessionsSeen = { held, logTimeMs, opened, ended, expired };
    for (const clientId of forgotten) this.pending.forgetClient(clientId);
  }

  /**
   * A clock entry (see session-table.ts), appended at once on its own: no client waits for it,
   * so it has no pending write, and it is not one of the batches the stage recorder times.
   * Returns false when this server cannot append (not the leader, closing).
   */
  appendClock(logTimeMs: number, sessionIdleMsMax: number): boolean {
    if (this.closed) return false;
    const proposed = this.host.raftCore().propose(1);
    if (!proposed.ok) return false;
    const payload = encodeEntry({
      type: EntryType.clock, clientId: '', callId: 0, firstUnacked: 0, data: encodeClockData(logTimeMs, sessionIdleMsMax),
    });
    this.host.appendEntries(proposed.firstIndex, [proposed.term], packPayloads([payload]));
    this.recorder.counters.appendBatches++;
    this.recorder.counters.entriesAppended++;
    return true;
  }

  /**
   * The updater's answers to a query batch (sendQueryBatch): each confirmed read is answered on its
   * connection; a read whose round is still out keeps its answer until the round confirms it.
   */
  onQueryBatchResult(firstQueryId: number, results: readonly (Uint8Array | null)[], errors: readonly (WireError | null)[]): void {
    const batch = this.queryBatches.get(firstQueryId);
    if (batch === undefined) return;
    this.queryBatches.delete(firstQueryId);
    const resultUs = this.recorder.profiling ? nowUs() : 0;
    const { reads } = batch;
    const finished: PendingRead[] = [];
    for (let i = 0; i < reads.length; i++) {
      const read = reads[i]!;
      if (read.done) continue;
      read.error = errors[i] ?? null;
      read.result = read.error === null ? results[i] ?? null : null;
      read.answered = true;
      read.resultUs = resultUs;
      if (read.confirmed) finished.push(read);
    }
    this.finishReads(finished);
  }

  /** ReadIndex confirmed by a heartbeat round: a read whose answer is in is answered now. */
  onReadsReady(reads: readonly ReadReady[]): void {
    const confirmedUs = this.recorder.profiling ? nowUs() : 0;
    const finished: PendingRead[] = [];
    for (const ready of reads) {
      const read = this.readsWaitingRound.get(ready.readId);
      if (read === undefined) {
        // A follower's read-index request (onReadIndexRequest), confirmed like a client's read.
        this.answerRemoteRead(ready.readId, ready.readIndex, null);
        continue;
      }
      this.readsWaitingRound.delete(ready.readId);
      read.confirmed = true;
      read.confirmedUs = confirmedUs;
      if (read.answered) finished.push(read);
    }
    this.finishReads(finished);
  }

  /** Reads confirmed and answered by the updater: replied (in the connections' reply batches). */
  private finishReads(reads: readonly PendingRead[]): void {
    if (reads.length === 0) return;
    for (const read of reads) {
      read.done = true;
      if (read.follower === true) this.recorder.counters.followerReadsServed++;
      answer(read, 0, read.result, read.error);
    }
    this.recorder.onReadsAnswered(reads, this.recorder.profiling ? nowUs() : 0);
  }

  onReadsFailed(readIds: readonly number[], error: RaftlineError): void {
    for (const readId of readIds) {
      const read = this.readsWaitingRound.get(readId);
      if (read === undefined) {
        this.answerRemoteRead(readId, 0, error);
        continue;
      }
      this.readsWaitingRound.delete(readId);
      read.done = true;
      this.replyError(read, error);
    }
  }

  /** Leadership lost (or the server closing): every write and read in progress gets `error`. */
  failAll(error: RaftlineError): void {
    this.pending.failAll((write) => this.replyWriteError(write, error));
    for (const { write } of this.batch) {
      this.pending.release(write.bytes);
      this.pending.forget(write);
      this.replyWriteError(write, error);
    }
    this.batch = [];
    this.batchSamples = [];
    this.sample = null;
    this.sampleConnection = null;
    this.recorder.clearLeader();
    for (const read of this.readsWaitingRound.values()) {
      read.done = true;
      this.replyError(read, error);
    }
    this.readsWaitingRound.clear();
    for (const readId of [...this.remoteReads.keys()]) this.answerRemoteRead(readId, 0, error);
  }

  close(error: RaftlineError): void {
    this.closed = true;
    this.failAll(error);
    for (const request of this.leaderWait.splice(0)) this.replyError(request.to, error);
    this.followerReads.failAll(error);
    for (const read of this.readsWaitingApply) this.replyError(read, error);
    this.readsWaitingApply = [];
  }

  // ---- follower reads and bounded stale reads ----

  /**
   * The term or leader this server knows changed: follower reads asked of another leader fail
   * (retriable); requests held while no leader was known go on (next turn: after this change's
   * effects) to the leader, here or named in NOT_LEADER.
   */
  onLeaderChange(term: number, leaderId: NodeId | null): void {
    this.followerReads.onLeaderChange(term, leaderId);
    if (leaderId !== null && this.leaderWait.length > 0) {
      this.defer(() => {
        if (!this.closed) this.releaseLeaderWait(() => true);
      });
    }
  }

  /** This follower knows no leader, or has not heard from it for two heartbeats. */
  private leaderInDoubt(): boolean {
    const core = this.host.raftCore();
    const limits = this.host.limits;
    return core.leaderId === null || core.leaderSilentTicks * limits.tickMs > 2 * limits.heartbeatMs;
  }

  /** Requests held for a leader that `due` picks, retried now (never held again). */
  private releaseLeaderWait(due: (sinceMs: number) => boolean): void {
    const held = this.leaderWait;
    this.leaderWait = [];
    for (const request of held) {
      if (due(request.sinceMs)) request.retry();
      else this.leaderWait.push(request);
    }
  }

  /**
   * Each tick: reads that waited too long for this server's apply, and follower reads whose
   * read index did not come, fail. Timeouts only: reads are served when the apply reports.
   */
  onTick(): void {
    if (this.leaderWait.length > 0) {
      // Held until a leader is heard from again (the same one, back in contact), for one longest
      // election timeout at most: then NOT_LEADER, and the client looks elsewhere.
      const heldSinceMs = this.host.monotonicMs() - this.host.limits.electionTicksMax * this.host.limits.tickMs;
      const inDoubt = this.host.raftCore().role !== 'leader' && this.leaderInDoubt();
      this.releaseLeaderWait((sinceMs) => !inDoubt || sinceMs <= heldSinceMs);
    }
    const waitMs = this.readWaitMs;
    this.followerReads.expire(waitMs);
    if (this.readsWaitingApply.length === 0) return;
    const nowMs = this.host.monotonicMs();
    const applied = this.appliedIndexSeen;
    const late = this.readsWaitingApply.filter((read) => read.deadlineMs !== undefined && read.deadlineMs <= nowMs);
    if (late.length === 0) return;
    this.readsWaitingApply = this.readsWaitingApply.filter((read) => !(read.deadlineMs !== undefined && read.deadlineMs <= nowMs));
    for (const read of late) {
      this.replyError(read, new TimeoutError(
        `server ${this.host.id} had applied through ${applied}, not ${read.readIndex}, after ${waitMs} ms; the read was not served`,
        { reason: read.stale === true ? 'staleRead' : 'followerRead', server: this.host.id, index: read.readIndex, appliedIndex: applied }));
    }
  }

  /**
   * On the leader: a follower asks for a read index for the reads it holds. Confirmed like a
   * client's read here (core.readIndex, then readsReady); a request of another term, or to a
   * server that does not lead, is answered LEADER_NOT_READY (the follower's clients retry).
   */
  onReadIndexRequest(from: NodeId, term: number, requestId: number): void {
    const core = this.host.raftCore();
    if (core.role !== 'leader' || term !== core.term) {
      this.host.sendReadIndexReply(from, requestId, 0, new LeaderNotReadyError(
        `server ${this.host.id} does not lead term ${term}`, { reason: 'notLeader', server: this.host.id, term: core.term }).toWire());
      return;
    }
    const readId = this.nextReadId++;
    const result = core.readIndex(readId);
    if (!result.ok) {
      this.host.sendReadIndexReply(from, requestId, 0, new LeaderNotReadyError(
        `leader ${this.host.id} cannot give a read index yet (${result.reason})`, { reason: result.reason, server: this.host.id, term: core.term }).toWire());
      return;
    }
    this.remoteReads.set(readId, { from, requestId });
    // On the leader lease: confirmed at once (no ReadReady follows).
    if (result.lease === true) {
      this.answerRemoteRead(readId, result.readIndex, null);
      return;
    }
    this.host.processReady();
  }

  /** On a follower: the leader's answer to its read-index request. */
  onReadIndexReply(from: NodeId, term: number, requestId: number, readIndex: number, error: RaftlineError | null): void {
    this.followerReads.onReply(from, term, requestId, readIndex, error);
    this.recorder.counters.readIndexRepliesReceived++;
  }

  private answerRemoteRead(readId: number, readIndex: number, error: RaftlineError | null): void {
    const remote = this.remoteReads.get(readId);
    if (remote === undefined) return;
    this.remoteReads.delete(readId);
    this.recorder.counters.readIndexRequestsAnswered++;
    this.host.sendReadIndexReply(remote.from, remote.requestId, readIndex, error === null ? null : error.toWire());
  }

  /** A stale read with a minIndex this server has not applied yet waits for it (bounded: onTick). */
  private onStaleRead(to: ReplyTo, data: Uint8Array, minIndex: number): void {
    if (minIndex <= this.appliedIndexSeen) {
      const read: PendingRead = { ...localRead(to, data, minIndex), stale: true };
      read.appliedUs = this.recorder.profiling ? nowUs() : 0;
      this.queueQuery(read);
      return;
    }
    this.recorder.counters.staleReadsWaited++;
    this.readsWaitingApply.push({ ...localRead(to, data, minIndex), stale: true, deadlineMs: this.host.monotonicMs() + this.readWaitMs });
  }

  private replyError(to: ReplyTo, error: RaftlineError): void {
    answer(to, 0, null, error.toWire());
  }

  private replyWriteError(write: PendingWrite, error: RaftlineError): void {
    const wire = error.toWire();
    for (const to of write.waiters) answer(to, 0, null, wire);
  }

  onClientRequest(connection: Inbound, message: ClientRequestMessage): void {
    this.onRequest({ connection, batched: false, callId: message.callId }, this.knownClientId(message.clientId),
      message.firstUnacked, message.type, message.data, message.minIndex ?? 0);
  }

  /** The calls of one batch, in order; their replies leave as a batch too. */
  onClientRequestBatch(connection: Inbound, message: ClientRequestBatchMessage): void {
    const { firstUnacked, callIds, types, data, minIndexes } = message;
    const client = this.knownClientId(message.clientId);
    for (let i = 0; i < callIds.length; i++) {
      this.onRequest({ connection, batched: true, callId: callIds[i]! }, client, firstUnacked, types[i]!, data[i]!, minIndexes?.[i] ?? 0);
    }
  }

  /**
   * The client id of a frame, as the string object of the first of a run of frames from that
   * client (the retry cache's map then finds it by identity: every frame decodes a new string,
   * and comparing contents per write was 7 % of the leader's main thread) with its UTF-8 bytes,
   * encoded once. One client at a time is remembered: a frame of another costs one encoding and
   * one comparison of contents, not one per write.
   */
  private knownClientId(clientId: string): KnownClientId {
    const known = this.lastClientId;
    if (known !== null && known.id === clientId) return known;
    let utf8: Buffer | MalformedMessageError;
    try {
      utf8 = entryClientIdUtf8(clientId);
    } catch (error) {
      utf8 = error as MalformedMessageError;
    }
    this.lastClientId = { id: clientId, utf8 };
    return this.lastClientId;
  }

  private onRequest(
    to: ReplyTo, client: KnownClientId, firstUnacked: number, type: RequestTypeNumber, data: Uint8Array, minIndex: number, mayWait = true,
  ): void {
    const core = this.host.raftCore();
    if (type === RequestType.staleRead) {
      this.onStaleRead(to, data, minIndex);
      return;
    }
    if (type === RequestType.followerRead && core.role !== 'leader' && !core.takingOver) {
      this.followerReads.add({ ...localRead(to, data, minIndex), follower: true });
      return;
    }
    if (core.role !== 'leader') {
      // No leader known, or not heard from for two heartbeats (likely gone: an election is under
      // way or about to be): held until one is heard from, then answered with its name (or taken
      // here), so that a client is not sent to a dead leader nor left backing off after the election.
      if (mayWait && !core.takingOver && this.leaderInDoubt() && this.leaderWait.length < this.host.limits.pendingRequestsMax) {
        this.leaderWait.push({ sinceMs: this.host.monotonicMs(), to, retry: () => this.onRequest(to, client, firstUnacked, type, data, minIndex, false) });
        this.recorder.counters.requestsHeldForLeader++;
        return;
      }
      this.replyError(to, core.takingOver ? this.host.transferInProgress(this.host.id, 1) : this.host.notLeader(core.leaderId));
      return;
    }
    if (type === RequestType.readOnly || type === RequestType.followerRead) {
      const readId = this.nextReadId++;
      const result = core.readIndex(readId);
      if (!result.ok) {
        const error = result.reason === 'notLeader' ? this.host.notLeader(result.leaderId)
          : new LeaderNotReadyError(`leader ${this.host.id} has not yet committed an entry of term ${core.term}`);
        this.replyError(to, error);
        return;
      }
      const profiling = this.recorder.profiling;
      const nowStamp = profiling ? nowUs() : 0;
      const lease = result.lease === true;
      const read: PendingRead = {
        connection: to.connection, batched: to.batched, callId: to.callId, data, readIndex: Math.max(result.readIndex, minIndex), confirmed: lease, done: false,
        result: null, error: null, answered: false,
        receivedUs: to.connection.receivedUs, confirmedUs: lease ? nowStamp : 0, appliedUs: 0, sentUs: 0, resultUs: 0,
      };
      this.recorder.counters.readsReceived++;
      // The query goes as soon as the state machine has caught up, alongside the round if there is one.
      if (read.readIndex > this.appliedIndexSeen) {
        this.readsWaitingApply.push(read);
      } else {
        read.appliedUs = nowStamp;
        this.queueQuery(read);
      }
      if (lease) return;
      this.readsWaitingRound.set(readId, read);
      // Once per turn: every read of the turn joins one heartbeat round (raft-core.ts, readIndex).
      if (!this.readyScheduled) {
        this.readyScheduled = true;
        this.defer(() => {
          this.readyScheduled = false;
          this.host.processReady();
        });
      }
      return;
    }
    if (type === RequestType.write) this.onWrite(to, client, firstUnacked, data);
    else this.onSessionRequest(to, client, firstUnacked, type === RequestType.openSession ? EntryType.sessionOpen : EntryType.sessionEnd);
  }

  /**
   * A session's open (under the client's own id) or close (under the session id): an entry with no
   * data, past none of the state machine's hooks and not kept in the retry cache (see
   * pending-requests.ts). The updater opens or ends the session when it applies the entry and
   * answers an open with the session's id.
   */
  private onSessionRequest(to: ReplyTo, client: KnownClientId, firstUnacked: number, type: EntryTypeNumber): void {
    const clientIdUtf8 = client.utf8;
    if (clientIdUtf8 instanceof MalformedMessageError) return this.replyError(to, clientIdUtf8);
    const connection = to.connection;
    const stamped = this.startsChunk(connection);
    const startUs = stamped ? nowUs() : 0;
    if (!this.pending.tryAdmit(0)) {
      this.recorder.counters.writesRefused++;
      return this.replyError(to, new ResourceUnavailableError(
        `leader ${this.host.id} has ${this.pending.pendingCount} pending requests; retry later`,
        { pendingRequestsMax: this.host.limits.pendingRequestsMax, pendingBytesMax: this.host.limits.pendingBytesMax }));
    }
    const write: PendingWrite = {
      clientId: client.id, callId: to.callId, index: 0, bytes: 0, waiters: [to],
      sample: this.chunkSample(stamped, connection, startUs, startUs, startUs), done: false, result: null, error: null,
    };
    this.batch.push({ write, type, data: noData, firstUnacked, clientIdUtf8, payloadBytes: entryPayloadBytes(clientIdUtf8.length, 0) });
    this.scheduleBatch();
  }

  /** Whether a write from `connection` begins a new received chunk, whose first write is timed for all of it. */
  private startsChunk(connection: Inbound): boolean {
    const sample = this.sample;
    return this.recorder.profiling &&
      (sample === null || sample.receivedUs !== connection.receivedUs || this.sampleConnection !== connection);
  }

  /** The stage stamps a write shares: a new chunk's (stamped), or the current chunk's, one write more. */
  private chunkSample(stamped: boolean, connection: Inbound, startUs: number, admitUs: number, preAppendUs: number): ChunkSample | null {
    let sample = this.sample;
    if (stamped) {
      sample = { receivedUs: connection.receivedUs, startUs, admitUs, preAppendUs, preAppendedUs: nowUs(), count: 1, batch: null };
      this.sample = sample;
      this.sampleConnection = connection;
      this.batchSamples.push(sample);
    } else if (sample !== null) {
      sample.count++;
    }
    return sample;
  }

  private scheduleBatch(): void {
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      this.defer(() => this.appendBatch());
    }
  }

  private onWrite(to: ReplyTo, client: KnownClientId, firstUnacked: number, data: Uint8Array): void {
    const callId = to.callId;
    const clientId = client.id;
    this.pending.pruneCache(clientId, firstUnacked);
    // Retry cache (Ratis `RetryCache`): a retried call is answered, or joins the one in progress.
    const known = this.pending.find(clientId, callId);
    if (known !== undefined) {
      if (known.done) answer(to, known.index, known.result, known.error);
      else known.waiters.push(to);
      return;
    }
    if (data.length > this.host.limits.entryBytesMax) {
      return this.replyError(to, new EntryTooLargeError(
        `entry of ${data.length} bytes is over the limit of ${this.host.limits.entryBytesMax} bytes`,
        { sizeBytes: data.length, limitBytes: this.host.limits.entryBytesMax }));
    }
    // Stage startTransaction, then admit, then preAppend (docs/metrics.md). The first
    // write of each received chunk is stamped at their boundaries; the rest of the chunk shares them.
    const connection = to.connection;
    const stamped = this.startsChunk(connection);
    const startUs = stamped ? nowUs() : 0;
    const hooks = this.hooks;
    let transaction: TransactionContext = { clientId, callId, data };
    try {
      transaction = hooks.startTransaction?.(transaction) ?? transaction;
    } catch (error) {
      return this.replyError(to, new StateMachineError(`startTransaction failed: ${(error as Error).message}`));
    }
    const logData = transaction.logData ?? transaction.data;
    const admitUs = stamped ? nowUs() : 0;
    if (!this.pending.tryAdmit(logData.length)) {
      this.recorder.counters.writesRefused++;
      return this.replyError(to, new ResourceUnavailableError(
        `leader ${this.host.id} has ${this.pending.pendingCount} pending requests; retry later`,
        { pendingRequestsMax: this.host.limits.pendingRequestsMax, pendingBytesMax: this.host.limits.pendingBytesMax }));
    }
    const preAppendUs = stamped ? nowUs() : 0;
    try {
      transaction = hooks.preAppendTransaction?.(transaction) ?? transaction;
    } catch (error) {
      this.pending.release(logData.length);
      return this.replyError(to, new StateMachineError(`preAppendTransaction failed: ${(error as Error).message}`));
    }
    // The payload is encoded when the batch is packed, straight into it (appendBatch).
    const entryData = transaction.logData ?? transaction.data;
    const clientIdUtf8 = client.utf8;
    if (clientIdUtf8 instanceof MalformedMessageError) {
      this.pending.release(logData.length);
      return this.replyError(to, clientIdUtf8);
    }
    const writeSample = this.chunkSample(stamped, connection, startUs, admitUs, preAppendUs);
    const write: PendingWrite = {
      clientId, callId, index: 0, bytes: logData.length, waiters: [to], sample: writeSample, done: false, result: null, error: null,
    };
    this.batch.push({
      write, type: EntryType.write, data: entryData, firstUnacked, clientIdUtf8,
      payloadBytes: entryPayloadBytes(clientIdUtf8.length, entryData.length),
    });
    this.recorder.counters.writesReceived++;
    this.pending.register(write);
    this.scheduleBatch();
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
    if (batch.length === 0 || this.closed) return;
    const core = this.host.raftCore();
    const proposed = core.propose(batch.length);
    if (!proposed.ok) {
      const error = proposed.reason === 'notLeader' ? this.host.notLeader(proposed.leaderId) : this.host.transferInProgress(proposed.target, batch.length);
      for (const { write } of batch) {
        this.pending.release(write.bytes);
        this.pending.forget(write);
        this.replyWriteError(write, error);
      }
      return;
    }
    const terms = new Array<number>(batch.length).fill(proposed.term);
    const entries = this.pack(batch);
    const writes = batch.map(({ write }, i) => {
      write.index = proposed.firstIndex + i;
      return write;
    });
    this.pending.add(writes);
    const appendedUs = this.recorder.profiling ? nowUs() : 0;
    const seq = this.host.appendEntries(proposed.firstIndex, terms, entries);
    this.recorder.onAppendBatch(seq, proposed.firstIndex, batch.length, samples, appendedUs);
  }

  /** Encodes the batch's payloads into packed entries, in the scratch buffer (valid until the next batch). */
  private pack(batch: readonly BatchedWrite[]): Uint8Array {
    let total = 0;
    for (const item of batch) total += LENGTH_BYTES + item.payloadBytes;
    if (this.packScratch.length < total) this.packScratch = Buffer.allocUnsafeSlow(Math.max(total, this.packScratch.length * 2));
    const target = this.packScratch;
    let offset = 0;
    for (const { write, type, data, firstUnacked, clientIdUtf8, payloadBytes } of batch) {
      offset = writeLengthAt(target, offset, payloadBytes);
      offset = encodeEntryInto(target, offset, type, clientIdUtf8, write.callId, firstUnacked, data);
    }
    return target.subarray(0, total);
  }

  /**
   * The updater's report (see UpdaterAppliedMessage): writes through `appliedIndex` are answered.
   * `applyLoops` are the stamps of its apply loops (see StageRecorder).
   */
  onApplied(appliedIndex: number, indexes: number[], results: (Uint8Array | null)[], errors: (WireError | null)[],
    applyLoops: readonly number[]): void {
    const receiptUs = this.recorder.profiling ? nowUs() : 0;
    this.appliedIndexSeen = Math.max(this.appliedIndexSeen, appliedIndex);
    this.recorder.onApplyLoops(applyLoops);
    const replied = this.replied;
    this.pending.onApplied(appliedIndex, indexes, results, errors, answerWrite, replied);
    if (replied.length > 0) {
      this.recorder.onReplied(replied, receiptUs, this.recorder.profiling ? nowUs() : 0);
      replied.length = 0;
    }
    this.recorder.releaseApplyLoops(appliedIndex);
    this.serveReads();
  }

  /**
   * Linearizable reads, once the state machine has caught up with their read index: queried
   * together, in one message to the updater at the end of the turn.
   */
  private serveReads(): void {
    const waiting = this.readsWaitingApply;
    if (waiting.length === 0) return;
    const applied = this.appliedIndexSeen;
    const appliedUs = this.recorder.profiling ? nowUs() : 0;
    const later: PendingRead[] = [];
    for (const read of waiting) {
      if (read.done) continue;
      if (read.readIndex > applied) {
        later.push(read);
        continue;
      }
      read.appliedUs = appliedUs;
      this.queueQuery(read);
    }
    this.readsWaitingApply = later;
  }

  /**
   * A read the state machine can answer now: its query goes with the turn's batch (stale reads in
   * a batch of their own, answered by `queryStale`). Follower and stale reads count as confirmed:
   * they are answered as soon as their result is in.
   */
  private queueQuery(read: PendingRead): void {
    if (read.stale === true) this.staleReadsToQuery.push(read);
    else this.readsToQuery.push(read);
    if (this.queriesScheduled) return;
    this.queriesScheduled = true;
    this.defer(() => this.sendQueries());
  }

  private sendQueries(): void {
    this.queriesScheduled = false;
    // A read that failed meanwhile (leadership lost before its round came back) is not queried.
    const reads = this.readsToQuery.filter((read) => !read.done);
    const stale = this.staleReadsToQuery.filter((read) => !read.done);
    this.readsToQuery = [];
    this.staleReadsToQuery = [];
    if (this.closed) return;
    if (reads.length > 0) this.sendQueryBatch(reads, false);
    if (stale.length > 0) this.sendQueryBatch(stale, true);
  }

  private sendQueryBatch(reads: PendingRead[], stale: boolean): void {
    const firstQueryId = this.nextQueryId;
    this.nextQueryId += reads.length;
    const sentUs = this.recorder.profiling ? nowUs() : 0;
    for (const read of reads) read.sentUs = sentUs;
    this.queryBatches.set(firstQueryId, { reads });
    this.recorder.counters.queryBatches++;
    this.host.sendQueryBatch(firstQueryId, reads.map((read) => read.data), stale);
  }

}
