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
import { Kind, kindName } from '../messages/kinds.js';
import type {
  AdminOperation, AdminResult, AppendEntriesMessage, ConfigurationReport, DivisionStatus, ElectionState, InboundMessage, InstallSnapshotMessage,
  LogInput, ReadIndexReplyMessage, ReadIndexRequestMessage, TimeoutNowMessage, TransferOutcome, UpdaterInstallProgressMessage, UpdaterSnapshotTakenMessage,
  VoteRequestMessage, VoteResponseMessage, WatchLevel, WatchResult,
} from '../messages/messages.js';
import { encode } from '../messages/codec.js';
import { noopEntries } from '../messages/entry.js';
import { packedFrom, packPayloads } from '../messages/packed-entries.js';
import {
  ClosedError, ConfigurationError, errorFromWire, errorToWire, GroupMismatchError, type RaftlineError, MembershipChangeError, NotLeaderError, ProtocolViolationError,
  TransferFailedError, TransferInProgressError,
  type WireError,
} from '../errors.js';
import { tenths, TransferWatch } from './transfer-watch.js';
import { changeMembership, type MembershipHost } from './membership-change.js';
import {
  fromSnapshotConfiguration, membersOf, quorumOf, toSnapshotConfiguration, type ConfigurationAt, type GroupConfiguration, type Member,
} from '../core/configuration.js';
import { configurationPayload, configurationsIn, decodeConfigurationData, EntryDecoder } from '../messages/entry.js';
import type { LogRecovered } from '../actors/log-actor.js';
import { FollowerLagWatch, NoLeaderWatch, ServerEventHub } from './server-events.js';
import { serverEventNames, type ConfigurationChangedEvent, type ServerEventListener, type ServerEventName, type ServerEvents } from '../events.js';
import { peerMessageRefusal, type PeerInbound } from './peer-gateway.js';
import { permissionRefusal } from './request-roles.js';
import { checkTlsMaterial, tlsMaterialOf, tlsRefusalCounter, type TlsMaterial } from '../shell/tls-identity.js';
import { resolveLimits, type Limits } from '../limits.js';
import type { SnapshotInfo, StateMachine } from '../state-machine.js';
import type { ActorSet } from './actor-hosts.js';
import { RequestPath, type RequestPathHost } from './request-path.js';
import { Watches, type ReplicationView } from './watches.js';
import { SessionClock } from './session-clock.js';
import type { Inbound } from './listener.js';
import { logKeepDefault, readLeaseMs, snapshotEveryDefault, snapshotRetainDefault, validateServerOptions, type RaftServerOptions } from './options.js';
import type { DirLock } from '../log/dir-lock.js';
import type { TailCut } from '../log/log-recovery.js';
import { termRecovery } from '../log/raft-meta.js';
import type { TimerHandle } from '../shell/timers.js';
import { nodeServerEnvironment, type ListeningEndpoint, type ServerEnvironment } from './environment.js';
import { stateMachineSpec } from '../statemachines/load.js';
import { StageRecorder } from '../metrics/stage-recorder.js';
import type { FollowerReplicationSnapshot, MetricsSnapshot } from '../metrics/types.js';
import { MetricsEndpoint } from '../metrics/endpoint.js';
import { nowUs } from '../metrics/clock.js';
import { sampleProcessMemory, sampleThreadHeap, type MemorySnapshot } from '../metrics/memory.js';

/** How long a new voter may take to catch up as a learner before a change gives up on it. */
const membershipCatchUpMsDefault = 30_000;

/** When a write refused during a transfer should come back: the new leader is usually moments away. */
const transferRetryAfterMs = 5;

export interface ServerStatus extends DivisionStatus {
  pendingRequests: number;
}

type LogInputBody = LogInput extends infer M ? (M extends { seq: number } ? Omit<M, 'seq'> : never) : never;

export class RaftServer implements RequestPathHost {
  readonly id: string;
  readonly groupId: string;
  private readonly options: RaftServerOptions;
  readonly limits: Limits;
  /** The read lease (ms; 0: none), from RaftServerOptions.readLease. */
  private readonly leaseMs: number;
  private readonly logger: Logger;
  /** Every member's address: the configuration in force (onConfiguration). */
  private readonly addresses: Map<string, string>;
  /** Conditions a membership change waits for, looked at after each step (waitUntil). */
  private conditions: { done: () => boolean; resolve: () => void; reject: (error: Error) => void; deadlineMs: number; what: string }[] = [];
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
  /** The log seq of the last truncation submitted: a sync report from before it describes entries since replaced. */
  private truncationSeq = 0;
  private afterDurable: { seq: number; run: () => void }[] = [];
  /** The log tail recovery cut at start, if any (status). */
  private tailCut: TailCut | null = null;
  /** Whether the term ceiling was reported (once). */
  private termCeilingReported = false;
  /** The newest snapshot here (taken or installed), and whether the state machine takes them at all. */
  private snapshotLatest: SnapshotInfo | null = null;
  private snapshotsSupported = false;
  /** The log's first index and bytes on disk, from its latest report. */
  private logFirstIndex = 1;
  private logBytes = 0;
  /** InstallSnapshot chunks handed to the updater: id -> where its answer goes. */
  private readonly installsPending = new Map<number, { connection: Inbound; seq: number; from: string }>();
  private nextInstallId = 1;
  /** snapshot() calls waiting for the updater: request id -> their promise's ends. */
  private readonly snapshotRequests = new Map<number, { resolve: (info: SnapshotInfo) => void; reject: (error: Error) => void }>();
  private nextSnapshotRequest = 1;

  /** The leadership transfer this server leads, and the admin calls waiting for it (transfer-watch.ts). */
  private readonly transfers = new TransferWatch();

  private requests: RequestPath | null = null;
  /** When this server, as leader, appends a clock entry for the sessions' idle bound. */
  private sessionClock: SessionClock | null = null;
  /** Per-stage latency, counters (src/metrics/stage-recorder.ts). */
  private readonly recorder: StageRecorder;
  private metricsEndpoint: MetricsEndpoint | null = null;
  private commitIndexSeen = 0;
  /** A commit index not yet sent to the updater (see noticeCommit). */
  private commitNotice: { commitIndex: number; truncations: number } | null = null;
  /** Copies of the appender's per-follower progress, for the gauges. */
  private readonly matchIndexSeen = new Map<string, number>();
  /** Each follower's commit index as the appender last knew it (watches at the *_COMMITTED levels). */
  private readonly followerCommitSeen = new Map<string, number>();
  /** Clients' watches on this leader (watches.ts). */
  private readonly watches = new Watches();
  /**
   * Followers this leader is sending a snapshot, and its index: a purge keeps the log after it,
   * or a follower whose install outlasts the log's turnover would need another snapshot, and
   * under a steady load might never catch up.
   */
  private readonly snapshotHolds = new Map<string, number>();
  private readonly inflightSeen = new Map<string, [number, number]>();

  /** The embedder's listeners and the state machine's hooks (server-events.ts, src/events.ts). */
  private readonly events: ServerEventHub;
  /** The (term, leader) last announced by leaderChanged. */
  private leaderKnown: { term: number; leaderId: string | null } = { term: 0, leaderId: null };
  /** This leader's no-op, until it is applied here and leaderReady is announced. */
  private leaderReadyPending: { term: number; index: number } | null = null;
  /** When this server last became leader (monotonic ms): followers get an election timeout to report a match. */
  private leaderSinceMs = 0;
  /** An election this server started on TimeoutNow (its term), when, and when it won it. */
  private takeover: { term: number; sinceMs: number; wonMs: number | null } | null = null;
  private readonly followerLag: FollowerLagWatch;
  private noLeaderWatch: NoLeaderWatch | null = null;

  /** @param environment the shell's parts; Node's unless given (the simulator gives its own). */
  constructor(options: RaftServerOptions, environment: Partial<ServerEnvironment> = {}) {
    validateServerOptions(options);
    this.environment = { ...nodeServerEnvironment, ...environment };
    this.options = options;
    this.id = options.id;
    this.groupId = options.groupId ?? 'default';
    this.limits = resolveLimits(options.limits);
    this.leaseMs = options.readLease === undefined ? 0 : readLeaseMs(options.readLease, this.limits);
    this.logger = options.logger ?? pino({ level: 'warn' });
    this.addresses = new Map(options.peers.map((peer) => [peer.id, peer.address]));
    this.recorder = new StageRecorder(options.profiling ?? true, Math.floor(options.peers.length / 2));
    this.events = new ServerEventHub(this.logger);
    this.followerLag = new FollowerLagWatch(this.limits.followerSlowLagEntries);
  }

  /**
   * Listens to one of the server's events (src/events.ts, where their order is documented):
   * `leaderChanged`, `leaderReady`, `configurationChanged`, `followerSlow`, `followerCaughtUp`,
   * `noLeader`. Listeners run on the server's thread after the state machine's hook for the same
   * event; one that throws is logged as a warning. Add them before `start()` to see the first
   * `configurationChanged`.
   */
  on<E extends ServerEventName>(event: E, listener: ServerEventListener<E>): this {
    this.checkEventName(event);
    this.events.on(event, listener);
    return this;
  }

  off<E extends ServerEventName>(event: E, listener: ServerEventListener<E>): this {
    this.checkEventName(event);
    this.events.off(event, listener);
    return this;
  }

  private checkEventName(event: string): void {
    if (!(serverEventNames as readonly string[]).includes(event)) {
      throw new ConfigurationError(`no server event '${event}'; the events are ${serverEventNames.join(', ')}`);
    }
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
    // The lock first: it checks the data directory and makes it (a bad one is refused by name).
    this.lock = environment.lockDir(this.options.dir);
    environment.fileSystem.mkdirSync(this.groupDir, { recursive: true });
    const smDir = path.join(this.groupDir, 'sm');
    environment.fileSystem.mkdirSync(smDir, { recursive: true });
    const stateMachine = stateMachineSpec(this.options.stateMachine);
    const context = { serverId: this.id, groupId: this.groupId, dir: smDir };
    this.leaderHooks = await environment.loadStateMachine(stateMachine);
    await this.leaderHooks.initialize?.(context);
    this.events.setHooks(this.leaderHooks);
    this.snapshotsSupported = typeof this.leaderHooks.takeSnapshot === 'function' && typeof this.leaderHooks.loadSnapshot === 'function';
    if (!this.snapshotsSupported) {
      this.logger.warn({ id: this.id, stateMachine }, 'the state machine takes no snapshots (no takeSnapshot/loadSnapshot): the log is never purged, and a replica that lost its disk replays all of it');
    }
    this.requests = new RequestPath(this, this.leaderHooks, this.recorder, environment.timers.setImmediate);
    this.sessionClock = new SessionClock(environment.monotonicMs, this.limits.sessionIdleMsMax);
    const profiling = this.recorder.profiling;
    if (this.options.unsafeNoFsync === true) {
      this.logger.warn({ id: this.id, unsafeNoFsync: true }, 'UNSAFE: fsync is OFF; acknowledged writes are lost on a machine crash');
    }
    const actors = environment.spawnActors(this.options.actors ?? 'workers', {
      log: { dir: this.groupDir, segmentBytesMax: this.limits.segmentBytesMax, profiling, unsafeNoFsync: this.options.unsafeNoFsync === true },
      updater: {
        stateMachine, context, profiling, sessionIdleMsMax: this.limits.sessionIdleMsMax,
        snapshotEvery: this.snapshotsSupported ? this.options.snapshotEvery ?? snapshotEveryDefault : 0,
        snapshotRetain: this.options.snapshotRetain ?? snapshotRetainDefault, configuration: toSnapshotConfiguration(this.bootstrap),
      },
      // The members come with the configuration in force, once the log is recovered (onConfiguration).
      appender: {
        id: this.id, groupId: this.groupId, peers: [], limits: this.limits, profiling, snapshotDir: smDir,
        ...(this.options.tls === undefined ? {} : { tls: tlsMaterialOf(this.options.tls) }),
      },
      heapSemiSpaceMb: this.limits.heapSemiSpaceMb,
    }, (error) => this.fail(error));
    this.actors = actors;
    const recovered = await actors.logControl.start();
    this.syncedIndex = recovered.lastIndex;
    this.snapshotLatest = recovered.snapshot;
    this.logFirstIndex = recovered.firstIndex;
    this.logBytes = recovered.bytes;
    for (const damaged of recovered.damagedSnapshots) {
      this.logger.warn({ id: this.id, ...damaged }, `snapshot ${damaged.file} is damaged (${damaged.reason}); an older one is used`);
    }
    if (recovered.logReset && recovered.snapshot !== null) {
      this.logger.warn({ id: this.id, snapshotIndex: recovered.snapshot.index },
        'the log did not continue the newest snapshot (an install was interrupted); it starts after the snapshot');
    }
    const cut = recovered.tailCut;
    if (cut !== null) {
      // Either a write torn by a crash (never acknowledged) or a damaged record: the leader sends
      // the entries again (appender-actor.ts), but an operator should know the disk dropped data.
      this.tailCut = cut;
      this.recorder.counters.logTailCuts++;
      this.recorder.counters.entriesCutAtRecovery += cut.lastIndex - cut.firstIndex + 1;
      this.logger.warn({ id: this.id, ...cut }, `log recovery cut a damaged tail: ${cut.file} from byte ${cut.offset}, entries ${cut.firstIndex}-${cut.lastIndex} dropped`);
    }
    await actors.updaterControl.start();
    await actors.appenderControl.start();
    const seed = environment.electionSeed(this.id);
    this.core = environment.makeCore({
      id: this.id,
      voters: this.bootstrap.voters.map((member) => member.id),
      electionTicksMin: this.limits.electionTicksMin,
      electionTicksMax: this.limits.electionTicksMax,
      rng: new SeededRng(seed),
      voteRequestsBeforePersist: true,
      ...(this.leaseMs > 0 ? { readLeaseMs: this.leaseMs, monotonicMs: environment.monotonicMs } : {}),
    }, {
      ...recovered, snapshot: recovered.snapshot === null ? null : { index: recovered.snapshot.index, term: recovered.snapshot.term },
      configurations: this.recoveredConfigurations(recovered),
    });
    // Before anything can reach the core: the configuration is the first event, before any leaderChanged.
    this.leaderKnown = { term: this.core.term, leaderId: null };
    this.noLeaderWatch = new NoLeaderWatch(this.limits.noLeaderMsMax, environment.monotonicMs());
    this.onConfiguration(this.core.configuration);
    actors.log.onMessage((message) => {
      this.logFirstIndex = message.firstIndex;
      this.logBytes = message.bytes;
      this.onLogSynced(message.seq, message.index);
      this.recorder.onLogSynced(message.stamps, message.syncStartUs, message.syncedUs);
    });
    actors.updater.onMessage((message) => {
      const requests = this.requireRequests();
      if (message.k === Kind.UpdaterApplied) {
        // The appender's commit stamps come first: the replies below complete their writes.
        for (let i = 0; i + 1 < message.commits.length; i += 2) this.recorder.stampCommitted(message.commits[i]!, message.commits[i + 1]!);
        if (message.appliedIndex > requests.appliedIndex) this.recorder.counters.entriesApplied += message.appliedIndex - requests.appliedIndex;
        requests.onApplied(message.appliedIndex, message.indexes, message.results, message.errors, message.loops);
        if (message.sessions !== undefined) requests.onSessions(message.sessions);
        this.observeLeaderReady();
      } else if (message.k === Kind.UpdaterQueryBatchResult) {
        requests.onQueryBatchResult(message.firstQueryId, message.results, message.errors);
      } else if (message.k === Kind.UpdaterSnapshotTaken) {
        this.onSnapshotTaken(message);
      } else if (message.k !== Kind.UpdaterQueryResult) {
        // (A single query's result: this server asks only in batches.)
        this.onInstallProgress(message);
      }
    });
    actors.appender.onMessage((message) => {
      const core = this.requireCore();
      if (message.k === Kind.AppenderHigherTerm) {
        core.onHigherTerm(message.term, null);
      } else if (message.term === core.term) {
        // Stamps first: the matches below may commit the batches they complete.
        if (core.role === 'leader') this.recorder.onAcks(message.acks);
        for (const [peer, requests, bytes] of message.inflight) this.inflightSeen.set(peer, [requests, bytes]);
        for (const [peer, index] of message.matches) {
          // A match only falls when the follower lost entries it had acknowledged (appender-actor.ts).
          if (index < (this.matchIndexSeen.get(peer) ?? 0)) {
            this.recorder.counters.followerLogResets++;
            this.logger.warn({ follower: peer, matchIndex: this.matchIndexSeen.get(peer) }, 'follower lost entries it had acknowledged; replicating to it again from its log end');
          }
          this.matchIndexSeen.set(peer, index);
          core.onMatch(peer, index);
        }
        for (const peer of message.contacts) core.onPeerContact(peer);
        this.snapshotHolds.clear();
        for (const [peer, index] of message.sending) this.snapshotHolds.set(peer, index);
        for (const [peer, index, bytes, ms] of message.installs) {
          this.recorder.counters.snapshotsSent++;
          this.recorder.counters.snapshotSendBytes += bytes;
          this.recorder.counters.snapshotSendMs += ms;
          this.logger.info({ follower: peer, snapshotIndex: index, bytes, ms }, 'follower installed the snapshot');
        }
        for (const [peer, round] of message.roundAcks) core.onRoundAck(peer, round);
        for (const [peer, index] of message.commits) this.followerCommitSeen.set(peer, index);
      }
      this.processReady();
      this.observeWatches();
    });
    const listenAddress = this.options.listen ?? this.addresses.get(this.id)!;
    const tls = this.options.tls;
    this.listener = await environment.listen(listenAddress, {
      ...this.limits, stampChunks: profiling, counters: this.recorder.counters,
      // The handshake is part of a connection's way to its first frame, and bound like it.
      ...(tls === undefined ? {} : {
        tls: { material: tlsMaterialOf(tls), anonymousClients: tls.anonymousClients ?? 'refuse', handshakeTimeoutMs: this.limits.idleBeforeFirstFrameMs },
      }),
    }, {
      onMessage: (connection, message) => this.onInbound(connection, message),
      onClose: () => {},
    }, this.logger);
    // (A simulated server outside the configuration has no address of its own: nothing to warn of.)
    if (tls === undefined && typeof listenAddress === 'string' && !isLoopback(listenAddress)) {
      this.logger.warn({ id: this.id, listen: listenAddress },
        'INSECURE: plaintext on a non-loopback address: anyone who reaches this port can speak as any member or client; start with TLS (--tls-cert, --tls-key, --tls-ca)');
    }
    if (this.options.metricsAddress !== undefined) {
      this.metricsEndpoint = await MetricsEndpoint.listen(this.options.metricsAddress, () => this.metrics());
    }
    this.reportTermCeiling();
    this.ticker = environment.timers.setInterval(() => {
      this.requireCore().tick();
      this.processReady();
      this.requests?.onTick();
      if (this.watches.pending > 0) this.watches.expire(environment.monotonicMs(), this.replicationView());
      this.observeTransfer();
      this.checkConditions();
      this.tickSessions();
      this.observeFollowers();
      this.observeNoLeader();
    }, this.limits.tickMs);
    this.logger.info({ id: this.id, lastIndex: recovered.lastIndex, term: recovered.hardState.term }, 'server started');
  }

  /**
   * New TLS material (a certificate renewed: `raftline server` reloads its files on SIGHUP): the
   * port's connections from now on get it, and so do the peer connections this server dials from
   * now on; open ones keep theirs. Material that cannot be used is refused (ConfigurationError)
   * and the old stays.
   */
  reloadTls(material: TlsMaterial): void {
    if (this.options.tls === undefined) throw new ConfigurationError('this server was started without TLS; it cannot take TLS material now');
    checkTlsMaterial(material, `server ${this.id}'s new`);
    this.listener?.setTlsMaterial?.(material);
    this.actors?.appender.send({ k: Kind.AppenderTls, material: tlsMaterialOf(material) });
    this.logger.info({ id: this.id }, 'TLS certificate, key and CA reloaded');
  }

  /** A term at the ceiling (limits.ts, termMax) stops elections for good: said once, loudly, with the way out. */
  private reportTermCeiling(): void {
    const core = this.requireCore();
    if (!core.termCeilingReached || this.termCeilingReported) return;
    this.termCeilingReported = true;
    this.logger.error({ id: this.id, term: core.term }, `term ${core.term} is at the ceiling: no election can succeed. ${termRecovery}`);
  }

  /** Closes the server; a second call (or one after a failure began closing) waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    if (this.ticker !== null) this.environment.timers.clearInterval(this.ticker);
    await this.metricsEndpoint?.close();
    await this.listener?.close();
    this.requests?.close(new ClosedError('server is closing'));
    this.watches.failAll(new ClosedError('server is closing'));
    this.transfers.abandon(new ClosedError('server is closing'));
    for (const condition of this.conditions.splice(0)) condition.reject(new ClosedError('server is closing'));
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

  /** `entries` is read only during the call (both sends copy it). */
  appendEntries(firstIndex: number, terms: number[], entries: Uint8Array): number {
    // The appender first: replication to the followers is the longer of the two paths to commit,
    // and a postMessage that wakes a sleeping actor can stall this thread while that actor runs.
    this.requireActors().appender.send({ k: Kind.AppenderEntries, firstIndex, terms, entries });
    const seq = this.submitToLog({ k: Kind.LogAppend, firstIndex, terms, entries });
    this.processReady();
    return seq;
  }

  /** On this server's own connection to the leader (the appender's), like a vote request. */
  sendReadIndexRequest(leaderId: string, term: number, requestId: number): void {
    const body = encode({ k: Kind.ReadIndexRequest, g: this.groupId, from: this.id, term, requestId } satisfies ReadIndexRequestMessage);
    this.requireActors().appender.send({ k: Kind.AppenderSend, to: leaderId, body });
  }

  /** On this server's own connection to the follower, like a vote response. */
  sendReadIndexReply(to: string, requestId: number, readIndex: number, error: WireError | null): void {
    const body = encode({
      k: Kind.ReadIndexReply, g: this.groupId, from: this.id, term: this.requireCore().term, requestId, ok: error === null, readIndex, error,
    } satisfies ReadIndexReplyMessage);
    this.requireActors().appender.send({ k: Kind.AppenderSend, to, body });
  }

  monotonicMs(): number {
    return this.environment.monotonicMs();
  }

  /** What this leader knows of its voters' progress (watches.ts). */
  private replicationView(): ReplicationView {
    const core = this.requireCore();
    const self = this.id;
    return {
      self,
      quorum: quorumOf(core.configuration.configuration),
      matchOf: (voter) => (voter === self ? this.syncedIndex : this.matchIndexSeen.get(voter) ?? 0),
      commitOf: (voter) => (voter === self ? core.commitIndex : Math.min(this.followerCommitSeen.get(voter) ?? 0, this.matchIndexSeen.get(voter) ?? 0)),
    };
  }

  private observeWatches(): void {
    if (this.watches.pending > 0 && this.core !== null && this.core.role === 'leader') this.watches.observe(this.replicationView());
  }

  /**
   * Resolves once entry `index` has reached `level` (WatchLevel), as this leader knows its voters'
   * progress; TIMEOUT after `timeoutMs` (details: the level, the index, the index reached), NOT_LEADER
   * on a server that does not lead or stops leading meanwhile.
   */
  watch(index: number, level: WatchLevel, timeoutMs: number): Promise<WatchResult> {
    const core = this.requireCore();
    if (core.role !== 'leader') return Promise.reject(this.notLeader(core.leaderId));
    return this.watches.add(index, level, timeoutMs, this.environment.monotonicMs(), this.replicationView());
  }

  sendQueryBatch(firstQueryId: number, data: Uint8Array[], stale: boolean): void {
    this.requireActors().updater.send({ k: Kind.UpdaterQueryBatch, firstQueryId, data, stale });
  }

  status(): ServerStatus {
    const core = this.requireCore();
    const requests = this.requireRequests();
    const counters = this.recorder.counters;
    const waiting = requests.readsWaiting;
    return {
      reads: {
        followerReadsServed: counters.followerReadsServed, readIndexRequestsSent: counters.readIndexRequestsSent,
        readIndexRepliesReceived: counters.readIndexRepliesReceived, readIndexRequestsAnswered: counters.readIndexRequestsAnswered,
        readsWaitingReadIndex: waiting.readIndex, readsWaitingApply: waiting.apply, staleReadsWaiting: waiting.staleApply,
        staleReadsWaited: counters.staleReadsWaited,
        watchesPending: this.watches.pending, watchesAnswered: this.watches.answered, watchesTimedOut: this.watches.timedOut,
      },
      id: this.id, groupId: this.groupId, role: core.role, term: core.term, leader: core.leaderId,
      commit: core.commitIndex, applied: requests.appliedIndex, synced: this.syncedIndex, lastIndex: core.lastIndex,
      logTailCut: this.tailCut, termCeilingReached: core.termCeilingReached,
      sessions: requests.sessions.held, pendingRequests: requests.pendingCount,
      snapshotIndex: this.snapshotLatest?.index ?? 0, snapshots: this.snapshotsSupported ? 'supported' : 'unsupported',
      firstLogIndex: this.logFirstIndex, logBytes: this.logBytes,
      electionPaused: core.electionsPaused, transferTarget: core.transferTarget,
      voters: core.configuration.configuration.voters.map((member) => member.id),
      learners: core.configuration.configuration.learners.map((member) => member.id),
      joint: core.configuration.configuration.outgoing !== null, configurationIndex: core.configuration.index,
      tls: this.options.tls !== undefined,
      readLease: { enabled: this.leaseMs > 0, validForMs: Math.floor(core.leaseRemainingMs()) },
    };
  }

  /** Through which index this server's log is durable, as its log actor last reported. */
  get durableIndex(): number {
    return this.syncedIndex;
  }

  /** The newest snapshot of this server (taken here or installed from a leader), or null. */
  latestSnapshot(): SnapshotInfo | null {
    return this.snapshotLatest;
  }

  /**
   * Takes a snapshot now (of everything applied when the updater gets the request) and resolves
   * with it once it is durable; the log is then purged below it, keeping `logKeep` entries.
   */
  snapshot(): Promise<SnapshotInfo> {
    const actors = this.requireActors();
    const requestId = this.nextSnapshotRequest++;
    return new Promise<SnapshotInfo>((resolve, reject) => {
      this.snapshotRequests.set(requestId, { resolve, reject });
      actors.updater.send({ k: Kind.UpdaterSnapshotNow, requestId });
    });
  }

  private onSnapshotTaken(message: UpdaterSnapshotTakenMessage): void {
    const waiting = message.requestId === 0 ? undefined : this.snapshotRequests.get(message.requestId);
    this.snapshotRequests.delete(message.requestId);
    if (message.error !== null || message.snapshot === null) {
      const error = errorFromWire(message.error ?? { code: 'STATE_MACHINE_ERROR', message: 'snapshot failed', details: {} });
      this.logger.error({ id: this.id, err: error }, `snapshot failed: ${error.message}`);
      waiting?.reject(error);
      return;
    }
    const snapshot = message.snapshot;
    if (message.durationMs > 0 || message.bytes > 0) {
      this.recorder.counters.snapshotsTaken++;
      this.recorder.counters.snapshotBytes += message.bytes;
      this.recorder.counters.snapshotMs += message.durationMs;
    }
    this.adoptSnapshot(snapshot);
    this.logger.info({ id: this.id, index: snapshot.index, bytes: message.bytes, ms: message.durationMs }, 'snapshot taken');
    waiting?.resolve(snapshot);
  }

  /** A durable snapshot at least as new as any before: the log may go below it, the appender sends it. */
  private adoptSnapshot(snapshot: SnapshotInfo): void {
    if (this.snapshotLatest !== null && snapshot.index <= this.snapshotLatest.index) return;
    this.snapshotLatest = snapshot;
    const actors = this.requireActors();
    actors.appender.send({ k: Kind.AppenderSnapshot, snapshot });
    let upTo = snapshot.index - (this.options.logKeep ?? logKeepDefault);
    for (const held of this.snapshotHolds.values()) upTo = Math.min(upTo, held);
    if (upTo > 0) this.submitToLog({ k: Kind.LogPurge, upTo });
  }

  /** A leader appends a clock entry when its session clock says so (session-clock.ts). */
  private tickSessions(): void {
    const core = this.core;
    const requests = this.requests;
    if (core === null || requests === null || this.sessionClock === null || core.role !== 'leader' || this.closed) return;
    const sessions = requests.sessions;
    const logTimeMs = this.sessionClock.due(core.term, requests.appliedIndex, sessions.held, sessions.logTimeMs);
    if (logTimeMs !== null) requests.appendClock(logTimeMs, this.limits.sessionIdleMsMax);
  }

  /**
   * Per-stage latency histograms, counters and gauges (src/metrics/types.ts). `reset` clears the
   * histograms after the snapshot is taken (a benchmark drops its warm-up so).
   */
  metrics(options: { reset?: boolean } = {}): MetricsSnapshot {
    const core = this.requireCore();
    const requests = this.requireRequests();
    const recorder = this.recorder;
    const leading = core.role === 'leader';
    const followers: Record<string, FollowerReplicationSnapshot> = {};
    let inFlightRequests = 0;
    let inFlightBytes = 0;
    if (leading) {
      for (const peer of membersOf(core.configuration.configuration)) {
        if (peer.id === this.id) continue;
        const [requestsInFlight, bytesInFlight] = this.inflightSeen.get(peer.id) ?? [0, 0];
        inFlightRequests += requestsInFlight;
        inFlightBytes += bytesInFlight;
        followers[peer.id] = {
          replicate: recorder.replicateSnapshot(peer.id), matchIndex: this.matchIndexSeen.get(peer.id) ?? 0,
          inFlightRequests: requestsInFlight, inFlightBytes: bytesInFlight,
        };
      }
    }
    const sessions = requests.sessions;
    recorder.counters.watchesAnswered = this.watches.answered;
    recorder.counters.watchesTimedOut = this.watches.timedOut;
    const counters = recorder.countersSnapshot();
    const readsWaiting = requests.readsWaiting;
    const connections = this.listener?.connectionCounts?.() ?? { members: 0, clients: 0, tlsMembers: 0, tlsClients: 0 };
    // Since the updater started (it replays the log at a restart, and counts those again).
    counters['sessionsOpened'] = sessions.opened;
    counters['sessionsEnded'] = sessions.ended;
    counters['sessionsExpired'] = sessions.expired;
    // The core counts its reads (raft-core.ts, ReadCounters).
    const reads = core.readCounters;
    counters['readRounds'] = reads.rounds;
    counters['readRoundReads'] = reads.roundReads;
    counters['leaseReads'] = reads.leaseReads;
    counters['leaseFallbacks'] = reads.leaseFallbacks;
    const cpu = process.cpuUsage();
    const mean = (total: number, count: number): number => (count === 0 ? 0 : total / count);
    const snapshot: MetricsSnapshot = {
      serverId: this.id,
      role: core.role === 'preCandidate' ? 'precandidate' : core.role,
      term: core.term,
      takenAtMs: Date.now(),
      profiling: recorder.profiling,
      stages: recorder.leaderSnapshot(),
      followers,
      followerStages: recorder.followerSnapshot(),
      readStages: recorder.readSnapshot(),
      counters,
      gauges: {
        pendingRequests: requests.pendingCount,
        pendingBytes: requests.pendingBytes,
        logQueueMessages: this.submittedSeq - this.syncedSeq,
        updaterQueueEntries: Math.max(0, core.commitIndex - requests.appliedIndex),
        appendBatchEntriesMean: mean(counters['entriesAppended']!, counters['appendBatches']!),
        replicationBatchEntriesMean: mean(counters['entriesReplicated']!, counters['replicationAcks']!),
        followerBatchEntriesMean: mean(counters['entriesReceived']!, counters['appendEntriesReceived']!),
        inFlightRequests,
        inFlightBytes,
        lastIndex: core.lastIndex,
        syncedIndex: this.syncedIndex,
        commitIndex: core.commitIndex,
        appliedIndex: requests.appliedIndex,
        // Client sessions the updater holds, and clients the retry cache holds (at most the same on a leader).
        sessionsHeld: sessions.held,
        retryCacheClients: requests.retryCacheClients,
        sessionLogTimeMs: sessions.logTimeMs,
        // Since the process started: CPU of all its threads, and the main thread's busy time. A
        // difference of two snapshots over the writes between them gives CPU per write.
        processCpuUs: cpu.user + cpu.system,
        mainThreadActiveUs: Math.round(performance.eventLoopUtilization().active * 1000),
        // Inbound connections by kind (listener.ts: the slots above clientConnectionsMax are the members').
        memberConnections: connections.members,
        clientConnections: connections.clients,
        // Of those, connections authenticated by a TLS certificate (0 on a plaintext port).
        tlsMemberConnections: connections.tlsMembers,
        tlsClientConnections: connections.tlsClients,
        termCeilingReached: core.termCeilingReached ? 1 : 0,
        // The newest snapshot's index, the log's first index and its bytes on disk.
        snapshotIndex: this.snapshotLatest?.index ?? 0,
        firstLogIndex: this.logFirstIndex,
        logBytes: this.logBytes,
        // Elections paused here (maintenance), and a leadership transfer under way on this leader.
        electionPaused: core.electionsPaused ? 1 : 0,
        transferring: core.transferTarget === null ? 0 : 1,
        // Reads waiting here: for the leader's read index (follower reads), for this server's apply
        // (follower reads and stale reads with a minIndex; the stale ones apart), and watches.
        readsWaitingReadIndex: readsWaiting.readIndex,
        readsWaitingApply: readsWaiting.apply,
        staleReadsWaiting: readsWaiting.staleApply,
        watchesPending: this.watches.pending,
        // Reads per heartbeat round (since start), and how long this leader's read lease holds from now.
        readsPerRoundMean: mean(reads.roundReads, reads.rounds),
        leaseValidForMs: Math.floor(core.leaseRemainingMs()),
      },
      memory: this.memory(),
    };
    if (options.reset === true) recorder.resetHistograms();
    return snapshot;
  }

  /** The process's resident memory and each JavaScript thread's heap (src/metrics/memory.ts). */
  memory(): MemorySnapshot {
    const nowMs = Date.now();
    return { ...sampleProcessMemory(), threads: { main: sampleThreadHeap(), ...(this.actors?.threadHeaps(nowMs) ?? {}) } };
  }

  // ---- the log actor and durability ---------------------------------------------------------

  private submitToLog(message: LogInputBody): number {
    const seq = ++this.submittedSeq;
    this.requireActors().log.send({ ...message, seq } as LogInput);
    return seq;
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
    // A report sent before the log took the last truncation may name an index whose entry has been
    // replaced since (and is not yet durable): the leader's own match counts only from later reports.
    if (core.role === 'leader' && seq >= this.truncationSeq) core.onLocalSynced(index);
    this.processReady();
    this.observeWatches();
  }

  // ---- the core's decisions -----------------------------------------------------------------

  processReady(): void {
    const core = this.core;
    if (core === null || this.closed || !core.hasReady()) return;
    const ready: Ready = core.ready();
    const actors = this.requireActors();
    if (ready.hardState !== null) {
      const term = ready.hardState.term;
      this.submitToLog({ k: Kind.LogWriteMeta, term, votedFor: ready.hardState.votedFor });
      this.whenDurable(() => core.onHardStateDurable(term));
    }
    for (const out of ready.messages) this.sendCoreMessage(out);
    if (ready.messagesAfterPersist.length > 0) {
      const messages = ready.messagesAfterPersist;
      this.whenDurable(() => { for (const out of messages) this.sendCoreMessage(out); });
    }
    if (ready.leaderStart !== null) {
      const start = ready.leaderStart;
      // Replication gauges start over with the term: the appender reports them afresh.
      this.matchIndexSeen.clear();
      this.followerCommitSeen.clear();
      this.inflightSeen.clear();
      this.snapshotHolds.clear();
      this.followerLag.reset();
      this.leaderSinceMs = this.environment.monotonicMs();
      // The core's log already holds the no-op (Raft §8), so the log writes it even if leadership
      // was lost within the same step; the appender starts only if this node still leads.
      const noopSeq = this.submitToLog({ k: Kind.LogAppend, firstIndex: start.noopIndex, terms: [start.term], entries: noopEntries });
      this.sessionClock?.onLeaderStart(start.term, start.noopIndex);
      this.leaderReadyPending = core.role === 'leader' && core.term === start.term ? { term: start.term, index: start.noopIndex } : null;
      if (core.role === 'leader' && core.term === start.term) actors.appender.send({
        k: Kind.AppenderLeaderStart, term: start.term, commitIndex: start.commitIndex, lastIndex: start.noopIndex,
        termRuns: core.termRuns(), followers: [...start.followers], quorum: quorumOf(core.configuration.configuration), noopSeq,
        truncations: this.truncationsSubmitted,
        snapshot: this.snapshotLatest,
      });
    }
    if (ready.configurationAppend !== null) {
      const { index, term, configuration } = ready.configurationAppend;
      this.appendConfigurationEntry(index, term, configuration);
    }
    if (ready.configuration !== null) this.onConfiguration(ready.configuration);
    if (ready.roleChange !== null) {
      this.logger.info({ id: this.id, ...ready.roleChange }, 'role change');
      this.reportTermCeiling();
      if (ready.roleChange.role !== 'leader') {
        actors.appender.send({ k: Kind.AppenderStepDown, term: ready.roleChange.term });
        this.requireRequests().failAll(this.notLeader(ready.roleChange.leaderId));
        this.watches.failAll(this.notLeader(ready.roleChange.leaderId));
      }
      this.requireRequests().onLeaderChange(ready.roleChange.term, ready.roleChange.leaderId);
      this.observeTransfer();
    }
    if (ready.commitIndex !== null) {
      // A leader's commits are stamped when its appender decided them (they come with the applies).
      this.recorder.onCommitted(ready.commitIndex, this.commitIndexSeen, core.role !== 'leader');
      this.commitIndexSeen = Math.max(this.commitIndexSeen, ready.commitIndex);
      // A leader's appender decided this commit already and told the updater (appender-actor.ts).
      if (core.role !== 'leader') this.noticeCommit(ready.commitIndex);
    }
    if (ready.heartbeatRound !== null) actors.appender.send({ k: Kind.AppenderHeartbeatRound, round: ready.heartbeatRound });
    if (ready.readsFailed.length > 0) this.requireRequests().onReadsFailed(ready.readsFailed, this.notLeader(core.leaderId));
    if (ready.readsReady.length > 0) this.requireRequests().onReadsReady(ready.readsReady);
    this.checkConditions();
    // Last: a listener that calls back into the server finds this turn's effects done.
    if (ready.roleChange !== null) this.observeLeader(ready.roleChange.term, ready.roleChange.leaderId);
  }

  // ---- events (src/events.ts) -----------------------------------------------------------------

  private emit<E extends ServerEventName>(event: E, payload: ServerEvents[E]): void {
    if (!this.closed) this.events.emit(event, payload);
  }

  /**
   * The configuration in force here changed (at start: the command line's, index 0). The one way
   * configurationChanged is emitted, so membership changes announce themselves the same way.
   */
  private emitConfiguration(configuration: ConfigurationChangedEvent): void {
    this.logger.info({ id: this.id, ...configuration }, 'configuration');
    this.emit('configurationChanged', configuration);
  }

  /** The core announced (term, leader): leaderChanged when either changed since the last one. */
  private observeLeader(term: number, leaderId: string | null): void {
    const known = this.leaderKnown;
    if (known.term === term && known.leaderId === leaderId) return;
    this.leaderKnown = { term, leaderId };
    this.noLeaderWatch?.onLeader(leaderId, this.environment.monotonicMs());
    this.recorder.counters.leaderChanges++;
    this.observeTakeover(term, leaderId);
    this.emit('leaderChanged', { term, leaderId });
    this.observeLeaderReady();
  }

  /** A leader known for `term`: an election this server started on TimeoutNow was won (or lost). */
  private observeTakeover(term: number, leaderId: string | null): void {
    const takeover = this.takeover;
    if (takeover === null || takeover.wonMs !== null) return;
    if (leaderId === this.id && term === takeover.term) {
      takeover.wonMs = this.environment.monotonicMs();
      this.recorder.counters.takeovers++;
      this.recorder.counters.takeoverElectionMs += tenths(takeover.wonMs - takeover.sinceMs);
    } else if (leaderId !== null || term > takeover.term) {
      this.takeover = null;
    }
  }

  /** leaderReady once this leader has applied its term's no-op, and only after that term's leaderChanged. */
  private observeLeaderReady(): void {
    const pending = this.leaderReadyPending;
    const core = this.core;
    if (pending === null || core === null || this.requests === null) return;
    if (core.role !== 'leader' || core.term !== pending.term) {
      this.leaderReadyPending = null;
      return;
    }
    if (this.leaderKnown.term !== pending.term || this.leaderKnown.leaderId !== this.id || this.requests.appliedIndex < pending.index) return;
    this.leaderReadyPending = null;
    const takeover = this.takeover;
    if (takeover !== null && takeover.term === pending.term && takeover.wonMs !== null) {
      this.recorder.counters.takeoverReadyMs += tenths(this.environment.monotonicMs() - takeover.wonMs);
      this.takeover = null;
    }
    this.logger.info({ id: this.id, ...pending }, 'leader ready: its no-op is applied');
    this.emit('leaderReady', { term: pending.term, index: pending.index });
  }

  /**
   * On a leader, each tick: followers whose match fell too far behind the commit index, or came
   * back. A follower that has reported no match this term (down since before the election) counts
   * as matching nothing once it has had an election timeout to answer.
   */
  private observeFollowers(): void {
    const core = this.core;
    if (core === null || core.role !== 'leader' || this.closed) return;
    const answered = this.environment.monotonicMs() - this.leaderSinceMs >= this.limits.electionTicksMax * this.limits.tickMs;
    const commitIndex = core.commitIndex;
    for (const peer of membersOf(core.configuration.configuration)) {
      if (peer.id === this.id) continue;
      const seen = this.matchIndexSeen.get(peer.id);
      if (seen === undefined && !answered) continue;
      const matchIndex = seen ?? 0;
      const change = this.followerLag.check(peer.id, matchIndex, commitIndex);
      if (change === null) continue;
      const event = { follower: peer.id, lag: commitIndex - matchIndex, matchIndex, commitIndex };
      if (change === 'slow') {
        this.recorder.counters.followerSlowEvents++;
        this.logger.warn({ id: this.id, ...event, lagMax: this.limits.followerSlowLagEntries }, `follower ${peer.id} is ${event.lag} entries behind the commit index`);
        this.emit('followerSlow', event);
      } else {
        this.logger.info({ id: this.id, ...event }, `follower ${peer.id} caught up`);
        this.emit('followerCaughtUp', event);
      }
    }
  }

  /** Each tick: a stretch without a known leader that has just outlasted noLeaderMsMax. */
  private observeNoLeader(): void {
    const core = this.core;
    if (core === null || this.noLeaderWatch === null || this.closed) return;
    const elapsedMs = this.noLeaderWatch.check(this.environment.monotonicMs());
    if (elapsedMs === null) return;
    const event = { sinceMs: Math.round(elapsedMs), term: core.term };
    this.recorder.counters.noLeaderEvents++;
    this.logger.warn({ id: this.id, ...event, noLeaderMsMax: this.limits.noLeaderMsMax }, `no leader known for ${event.sinceMs} ms`);
    this.emit('noLeader', event);
  }

  /**
   * A follower's new commit index goes to the updater once, at the end of this turn: what else the
   * turn sends goes first, and commits decided in one turn travel as one message. The truncation
   * count is the one at the decision (see UpdaterCommitMessage). When the turn appends entries it
   * goes with them instead (onAppendEntries). A leader's commits reach the updater from its
   * appender, which decides them from the same reports a hop earlier (appender-actor.ts).
   */
  private noticeCommit(commitIndex: number): void {
    const notice = this.commitNotice;
    if (notice !== null && notice.commitIndex >= commitIndex) return;
    this.commitNotice = { commitIndex, truncations: this.truncationsSubmitted };
    if (notice !== null) return;
    this.environment.timers.setImmediate(() => {
      const pending = this.commitNotice;
      this.commitNotice = null;
      if (pending === null || this.closed || this.actors === null) return;
      this.actors.updater.send({ k: Kind.UpdaterCommit, commitIndex: pending.commitIndex, truncations: pending.truncations });
    });
  }

  private sendCoreMessage(out: OutMessage): void {
    const message = out.message;
    let body: Uint8Array;
    if (message.type === 'voteRequest') {
      body = encode({ k: Kind.VoteRequest, g: this.groupId, from: this.id, preVote: message.preVote, term: message.term,
        candidateId: message.candidateId, lastIndex: message.lastIndex, lastTerm: message.lastTerm, transfer: message.transfer } satisfies VoteRequestMessage);
    } else if (message.type === 'voteResponse') {
      body = encode({ k: Kind.VoteResponse, g: this.groupId, from: this.id, preVote: message.preVote, term: message.term,
        granted: message.granted } satisfies VoteResponseMessage);
    } else {
      body = encode({ k: Kind.TimeoutNow, g: this.groupId, from: this.id, term: message.term } satisfies TimeoutNowMessage);
      const startedMs = this.transfers.startedMs;
      if (startedMs !== null) this.recorder.counters.transferCatchUpMs += tenths(this.environment.monotonicMs() - startedMs);
      this.logger.info({ id: this.id, to: out.to, term: message.term }, 'handing leadership over (TimeoutNow)');
    }
    this.requireActors().appender.send({ k: Kind.AppenderSend, to: out.to, body });
  }

  // ---- leadership transfer and elections (thesis §3.10) ---------------------------------------

  /**
   * Hands this leader's leadership to `to` (a voter), or with `to` null to the follower with the
   * highest match (a step-down without an election timeout's gap). Resolves once this server
   * knows `to` leads; rejects with TRANSFER_FAILED when it does not happen within `timeoutMs`
   * (default: the longest election timeout) — this leader then takes writes again — and with
   * NOT_LEADER on a non-leader. Writes meanwhile get TRANSFER_IN_PROGRESS (retry after a few ms).
   * With `term`, only the leader of that term hands over (see AdminOperation).
   */
  transferLeadership(to: string | null, timeoutMs: number = this.limits.electionTicksMax * this.limits.tickMs, term?: number): Promise<TransferOutcome> {
    const core = this.requireCore();
    // Done already: the target leads, or (for a call naming the term it ends) a later term has a leader here.
    const done = core.role === 'leader' && core.transferTarget === null && (to === this.id || (term !== undefined && core.term > term));
    if (done) return Promise.resolve({ leader: this.id, term: core.term, ms: 0 });
    const running = core.transferTarget;
    if (running !== null && (to === null || to === running)) {
      // The same handover asked again; or one the core began itself (a leader that removed itself
      // hands over), which nobody waited for yet.
      return this.transfers.target === running ? this.transfers.join() : this.transfers.begin(running, core.term, this.environment.monotonicMs(), timeoutMs);
    }
    const started = core.transferLeadership(to, Math.max(1, Math.ceil(timeoutMs / this.limits.tickMs)));
    if (!started.ok) {
      if (started.reason === 'notLeader') return Promise.reject(this.notLeader(started.leaderId));
      if (started.reason === 'inProgress') return Promise.reject(this.transferInProgress(started.target));
      const message = started.reason === 'notVoter' ? `${started.target} is not a voter of group ${this.groupId}` : `group ${this.groupId} has no other voter`;
      return Promise.reject(new TransferFailedError(`cannot transfer leadership: ${message}`, { target: started.target, reason: started.reason }));
    }
    this.recorder.counters.transfersStarted++;
    this.logger.info({ id: this.id, target: started.target, term: core.term, timeoutMs }, 'leadership transfer started');
    const outcome = this.transfers.begin(started.target, core.term, this.environment.monotonicMs(), timeoutMs);
    this.processReady();
    return outcome;
  }

  /** Steps down in favour of the most caught-up follower (transferLeadership(null)), if this server leads now. */
  stepDown(timeoutMs?: number): Promise<TransferOutcome> {
    return this.transferLeadership(null, timeoutMs, this.requireCore().term);
  }

  /** Pauses (true) or resumes elections on this server: while paused it never campaigns nor takes a handed-over leadership. */
  setElectionPaused(paused: boolean): ElectionState {
    const core = this.requireCore();
    if (core.electionsPaused !== paused) this.logger.info({ id: this.id }, paused ? 'elections paused' : 'elections resumed');
    core.setElectionsPaused(paused);
    return { server: this.id, electionPaused: paused };
  }

  /** The group's members as this server knows them: the configuration in force here (Raft §6: the latest in its log). */
  configuration(): ConfigurationReport {
    const core = this.requireCore();
    const { index, configuration } = core.configuration;
    return { ...configuration, index, committed: index <= core.commitIndex, leader: core.leaderId, term: core.term, server: this.id };
  }

  // ---- membership (Raft §6) ------------------------------------------------------------------

  /** The configuration the servers were started with (`peers`), or none for a server that joins. */
  private get bootstrap(): GroupConfiguration {
    return { voters: this.options.peers.map((peer) => ({ id: peer.id, address: peer.address })), learners: [], outgoing: null };
  }

  /** The configuration in force at the recovered log's start (the snapshot's, or the start-up one), then the log's configuration entries. */
  private recoveredConfigurations(recovered: LogRecovered): ConfigurationAt[] {
    const snapshot = recovered.snapshot;
    const base: ConfigurationAt = snapshot === null
      ? { index: 0, configuration: this.bootstrap }
      : { index: snapshot.index, configuration: fromSnapshotConfiguration(snapshot.configuration, (id) => this.addresses.get(id) ?? '') };
    const found: ConfigurationAt[] = [base];
    const decoder = new EntryDecoder();
    for (const { index, payload } of recovered.configurations) {
      const configuration = decodeConfigurationData(decoder.decode(payload).data);
      if (configuration !== null && index > base.index) found.push({ index, configuration });
    }
    return found;
  }

  /** The configuration in force changed (or is known at start): addresses, the appender's connections and quorum. */
  private onConfiguration(at: ConfigurationAt): void {
    const members = membersOf(at.configuration);
    this.addresses.clear();
    for (const member of members) this.addresses.set(member.id, member.address);
    const routes = this.options.peerRoutes ?? {};
    this.requireActors().appender.send({
      k: Kind.AppenderConfiguration, quorum: quorumOf(at.configuration),
      members: members.filter((member) => member.id !== this.id).map((member) => ({ id: member.id, address: routes[member.id] ?? member.address })),
    });
    this.recorder.counters.configurationChanges++;
    const { voters, learners, outgoing } = at.configuration;
    this.emitConfiguration({ voters, learners, outgoing, index: at.index });
  }

  /** Writes and replicates a configuration entry the core appended (as leader). */
  private appendConfigurationEntry(index: number, term: number, configuration: GroupConfiguration): void {
    this.appendEntries(index, [term], packPayloads([configurationPayload(configuration)]));
  }

  /**
   * Changes the membership to `voters` and `learners` (joint consensus, new voters staged as
   * learners until caught up within `catchUpTimeoutMs`): resolves with the configuration once the
   * change is committed. This server must lead; MEMBERSHIP_CHANGE_REFUSED otherwise says why.
   */
  async setConfiguration(target: { voters: Member[]; learners: Member[] }, catchUpTimeoutMs = membershipCatchUpMsDefault): Promise<ConfigurationReport> {
    const core = this.requireCore();
    if (core.role !== 'leader') throw this.notLeader(core.leaderId);
    this.recorder.counters.membershipChangesStarted++;
    try {
      await changeMembership(this.membershipHost(), target, catchUpTimeoutMs, Math.max(catchUpTimeoutMs, 10 * this.limits.electionTicksMax * this.limits.tickMs));
    } catch (error) {
      this.recorder.counters.membershipChangesFailed++;
      throw error;
    }
    this.recorder.counters.membershipChangesDone++;
    return this.configuration();
  }

  /** Adds one server (a voter unless `learner`), keeping every other member. */
  addServer(member: Member, options: { learner?: boolean; catchUpTimeoutMs?: number } = {}): Promise<ConfigurationReport> {
    const current = this.requireCore().configuration.configuration;
    const without = (list: readonly Member[]): Member[] => list.filter((other) => other.id !== member.id);
    const target = options.learner === true
      ? { voters: without(current.voters), learners: [...without(current.learners), member] }
      : { voters: [...without(current.voters), member], learners: without(current.learners) };
    return this.setConfiguration(target, options.catchUpTimeoutMs);
  }

  /** Removes one server (voter or learner). */
  removeServer(id: string): Promise<ConfigurationReport> {
    const current = this.requireCore().configuration.configuration;
    if (!membersOf(current).some((member) => member.id === id)) {
      return Promise.reject(new MembershipChangeError(`${id} is not a member of group ${this.groupId}`, { reason: 'unknownMember', id }));
    }
    return this.setConfiguration({
      voters: current.voters.filter((member) => member.id !== id), learners: current.learners.filter((member) => member.id !== id),
    });
  }

  private membershipHost(): MembershipHost {
    const core = this.requireCore();
    return {
      id: this.id,
      configuration: () => core.configuration,
      configurationChanging: () => core.configurationChanging,
      commitIndex: () => core.commitIndex,
      isLeader: () => core.role === 'leader',
      propose: (configuration) => {
        const result = core.proposeConfiguration(configuration);
        if (result.ok) this.appendConfigurationEntry(result.index, result.term, configuration);
        return result;
      },
      matchOf: (peer) => this.matchIndexSeen.get(peer) ?? 0,
      waitUntil: (done, timeoutMs, what) => this.waitUntil(done, timeoutMs, what),
      log: (message, fields) => this.logger.info({ id: this.id, ...fields }, message),
    };
  }

  /** Resolves once `done()` holds, looked at after every step; rejects on lost leadership or after `timeoutMs`. */
  private waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.conditions.push({ done, resolve, reject, deadlineMs: this.environment.monotonicMs() + timeoutMs, what });
    });
  }

  private checkConditions(): void {
    if (this.conditions.length === 0 || this.core === null) return;
    const core = this.core;
    const nowMs = this.environment.monotonicMs();
    const waiting = this.conditions;
    this.conditions = [];
    for (const condition of waiting) {
      if (condition.done()) condition.resolve();
      else if (core.role !== 'leader') condition.reject(this.notLeader(core.leaderId));
      else if (nowMs >= condition.deadlineMs) condition.reject(new MembershipChangeError(`timed out waiting for ${condition.what}`, { reason: 'timeout' }));
      else this.conditions.push(condition);
    }
  }

  private observeTransfer(): void {
    const core = this.core;
    if (core === null) return;
    const end = this.transfers.observe(core, this.environment.monotonicMs());
    if (end === null) return;
    if (end.ok) {
      this.recorder.counters.transfersCompleted++;
      this.recorder.counters.transferMs += end.outcome.ms;
      this.logger.info({ id: this.id, ...end.outcome }, 'leadership transferred');
    } else {
      this.recorder.counters.transfersFailed++;
      this.logger.warn({ id: this.id, code: end.error.code, ...end.error.details }, end.error.message);
    }
  }

  private admin(operation: AdminOperation): Promise<AdminResult> {
    switch (operation.op) {
      case 'transferLeadership': return this.transferLeadership(operation.to, operation.timeoutMs, operation.term);
      case 'pauseElection': return Promise.resolve(this.setElectionPaused(true));
      case 'resumeElection': return Promise.resolve(this.setElectionPaused(false));
      case 'configuration': return Promise.resolve(this.configuration());
      case 'setConfiguration': return this.setConfiguration({ voters: operation.voters, learners: operation.learners }, operation.catchUpTimeoutMs);
      case 'addServer': return this.addServer(operation.member, { learner: operation.learner, catchUpTimeoutMs: operation.catchUpTimeoutMs });
      case 'removeServer': return this.removeServer(operation.id);
      case 'watch': return this.watch(operation.index, operation.level, operation.timeoutMs);
    }
  }

  transferInProgress(target: string, count = 1): TransferInProgressError {
    this.recorder.counters.requestsRefusedInTransfer += count;
    const what = target === this.id ? `${this.id} is taking over the leadership` : `leader ${this.id} is handing leadership to ${target}`;
    return new TransferInProgressError(`${what}; retry`,
      { target, ...(this.addresses.has(target) ? { targetAddress: this.addresses.get(target) } : {}), retryAfterMs: transferRetryAfterMs });
  }

  notLeader(knownLeader: string | null): NotLeaderError {
    // Just deposed by a transfer it led: the target is the likely leader before any message says so.
    const leaderId = knownLeader ?? this.transfers.target;
    const details: Record<string, unknown> = {};
    if (leaderId !== null && leaderId !== this.id) {
      details['leaderId'] = leaderId;
      // A leader this server has no address for (it was removed, or has not learned the members yet) is named without one.
      const address = this.addresses.get(leaderId);
      if (address !== undefined) details['leaderAddress'] = address;
    }
    // The members in force, for a client that knows only servers since replaced (channel.ts, learn).
    if (this.addresses.size > 0) details['members'] = [...this.addresses.values()];
    return new NotLeaderError(`server ${this.id} is not the leader`, details);
  }

  // ---- inbound messages ---------------------------------------------------------------------

  private onInbound(connection: Inbound, message: InboundMessage): void {
    if (this.closed) return;
    // On a TLS port every connection has an identity; a request beyond its role is refused here,
    // before the request path (and so before startTransaction or any append).
    const identity = connection.identity;
    if (identity !== null) {
      const denied = permissionRefusal(identity, message);
      if (denied !== null) {
        this.recorder.counters.permissionDenied++;
        this.logger.warn({ remote: identity, kind: kindName(message.k) }, denied.message);
        this.refuseMessage(connection, message, denied);
        return;
      }
    }
    if ('g' in message && message.g !== this.groupId) {
      this.refuseMessage(connection, message, new GroupMismatchError(`group ${message.g} is not served here; this server runs group ${this.groupId}`,
        { groupId: message.g, served: this.groupIds }));
      return;
    }
    if ((message.k === Kind.AppendEntries || message.k === Kind.InstallSnapshot || message.k === Kind.VoteRequest || message.k === Kind.VoteResponse ||
        message.k === Kind.TimeoutNow || message.k === Kind.PeerHello || message.k === Kind.ReadIndexRequest || message.k === Kind.ReadIndexReply) &&
        !this.acceptPeerMessage(connection, message)) {
      return;
    }
    this.dispatch(connection, message);
  }

  /** Answers a message refused as a whole with `error`, in the reply its kind expects (a call's, or a Refused frame). */
  private refuseMessage(connection: Inbound, message: InboundMessage, error: RaftlineError): void {
    if (message.k === Kind.SnapshotRequest) {
      connection.send({ k: Kind.SnapshotReply, callId: message.callId, ok: false, snapshot: null, error: error.toWire() });
    } else if (message.k === Kind.AdminRequest) {
      connection.send({ k: Kind.AdminReply, callId: message.callId, ok: false, result: null, error: error.toWire() });
    } else if (message.k === Kind.ClientRequest || message.k === Kind.StatusRequest || message.k === Kind.MetricsRequest) {
      connection.send({ k: Kind.ClientReply, callId: message.callId, ok: false, result: null, error: error.toWire(), index: 0 });
    } else if (message.k === Kind.ClientRequestBatch) {
      for (const callId of message.callIds) connection.replyBatched(callId, 0, null, error.toWire());
    } else {
      connection.send({ k: Kind.Refused, error: error.toWire() });
    }
  }

  private dispatch(connection: Inbound, message: InboundMessage): void {
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
      case Kind.MetricsRequest:
        connection.send({ k: Kind.MetricsReply, callId: message.callId, metrics: this.metrics({ reset: message.reset }) });
        break;
      case Kind.AppendEntries:
        this.onAppendEntries(connection, message);
        break;
      case Kind.InstallSnapshot:
        this.onInstallSnapshot(connection, message);
        break;
      case Kind.SnapshotRequest:
        this.snapshot().then(
          (snapshot) => connection.send({ k: Kind.SnapshotReply, callId: message.callId, ok: true, snapshot, error: null }),
          (error: unknown) => connection.send({ k: Kind.SnapshotReply, callId: message.callId, ok: false, snapshot: null, error: errorToWire(error) }),
        );
        break;
      case Kind.VoteRequest:
        this.requireCore().step(message.from, {
          type: 'voteRequest', preVote: message.preVote, term: message.term, candidateId: message.candidateId,
          lastIndex: message.lastIndex, lastTerm: message.lastTerm, transfer: message.transfer === true,
        });
        this.processReady();
        break;
      case Kind.TimeoutNow: {
        const core = this.requireCore();
        this.recorder.counters.timeoutNowReceived++;
        this.logger.info({ id: this.id, from: message.from, term: message.term, paused: core.electionsPaused }, 'leadership handed over (TimeoutNow)');
        core.step(message.from, { type: 'timeoutNow', term: message.term });
        if (core.role === 'candidate') this.takeover = { term: core.term, sinceMs: this.environment.monotonicMs(), wonMs: null };
        this.processReady();
        break;
      }
      case Kind.AdminRequest:
        this.admin(message.operation).then(
          (result) => connection.send({ k: Kind.AdminReply, callId: message.callId, ok: true, result, error: null }),
          (error: unknown) => connection.send({ k: Kind.AdminReply, callId: message.callId, ok: false, result: null, error: errorToWire(error) }),
        );
        break;
      case Kind.ReadIndexRequest:
        this.requireRequests().onReadIndexRequest(message.from, message.term, message.requestId);
        break;
      case Kind.ReadIndexReply:
        this.requireRequests().onReadIndexReply(message.from, message.term, message.requestId, message.readIndex,
          message.ok ? null : errorFromWire(message.error ?? { code: 'LEADER_NOT_READY', message: 'read index refused', details: {} }));
        break;
      case Kind.VoteResponse:
        this.requireCore().step(message.from, { type: 'voteResponse', preVote: message.preVote, term: message.term, granted: message.granted });
        this.processReady();
        break;
      default:
        // PeerHello: acceptPeerMessage identified the connection.
        break;
    }
  }

  /** Takes a server message only from its member's connection (peer-gateway.ts); a refusal is counted, logged and answered. */
  private acceptPeerMessage(connection: Inbound, message: PeerInbound): boolean {
    // A server that joins knows no member until the leader's entries or snapshot name them: it takes the leader's word.
    const joining = this.requireCore().configuration.configuration.voters.length === 0;
    const refusal = peerMessageRefusal(connection, message, this.groupId, (id) => id !== this.id && (joining || this.addresses.has(id)), this.id);
    if (refusal === null) return true;
    const { error, close } = refusal;
    if (refusal.tlsReason === undefined) this.recorder.counters.peerMessagesRefused++;
    else this.recorder.counters[tlsRefusalCounter(refusal.tlsReason)]++;
    this.logger.warn({ from: message.from, kind: kindName(message.k), peer: connection.peerId, code: error.code }, error.message);
    connection.send({ k: Kind.Refused, error: error.toWire() });
    if (close) connection.close(error.message);
    return false;
  }

  // ---- snapshots from the leader (Raft §7) ---------------------------------------------------

  /**
   * A chunk of the leader's snapshot: the core checks the sender leads this term (a stale leader is
   * answered with this term), then the updater takes the chunk. Answers leave once the term this
   * message may have raised is durable.
   */
  private onInstallSnapshot(connection: Inbound, message: InstallSnapshotMessage): void {
    const core = this.requireCore();
    if (this.refusedSecondLeader(connection, message)) return;
    const decision = core.handleInstallSnapshot(message.term, message.from);
    this.processReady();
    if (!decision.ok) {
      this.replyInstall(connection, message.seq, { success: false, file: 0, offset: 0, installed: false, matchIndex: 0, error: null });
      return;
    }
    const installId = this.nextInstallId++;
    this.installsPending.set(installId, { connection, seq: message.seq, from: message.from });
    this.requireActors().updater.send({
      k: Kind.UpdaterInstallChunk, installId, manifest: message.manifest, file: message.file, offset: message.offset, data: message.data,
      crc32c: message.crc32c, commitIndex: core.commitIndex,
    });
  }

  private onInstallProgress(message: UpdaterInstallProgressMessage): void {
    const pending = this.installsPending.get(message.installId);
    this.installsPending.delete(message.installId);
    if (pending === undefined) return;
    const core = this.requireCore();
    if (message.error !== null) {
      this.logger.warn({ from: pending.from, code: message.error.code, reason: message.error.details?.['reason'] }, `snapshot chunk refused: ${message.error.message}`);
      // The follower's log end, for a leader whose snapshot is older than what is here.
      this.replyInstall(pending.connection, pending.seq, {
        success: false, file: message.file, offset: message.offset, installed: false, matchIndex: core.lastIndex, error: message.error,
      });
      return;
    }
    const installed = message.installed;
    if (installed === null) {
      this.replyInstall(pending.connection, pending.seq, { success: true, file: message.file, offset: message.offset, installed: false, matchIndex: 0, error: null });
      return;
    }
    if (this.snapshotLatest === null || installed.index > this.snapshotLatest.index) {
      const { keepLog } = core.onSnapshotInstalled(installed.index, installed.term,
        fromSnapshotConfiguration(installed.configuration, (id) => this.addresses.get(id) ?? ''));
      if (!keepLog) {
        // Counted like a truncation: commits sent after it wait in the updater until it arrives (UpdaterCommitMessage).
        this.truncationsSubmitted++;
        this.truncationSeq = this.submitToLog({ k: Kind.LogReset, index: installed.index, term: installed.term });
      }
      if (message.bytes > 0) {
        this.recorder.counters.snapshotsInstalled++;
        this.recorder.counters.snapshotInstallBytes += message.bytes;
        this.recorder.counters.snapshotInstallMs += message.durationMs;
      }
      this.logger.info({ id: this.id, index: installed.index, term: installed.term, keepLog, bytes: message.bytes, ms: message.durationMs },
        'installed the leader\'s snapshot');
      this.snapshotLatest = installed;
      this.processReady();
    }
    this.replyInstall(pending.connection, pending.seq, {
      success: true, file: message.file, offset: message.offset, installed: true, matchIndex: installed.index, error: null,
    });
  }

  private replyInstall(connection: Inbound, seq: number,
    fields: { success: boolean; file: number; offset: number; installed: boolean; matchIndex: number; error: WireError | null }): void {
    // The reply carries the term: it leaves once the term (and a log reset) is durable.
    this.whenDurable(() => connection.send({
      k: Kind.InstallSnapshotReply, g: this.groupId, from: this.id, term: this.requireCore().term, seq, ...fields,
    }));
  }

  /**
   * The first index at or below the commit index where `message` carries a term other than this
   * log's, or 0. A leader's requests overlap committed entries only on retransmission, so the
   * loop is usually empty.
   */
  private committedConflict(message: AppendEntriesMessage): number {
    const core = this.requireCore();
    const last = Math.min(core.commitIndex, message.prevIndex + message.terms.length);
    // Before the log's first known index (a snapshot) there is no term to compare: those entries are committed.
    const first = Math.max(message.prevIndex + 1, core.firstKnownIndex);
    for (let index = first; index <= last; index++) {
      if (core.termAt(index) !== message.terms[index - message.prevIndex - 1]) return index;
    }
    return 0;
  }

  /**
   * A second leader for this term: no correct member sends this (election safety, §5.2), so it is
   * refused here rather than reaching the core, which asserts the property. True when refused.
   */
  private refusedSecondLeader(connection: Inbound, message: AppendEntriesMessage | InstallSnapshotMessage): boolean {
    const core = this.requireCore();
    if (message.term !== core.term || !(core.role === 'leader' || (core.leaderId !== null && core.leaderId !== message.from))) return false;
    this.logger.warn({ from: message.from, term: message.term, leader: core.leaderId }, `refusing ${kindName(message.k)} from a second leader`);
    connection.send({ k: Kind.Refused, error: new ProtocolViolationError(
      `${message.from} claims to lead term ${message.term}, which ${core.leaderId ?? 'another server'} leads`,
      { from: message.from, term: message.term, leaderId: core.leaderId }).toWire() });
    return true;
  }

  private onAppendEntries(connection: Inbound, message: AppendEntriesMessage): void {
    const core = this.requireCore();
    if (this.refusedSecondLeader(connection, message)) return;
    const conflict = message.term >= core.term ? this.committedConflict(message) : 0;
    if (conflict > 0) {
      // Leader Completeness (§5.4): every leader holds the committed entries, so entries that
      // differ from them come from no correct member. Refused; the core asserts this too.
      this.logger.warn({ from: message.from, term: message.term, index: conflict }, 'refusing AppendEntries that contradicts committed entries');
      connection.send({ k: Kind.Refused, error: new ProtocolViolationError(
        `AppendEntries from ${message.from} replaces committed entry ${conflict} (commit index ${core.commitIndex})`,
        { from: message.from, term: message.term, index: conflict }).toWire() });
      return;
    }
    const header: AppendEntriesHeader = {
      term: message.term, leaderId: message.from, prevIndex: message.prevIndex, prevTerm: message.prevTerm,
      leaderCommit: message.leaderCommit, entryTerms: message.terms, configurations: configurationsIn(message.entries, message.terms.length),
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
      if (decision.truncateFrom !== null) this.truncationSeq = this.submitToLog({ k: Kind.LogTruncate, fromIndex: decision.truncateFrom });
      if (decision.appendFrom < message.terms.length) {
        // Stamped before the log can see it: the log actor's arrival stamp must not precede it.
        const submittedUs = this.recorder.profiling ? nowUs() : 0;
        // A commit index decided in this turn rides with the entries (one wake of the updater for
        // both); the updater gets it behind the truncation above, so it is not held for one.
        const commit = this.commitNotice;
        this.commitNotice = null;
        const seq = this.submitToLog({
          k: Kind.LogAppend, firstIndex: message.prevIndex + 1 + decision.appendFrom,
          terms: message.terms.slice(decision.appendFrom),
          entries: decision.appendFrom === 0 ? message.entries : packedFrom(message.entries, decision.appendFrom),
          ...(commit === null ? {} : { commitIndex: commit.commitIndex }),
        });
        this.recorder.onFollowerAppend(seq, message.terms.length - decision.appendFrom, connection.receivedUs, submittedUs);
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

/** Whether a listen address is on the loopback interface (plaintext there reaches no other machine). */
function isLoopback(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
