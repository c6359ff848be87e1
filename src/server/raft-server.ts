/**
 * RaftServer: the main thread of a raftline server — the supervisor of its actors and the shell
 * around the consensus core. It never blocks on disk or on apply: it decodes requests, runs the
 * state machine's leader hooks, admits and batches writes, hands bytes to the log and appender
 * actors, and turns the core's decisions into messages. Everything slow happens in the actors.
 *
 * Durability ordering: every message to the log actor gets a sequence number; the log reports
 * the highest sequence it has synced. A reply that depends on durable state (a vote, an
 * AppendEntries acknowledgement) waits in `afterDurable` until the sequence submitted before it
 * is synced (Raft §5.1; etcd's msgsAfterAppend).
 */
import path from 'node:path';
import fs from 'node:fs';
import pino, { type Logger } from 'pino';
import { RaftCore } from '../core/raft-core.js';
import { SeededRng } from '../core/rng.js';
import type { AppendEntriesHeader, OutMessage, Ready } from '../core/types.js';
import { Kind } from '../messages/kinds.js';
import type {
  AppendEntriesMessage, ApplyResult, ClientMessage, ClientRequestMessage, DivisionStatus, LogInput,
  PeerMessage, VoteRequestMessage, VoteResponseMessage,
} from '../messages/messages.js';
import { RequestType } from '../messages/messages.js';
import { encode } from '../messages/codec.js';
import { encodeEntry, EntryType, noopPayload } from '../messages/entry.js';
import {
  ClosedError, EntryTooLargeError, GroupMismatchError, LeaderNotReadyError, NotLeaderError, ResourceUnavailableError,
  StateMachineError, UnknownPeerError, type RaftlineError, type WireError,
} from '../errors.js';
import { resolveLimits, type Limits } from '../limits.js';
import type { StateMachine, TransactionContext } from '../state-machine.js';
import { loadStateMachine } from '../statemachines/load.js';
import { spawnActors, type ActorSet } from './actor-hosts.js';
import { Listener, type Inbound } from './listener.js';
import { PendingRequests, type PendingWrite, type StageSummaries } from './pending-requests.js';
import { validateServerOptions, type RaftServerOptions } from './options.js';
import { acquireDirLock, type DirLock } from '../log/dir-lock.js';

export interface ServerMetrics extends DivisionStatus {
  stages: StageSummaries;
  pendingRequests: number;
}

interface PendingRead {
  connection: Inbound;
  callId: number;
  data: Uint8Array;
  readIndex: number;
}

type LogInputBody = LogInput extends infer M ? (M extends { seq: number } ? Omit<M, 'seq'> : never) : never;

export class RaftServer {
  readonly id: string;
  readonly groupId: string;
  private readonly options: RaftServerOptions;
  private readonly limits: Limits;
  private readonly logger: Logger;
  private readonly addresses: Map<string, string>;
  private lock: DirLock | null = null;
  private actors: ActorSet | null = null;
  private core: RaftCore | null = null;
  private listener: Listener | null = null;
  private leaderHooks: StateMachine | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private failure: Error | null = null;
  private readonly failureListeners: ((error: Error) => void)[] = [];

  private submittedSeq = 0;
  private syncedSeq = 0;
  private syncedIndex = 0;
  private appliedIndex = 0;
  /** Truncations submitted to the log; commit messages carry it (see UpdaterCommitMessage). */
  private truncationsSubmitted = 0;
  private afterDurable: { seq: number; run: () => void }[] = [];

  private readonly pending: PendingRequests;
  /** Writes admitted in this turn of the event loop, appended together at its end. */
  private batch: { write: PendingWrite; payload: Uint8Array }[] = [];
  /** The same writes by call, so a retry that arrives in the same turn joins its original. */
  private readonly batchByCall = new Map<string, PendingWrite>();
  private batchScheduled = false;
  private nextReadId = 1;
  private readonly readsWaitingRound = new Map<number, PendingRead>();
  private readsWaitingApply: PendingRead[] = [];
  private nextQueryId = 1;
  private readonly queries = new Map<number, (ok: boolean, result: Uint8Array | null, error: WireError | null) => void>();

  constructor(options: RaftServerOptions) {
    validateServerOptions(options);
    this.options = options;
    this.id = options.id;
    this.groupId = options.groupId ?? 'default';
    this.limits = resolveLimits(options.limits);
    this.logger = options.logger ?? pino({ level: 'warn' });
    this.addresses = new Map(options.peers.map((peer) => [peer.id, peer.address]));
    this.pending = new PendingRequests(this.limits.pendingRequestsMax, this.limits.pendingBytesMax);
  }

  /** The group's folder: `<dir>/<groupId>/current`. */
  get groupDir(): string {
    return path.join(this.options.dir, this.groupId, 'current');
  }

  get groupIds(): string[] {
    return [this.groupId];
  }

  /** Called once if an actor dies or the disk fails; the server is already closing. */
  onFailure(listener: (error: Error) => void): void {
    this.failureListeners.push(listener);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.groupDir, { recursive: true });
    this.lock = acquireDirLock(this.options.dir);
    const smDir = path.join(this.groupDir, 'sm');
    fs.mkdirSync(smDir, { recursive: true });
    const stateMachine = this.options.stateMachine ?? 'kv';
    const context = { serverId: this.id, groupId: this.groupId, dir: smDir };
    this.leaderHooks = await loadStateMachine(stateMachine);
    await this.leaderHooks.initialize?.(context);
    const actors = spawnActors(this.options.actors ?? 'workers', {
      log: { dir: this.groupDir, segmentBytesMax: this.limits.segmentBytesMax },
      updater: { stateMachine, context },
      appender: { id: this.id, groupId: this.groupId, peers: this.options.peers, limits: this.limits },
    }, (error) => this.fail(error));
    this.actors = actors;
    const recovered = await actors.logControl.start();
    this.syncedIndex = recovered.lastIndex;
    await actors.updaterControl.start();
    await actors.appenderControl.start();
    const seed = [...this.id].reduce((hash, char) => (hash * 31 + char.charCodeAt(0)) >>> 0, Date.now() >>> 0);
    this.core = new RaftCore({
      id: this.id,
      voters: this.options.peers.map((peer) => peer.id),
      electionTicksMin: this.limits.electionTicksMin,
      electionTicksMax: this.limits.electionTicksMax,
      rng: new SeededRng(seed),
    }, recovered);
    actors.log.onMessage((message) => this.onLogSynced(message.seq, message.index));
    actors.updater.onMessage((message) => {
      if (message.k === Kind.UpdaterApplied) this.onApplied(message.appliedIndex, message.results);
      else this.queries.get(message.queryId)?.(message.ok, message.result, message.error);
    });
    actors.appender.onMessage((message) => {
      const core = this.requireCore();
      if (message.k === Kind.AppenderHigherTerm) {
        core.onHigherTerm(message.term, null);
      } else if (message.term === core.term) {
        for (const [peer, index] of message.matches) core.onMatch(peer, index);
        for (const peer of message.contacts) core.onPeerContact(peer);
        for (const [peer, round] of message.roundAcks) core.onRoundAck(peer, round);
      }
      this.processReady();
    });
    this.listener = new Listener(this.limits.frameBytesMax, this.limits.connectionOutboundBytesMax, {
      onMessage: (connection, message) => this.onInbound(connection, message),
      onClose: () => {},
    }, this.logger);
    await this.listener.listen(this.options.listen ?? this.addresses.get(this.id)!);
    this.ticker = setInterval(() => {
      this.requireCore().tick();
      this.processReady();
    }, this.limits.tickMs);
    this.logger.info({ id: this.id, lastIndex: recovered.lastIndex, term: recovered.hardState.term }, 'server started');
  }

  /** Closes the server; a second call (or one after a failure began closing) waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    await this.listener?.close();
    this.pending.failAll((write) => this.replyWriteError(write, new ClosedError('server is closing')));
    const actors = this.actors;
    if (actors) {
      await Promise.allSettled([actors.appenderControl.stop(), actors.updaterControl.stop()]);
      await actors.logControl.stop().catch(() => {});
      await actors.terminate();
    }
    await this.leaderHooks?.close?.();
    this.lock?.release();
  }

  /** An actor died or the disk failed: stop loudly, do not keep voting as if healthy. */
  private fail(error: Error): void {
    if (this.failure !== null || this.closed) return;
    this.failure = error;
    this.logger.fatal({ err: error }, 'server stopping: actor failure');
    for (const listener of this.failureListeners) listener(error);
    void this.close();
  }

  private requireCore(): RaftCore {
    if (this.core === null) throw new ClosedError('server not started');
    return this.core;
  }

  status(): ServerMetrics {
    const core = this.requireCore();
    return {
      id: this.id, groupId: this.groupId, role: core.role, term: core.term, leader: core.leaderId,
      commit: core.commitIndex, applied: this.appliedIndex, synced: this.syncedIndex, lastIndex: core.lastIndex,
      stages: this.pending.stageSummaries(), pendingRequests: this.pending.pendingCount,
    };
  }

  // ---- the log actor and durability ---------------------------------------------------------

  private submitToLog(message: LogInputBody): void {
    const seq = ++this.submittedSeq;
    this.requireActors().log.send({ ...message, seq } as LogInput);
  }

  private requireActors(): ActorSet {
    if (this.actors === null) throw new ClosedError('server not started');
    return this.actors;
  }

  /** Runs `run` once everything submitted to the log so far is durable. */
  private whenDurable(run: () => void): void {
    if (this.syncedSeq >= this.submittedSeq) run();
    else this.afterDurable.push({ seq: this.submittedSeq, run });
  }

  private onLogSynced(seq: number, index: number): void {
    this.syncedSeq = seq;
    this.syncedIndex = index;
    let done = 0;
    while (done < this.afterDurable.length && this.afterDurable[done]!.seq <= seq) this.afterDurable[done++]!.run();
    if (done > 0) this.afterDurable.splice(0, done);
    const core = this.requireCore();
    if (core.role === 'leader') {
      this.pending.onSynced(index, performance.now());
      core.onLocalSynced(index);
    }
    this.processReady();
  }

  // ---- the core's decisions -----------------------------------------------------------------

  private processReady(): void {
    const core = this.core;
    if (core === null || this.closed || !core.hasReady()) return;
    const ready: Ready = core.ready();
    const actors = this.requireActors();
    if (ready.hardState !== null) {
      this.submitToLog({ k: Kind.LogWriteMeta, term: ready.hardState.term, votedFor: ready.hardState.votedFor });
    }
    for (const out of ready.messages) this.sendCoreMessage(out);
    if (ready.messagesAfterPersist.length > 0) {
      const messages = ready.messagesAfterPersist;
      this.whenDurable(() => { for (const out of messages) this.sendCoreMessage(out); });
    }
    if (ready.leaderStart !== null) {
      const start = ready.leaderStart;
      // The core's log already holds the no-op (Raft §8), so the log writes it even if leadership
      // was lost within the same step; the appender starts only if this node still leads.
      this.submitToLog({ k: Kind.LogAppend, firstIndex: start.noopIndex, terms: [start.term], payloads: [noopPayload] });
      if (core.role === 'leader' && core.term === start.term) actors.appender.send({
        k: Kind.AppenderLeaderStart, term: start.term, commitIndex: start.commitIndex, lastIndex: start.noopIndex,
        termRuns: core.termRuns(), followers: [...start.followers],
      });
    }
    if (ready.roleChange !== null) {
      this.logger.info({ id: this.id, ...ready.roleChange }, 'role change');
      if (ready.roleChange.role !== 'leader') {
        actors.appender.send({ k: Kind.AppenderStepDown, term: ready.roleChange.term });
        this.failLeaderWork(ready.roleChange.leaderId);
      }
    }
    if (ready.commitIndex !== null) {
      if (core.role === 'leader') this.pending.onCommitted(ready.commitIndex, performance.now());
      actors.updater.send({ k: Kind.UpdaterCommit, commitIndex: ready.commitIndex, truncations: this.truncationsSubmitted });
      if (core.role === 'leader') actors.appender.send({ k: Kind.AppenderCommit, commitIndex: ready.commitIndex });
    }
    if (ready.heartbeatRound !== null) actors.appender.send({ k: Kind.AppenderHeartbeatRound, round: ready.heartbeatRound });
    for (const read of ready.readsReady) {
      const waiting = this.readsWaitingRound.get(read.readId);
      if (waiting === undefined) continue;
      this.readsWaitingRound.delete(read.readId);
      waiting.readIndex = read.readIndex;
      this.readsWaitingApply.push(waiting);
    }
    for (const readId of ready.readsFailed) {
      const waiting = this.readsWaitingRound.get(readId);
      if (waiting === undefined) continue;
      this.readsWaitingRound.delete(readId);
      this.replyError(waiting.connection, waiting.callId, this.notLeader(core.leaderId));
    }
    this.serveReads();
  }

  private sendCoreMessage(out: OutMessage): void {
    const core = this.requireCore();
    const message = out.message;
    const body = message.type === 'voteRequest'
      ? encode({ k: Kind.VoteRequest, g: this.groupId, from: this.id, preVote: message.preVote, term: message.term,
        candidateId: message.candidateId, lastIndex: message.lastIndex, lastTerm: message.lastTerm } satisfies VoteRequestMessage)
      : encode({ k: Kind.VoteResponse, g: this.groupId, from: this.id, preVote: message.preVote, term: message.term,
        granted: message.granted } satisfies VoteResponseMessage);
    void core;
    this.requireActors().appender.send({ k: Kind.AppenderSend, to: out.to, body });
  }

  private failLeaderWork(leaderId: string | null): void {
    const error = this.notLeader(leaderId);
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

  private notLeader(leaderId: string | null): NotLeaderError {
    const details: Record<string, unknown> = {};
    if (leaderId !== null && leaderId !== this.id) {
      details['leaderId'] = leaderId;
      details['leaderAddress'] = this.addresses.get(leaderId);
    }
    return new NotLeaderError(`server ${this.id} is not the leader`, details);
  }

  // ---- inbound messages ---------------------------------------------------------------------

  private onInbound(connection: Inbound, message: ClientMessage | PeerMessage): void {
    if (this.closed) return;
    if ('g' in message && message.g !== this.groupId) {
      const error = new GroupMismatchError(`group ${message.g} is not served here; this server runs group ${this.groupId}`,
        { groupId: message.g, served: this.groupIds });
      if (message.k === Kind.ClientRequest || message.k === Kind.StatusRequest) this.replyError(connection, message.callId, error);
      else connection.send({ k: Kind.Refused, error: error.toWire() });
      return;
    }
    if ((message.k === Kind.AppendEntries || message.k === Kind.VoteRequest || message.k === Kind.VoteResponse) &&
        (!this.addresses.has(message.from) || message.from === this.id ||
         (message.k === Kind.VoteRequest && message.candidateId !== message.from))) {
      // Only the group's other voters take part in elections and replication.
      this.logger.warn({ from: message.from }, 'refusing a server message from a non-member');
      connection.send({ k: Kind.Refused, error: new UnknownPeerError(`${message.from} is not a voter of group ${this.groupId}`, { from: message.from }).toWire() });
      return;
    }
    switch (message.k) {
      case Kind.ClientRequest:
        this.onClientRequest(connection, message);
        break;
      case Kind.StatusRequest:
        connection.send({ k: Kind.StatusReply, callId: message.callId, status: this.status() });
        break;
      case Kind.AppendEntries:
        this.onAppendEntries(connection, message);
        break;
      case Kind.VoteRequest:
        this.requireCore().step(message.from, {
          type: 'voteRequest', preVote: message.preVote, term: message.term, candidateId: message.candidateId,
          lastIndex: message.lastIndex, lastTerm: message.lastTerm,
        });
        this.processReady();
        break;
      case Kind.VoteResponse:
        this.requireCore().step(message.from, { type: 'voteResponse', preVote: message.preVote, term: message.term, granted: message.granted });
        this.processReady();
        break;
      default:
        break;
    }
  }

  private onAppendEntries(connection: Inbound, message: AppendEntriesMessage): void {
    const core = this.requireCore();
    const header: AppendEntriesHeader = {
      term: message.term, leaderId: message.from, prevIndex: message.prevIndex, prevTerm: message.prevTerm,
      leaderCommit: message.leaderCommit, entryTerms: message.terms,
    };
    const decision = core.handleAppendEntries(header);
    if (decision.kind === 'accept') {
      if (decision.truncateFrom !== null) {
        this.submitToLog({ k: Kind.LogTruncate, fromIndex: decision.truncateFrom });
        this.truncationsSubmitted++;
      }
      if (decision.appendFrom < message.entries.length) {
        this.submitToLog({
          k: Kind.LogAppend, firstIndex: message.prevIndex + 1 + decision.appendFrom,
          terms: message.terms.slice(decision.appendFrom), payloads: message.entries.slice(decision.appendFrom),
        });
      }
    }
    this.processReady();
    const reply = decision.reply;
    // Acknowledge only what is durable: the reply leaves after everything submitted so far syncs.
    this.whenDurable(() => connection.send({
      k: Kind.AppendEntriesReply, g: this.groupId, from: this.id, term: reply.term, success: reply.success,
      matchIndex: reply.matchIndex, nextIndexHint: reply.nextIndexHint, seq: message.seq, round: message.round,
    }));
  }

  // ---- client requests ----------------------------------------------------------------------

  private replyError(connection: Inbound, callId: number, error: RaftlineError): void {
    connection.send({ k: Kind.ClientReply, callId, ok: false, result: null, error: error.toWire(), index: 0 });
  }

  private replyWriteError(write: PendingWrite, error: RaftlineError): void {
    const result: ApplyResult = { index: 0, clientId: write.clientId, callId: write.callId, ok: false, result: null, error: error.toWire() };
    for (const waiter of write.waiters) waiter(result);
  }

  private onClientRequest(connection: Inbound, message: ClientRequestMessage): void {
    const core = this.requireCore();
    if (message.type === RequestType.staleRead) {
      this.query(message.data, true, (ok, result, error) =>
        connection.send({ k: Kind.ClientReply, callId: message.callId, ok, result, error, index: 0 }));
      return;
    }
    if (core.role !== 'leader') {
      this.replyError(connection, message.callId, this.notLeader(core.leaderId));
      return;
    }
    if (message.type === RequestType.readOnly) {
      const readId = this.nextReadId++;
      const result = core.readIndex(readId);
      if (!result.ok) {
        const error = result.reason === 'notLeader' ? this.notLeader(result.leaderId)
          : new LeaderNotReadyError(`leader ${this.id} has not yet committed an entry of term ${core.term}`);
        this.replyError(connection, message.callId, error);
        return;
      }
      this.readsWaitingRound.set(readId, { connection, callId: message.callId, data: message.data, readIndex: 0 });
      this.processReady();
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
    if (message.data.length > this.limits.entryBytesMax) {
      return this.replyError(connection, callId, new EntryTooLargeError(
        `entry of ${message.data.length} bytes is over the limit of ${this.limits.entryBytesMax} bytes`,
        { sizeBytes: message.data.length, limitBytes: this.limits.entryBytesMax }));
    }
    // Stage startTransaction, then admit, then preAppend (DESIGN.md stages 2-4).
    const hooks = this.leaderHooks!;
    let transaction: TransactionContext = { clientId, callId, data: message.data };
    try {
      transaction = hooks.startTransaction?.(transaction) ?? transaction;
    } catch (error) {
      return this.replyError(connection, callId, new StateMachineError(`startTransaction failed: ${(error as Error).message}`));
    }
    const logData = transaction.logData ?? transaction.data;
    if (!this.pending.tryAdmit(logData.length)) {
      return this.replyError(connection, callId, new ResourceUnavailableError(
        `leader ${this.id} has ${this.pending.pendingCount} pending requests; retry later`,
        { pendingRequestsMax: this.limits.pendingRequestsMax, pendingBytesMax: this.limits.pendingBytesMax }));
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
      setImmediate(() => this.appendBatch());
    }
  }

  /** Appends everything admitted in this turn: one message to the log, one to the appender. */
  private appendBatch(): void {
    this.batchScheduled = false;
    const batch = this.batch;
    this.batch = [];
    this.batchByCall.clear();
    if (batch.length === 0 || this.closed) return;
    const core = this.requireCore();
    const proposed = core.propose(batch.length);
    if (!proposed.ok) {
      const error = this.notLeader(proposed.leaderId);
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
    const actors = this.requireActors();
    this.submitToLog({ k: Kind.LogAppend, firstIndex: proposed.firstIndex, terms, payloads });
    actors.appender.send({ k: Kind.AppenderEntries, firstIndex: proposed.firstIndex, terms, payloads });
    this.processReady();
  }

  private onApplied(appliedIndex: number, results: ApplyResult[]): void {
    this.appliedIndex = Math.max(this.appliedIndex, appliedIndex);
    this.pending.onApplied(results, performance.now());
    this.serveReads();
  }

  /** Linearizable reads whose ReadIndex is confirmed, once the state machine has caught up. */
  private serveReads(): void {
    if (this.readsWaitingApply.length === 0) return;
    const ready = this.readsWaitingApply.filter((read) => read.readIndex <= this.appliedIndex);
    if (ready.length === 0) return;
    this.readsWaitingApply = this.readsWaitingApply.filter((read) => read.readIndex > this.appliedIndex);
    for (const read of ready) {
      this.query(read.data, false, (ok, result, error) =>
        read.connection.send({ k: Kind.ClientReply, callId: read.callId, ok, result, error, index: 0 }));
    }
  }

  private query(data: Uint8Array, stale: boolean, done: (ok: boolean, result: Uint8Array | null, error: WireError | null) => void): void {
    const queryId = this.nextQueryId++;
    this.queries.set(queryId, (ok, result, error) => {
      this.queries.delete(queryId);
      done(ok, result, error);
    });
    this.requireActors().updater.send({ k: Kind.UpdaterQuery, queryId, data, stale });
  }
}
