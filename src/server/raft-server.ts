/**
 * RaftServer: the main thread of a raftline server — the supervisor of its actors and the shell
 * around the consensus core. It never blocks on disk or on apply: it decodes frames, hands client
 * requests to the request path (request-path.ts), hands bytes to the log and appender actors, and
 * turns the core's decisions into messages. Everything slow happens in the actors.
 *
 * Durability ordering: every message to the log actor gets a sequence number; the log reports
 * the highest sequence it has synced. A reply that depends on durable state (a vote, an
 * AppendEntries acknowledgement) waits in `afterDurable` until the sequence submitted before it
 * is synced (Raft §5.1; etcd's msgsAfterAppend).
 */
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { RaftCore } from '../core/raft-core.js';
import { SeededRng } from '../core/rng.js';
import type { AppendEntriesHeader, OutMessage, Ready } from '../core/types.js';
import { Kind } from '../messages/kinds.js';
import type {
  AppendEntriesMessage, ClientMessage, DivisionStatus, LogInput, PeerMessage, VoteRequestMessage, VoteResponseMessage,
} from '../messages/messages.js';
import { encode } from '../messages/codec.js';
import { noopPayload } from '../messages/entry.js';
import { ClosedError, GroupMismatchError, NotLeaderError, UnknownPeerError } from '../errors.js';
import { resolveLimits, type Limits } from '../limits.js';
import type { StateMachine } from '../state-machine.js';
import type { ActorSet } from './actor-hosts.js';
import { RequestPath, type RequestPathHost } from './request-path.js';
import type { Inbound } from './listener.js';
import type { StageSummaries } from './pending-requests.js';
import { validateServerOptions, type RaftServerOptions } from './options.js';
import type { DirLock } from '../log/dir-lock.js';
import type { TimerHandle } from '../shell/timers.js';
import { nodeServerEnvironment, type ListeningEndpoint, type ServerEnvironment } from './environment.js';

export interface ServerMetrics extends DivisionStatus {
  stages: StageSummaries;
  pendingRequests: number;
}

type LogInputBody = LogInput extends infer M ? (M extends { seq: number } ? Omit<M, 'seq'> : never) : never;

export class RaftServer implements RequestPathHost {
  readonly id: string;
  readonly groupId: string;
  private readonly options: RaftServerOptions;
  readonly limits: Limits;
  private readonly logger: Logger;
  private readonly addresses: Map<string, string>;
  private lock: DirLock | null = null;
  private actors: ActorSet | null = null;
  private core: RaftCore | null = null;
  private listener: ListeningEndpoint | null = null;
  private leaderHooks: StateMachine | null = null;
  private ticker: TimerHandle | null = null;
  private readonly environment: ServerEnvironment;
  private closed = false;
  private closing: Promise<void> | null = null;
  private failure: Error | null = null;
  private readonly failureListeners: ((error: Error) => void)[] = [];

  private submittedSeq = 0;
  private syncedSeq = 0;
  private syncedIndex = 0;
  /** Truncations submitted to the log; commit messages carry it (see UpdaterCommitMessage). */
  private truncationsSubmitted = 0;
  private afterDurable: { seq: number; run: () => void }[] = [];

  private requests: RequestPath | null = null;

  /** @param environment the shell's parts; Node's unless given (the simulator gives its own). */
  constructor(options: RaftServerOptions, environment: Partial<ServerEnvironment> = {}) {
    validateServerOptions(options);
    this.environment = { ...nodeServerEnvironment, ...environment };
    this.options = options;
    this.id = options.id;
    this.groupId = options.groupId ?? 'default';
    this.limits = resolveLimits(options.limits);
    this.logger = options.logger ?? pino({ level: 'warn' });
    this.addresses = new Map(options.peers.map((peer) => [peer.id, peer.address]));
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
    const environment = this.environment;
    environment.fileSystem.mkdirSync(this.groupDir, { recursive: true });
    this.lock = environment.lockDir(this.options.dir);
    const smDir = path.join(this.groupDir, 'sm');
    environment.fileSystem.mkdirSync(smDir, { recursive: true });
    const stateMachine = this.options.stateMachine ?? 'kv';
    const context = { serverId: this.id, groupId: this.groupId, dir: smDir };
    this.leaderHooks = await environment.loadStateMachine(stateMachine);
    await this.leaderHooks.initialize?.(context);
    this.requests = new RequestPath(this, this.leaderHooks, environment.timers.setImmediate);
    const actors = environment.spawnActors(this.options.actors ?? 'workers', {
      log: { dir: this.groupDir, segmentBytesMax: this.limits.segmentBytesMax },
      updater: { stateMachine, context },
      appender: { id: this.id, groupId: this.groupId, peers: this.options.peers, limits: this.limits },
    }, (error) => this.fail(error));
    this.actors = actors;
    const recovered = await actors.logControl.start();
    this.syncedIndex = recovered.lastIndex;
    await actors.updaterControl.start();
    await actors.appenderControl.start();
    const seed = environment.electionSeed(this.id);
    this.core = environment.makeCore({
      id: this.id,
      voters: this.options.peers.map((peer) => peer.id),
      electionTicksMin: this.limits.electionTicksMin,
      electionTicksMax: this.limits.electionTicksMax,
      rng: new SeededRng(seed),
    }, recovered);
    actors.log.onMessage((message) => this.onLogSynced(message.seq, message.index));
    actors.updater.onMessage((message) => {
      const requests = this.requireRequests();
      if (message.k === Kind.UpdaterApplied) requests.onApplied(message.appliedIndex, message.indexes, message.results, message.errors);
      else requests.onQueryResult(message.queryId, message.ok, message.result, message.error);
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
    this.listener = await environment.listen(this.options.listen ?? this.addresses.get(this.id)!, this.limits, {
      onMessage: (connection, message) => this.onInbound(connection, message),
      onClose: () => {},
    }, this.logger);
    this.ticker = environment.timers.setInterval(() => {
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
    if (this.ticker !== null) this.environment.timers.clearInterval(this.ticker);
    await this.listener?.close();
    this.requests?.close(new ClosedError('server is closing'));
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

  private requireRequests(): RequestPath {
    if (this.requests === null) throw new ClosedError('server not started');
    return this.requests;
  }

  // ---- what the request path asks of the server (RequestPathHost) ---------------------------

  /** The consensus core (for the request path). */
  raftCore(): RaftCore {
    return this.requireCore();
  }

  appendEntries(firstIndex: number, terms: number[], payloads: Uint8Array[]): void {
    this.submitToLog({ k: Kind.LogAppend, firstIndex, terms, payloads });
    this.requireActors().appender.send({ k: Kind.AppenderEntries, firstIndex, terms, payloads });
    this.processReady();
  }

  sendQuery(queryId: number, data: Uint8Array, stale: boolean): void {
    this.requireActors().updater.send({ k: Kind.UpdaterQuery, queryId, data, stale });
  }

  status(): ServerMetrics {
    const core = this.requireCore();
    return {
      id: this.id, groupId: this.groupId, role: core.role, term: core.term, leader: core.leaderId,
      commit: core.commitIndex, applied: this.requests?.appliedIndex ?? 0, synced: this.syncedIndex, lastIndex: core.lastIndex,
      stages: this.requireRequests().stageSummaries(), pendingRequests: this.requireRequests().pendingCount,
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
      this.requireRequests().onSynced(index);
      core.onLocalSynced(index);
    }
    this.processReady();
  }

  // ---- the core's decisions -----------------------------------------------------------------

  processReady(): void {
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
        this.requireRequests().failAll(this.notLeader(ready.roleChange.leaderId));
      }
    }
    if (ready.commitIndex !== null) {
      if (core.role === 'leader') this.requireRequests().onCommitted(ready.commitIndex);
      actors.updater.send({ k: Kind.UpdaterCommit, commitIndex: ready.commitIndex, truncations: this.truncationsSubmitted });
      if (core.role === 'leader') actors.appender.send({ k: Kind.AppenderCommit, commitIndex: ready.commitIndex });
    }
    if (ready.heartbeatRound !== null) actors.appender.send({ k: Kind.AppenderHeartbeatRound, round: ready.heartbeatRound });
    if (ready.readsFailed.length > 0) this.requireRequests().onReadsFailed(ready.readsFailed, this.notLeader(core.leaderId));
    if (ready.readsReady.length > 0) this.requireRequests().onReadsReady(ready.readsReady);
  }

  private sendCoreMessage(out: OutMessage): void {
    const message = out.message;
    const body = message.type === 'voteRequest'
      ? encode({ k: Kind.VoteRequest, g: this.groupId, from: this.id, preVote: message.preVote, term: message.term,
        candidateId: message.candidateId, lastIndex: message.lastIndex, lastTerm: message.lastTerm } satisfies VoteRequestMessage)
      : encode({ k: Kind.VoteResponse, g: this.groupId, from: this.id, preVote: message.preVote, term: message.term,
        granted: message.granted } satisfies VoteResponseMessage);
    this.requireActors().appender.send({ k: Kind.AppenderSend, to: out.to, body });
  }

  notLeader(leaderId: string | null): NotLeaderError {
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
      if (message.k === Kind.ClientRequest || message.k === Kind.StatusRequest) {
        connection.send({ k: Kind.ClientReply, callId: message.callId, ok: false, result: null, error: error.toWire(), index: 0 });
      } else if (message.k === Kind.ClientRequestBatch) {
        for (const callId of message.callIds) connection.replyBatched(callId, 0, null, error.toWire());
      } else {
        connection.send({ k: Kind.Refused, error: error.toWire() });
      }
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
        this.requireRequests().onClientRequest(connection, message);
        break;
      case Kind.ClientRequestBatch:
        this.requireRequests().onClientRequestBatch(connection, message);
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
    // A truncation is counted before processReady: a commit index sent there waits in the updater
    // until this truncation has reached it (see UpdaterCommitMessage).
    if (decision.kind === 'accept' && decision.truncateFrom !== null) this.truncationsSubmitted++;
    // The term this request may have raised goes to the log before the request's entries: the log
    // writes them unsynced, a crash can keep them yet lose a later term write, and a log holding a
    // term above the durable one cannot restart (found by the simulator, seed 1277).
    this.processReady();
    if (decision.kind === 'accept') {
      if (decision.truncateFrom !== null) this.submitToLog({ k: Kind.LogTruncate, fromIndex: decision.truncateFrom });
      if (decision.appendFrom < message.entries.length) {
        this.submitToLog({
          k: Kind.LogAppend, firstIndex: message.prevIndex + 1 + decision.appendFrom,
          terms: message.terms.slice(decision.appendFrom), payloads: message.entries.slice(decision.appendFrom),
        });
      }
    }
    const reply = decision.reply;
    // Acknowledge only what is durable: the reply leaves after everything submitted so far syncs.
    this.whenDurable(() => connection.send({
      k: Kind.AppendEntriesReply, g: this.groupId, from: this.id, term: reply.term, success: reply.success,
      matchIndex: reply.matchIndex, nextIndexHint: reply.nextIndexHint, seq: message.seq, round: message.round,
    }));
  }
}
