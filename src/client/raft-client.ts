/**
 * RaftClient: the user's handle on a raftline group (Ratis `RaftClient`). Writes and
 * linearizable reads go to the leader over one pipelined connection that follows NOT_LEADER
 * hints; stale reads and status may name a server and then go over that server's own connection.
 * Every call carries (clientId, callId) and keeps its callId across retries, which with the
 * server's retry cache makes a retried write exactly-once. Deadline and retry rules: channel.ts.
 *
 * Writes go within a session (the Raft dissertation's client sessions, §6.3): before its first
 * write the client opens one through the log, under its own id, and the servers answer with the
 * session's id (the client id and the open's log index) and their idle bound; its writes carry
 * that id, and every server deduplicates them within it. `close()` ends the session through the
 * log; a session idle past the bound is forgotten by every server at the same log entry. So the
 * servers hold only live sessions, and a late copy of a write of a forgotten session is answered
 * SESSION_EXPIRED, never applied again: session ids come from log indexes and are never reused.
 * A client idle for half the bound opens a new session before its next write. A write answered
 * SESSION_EXPIRED within its deadline, when that deadline is shorter than the bound, was never
 * applied (a session is forgotten only a whole bound after its last applied entry, and every copy
 * of the write was sent within the deadline of its making): the client sends it again in a new
 * session. With a deadline as long as the bound or longer it cannot know, and the call rejects
 * with SessionExpiredError.
 */
import { randomUUID } from 'node:crypto';
import { ClosedError, ConfigurationError, MalformedMessageError, RaftlineError } from '../errors.js';
import { clientDefaults, defaultLimits } from '../limits.js';
import { Kind } from '../messages/kinds.js';
import {
  RequestType, watchLevels, type AdminOperation, type ClientRequestMessage, type DivisionStatus, type ElectionState, type ConfigurationReport,
  type RequestTypeNumber, type TransferOutcome, type WatchLevel, type WatchResult,
} from '../messages/messages.js';
import { burstNow, Channel, type Call, type ChannelHost } from './channel.js';
import { parseAddress } from './connection.js';
import type { BackOff } from './retry-policy.js';
import type { MetricsSnapshot } from '../metrics/types.js';
import { CallTable } from '../call-table.js';
import { decode } from '../messages/codec.js';
import type { SnapshotInfo } from '../state-machine.js';
import type { Member } from '../core/configuration.js';
import { checkTlsMaterial, type ClientTls } from '../shell/tls-identity.js';

/** The client's TLS options, checked: a CA, and a certificate and key both or neither. */
function clientTlsOf(tls: ClientTls): ClientTls {
  if (typeof tls.ca !== 'string' || tls.ca.length === 0) throw new ConfigurationError('tls.ca must hold the PEM of the group\'s CA');
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new ConfigurationError('tls.cert and tls.key go together: give both or neither');
  checkTlsMaterial(tls, 'the client\'s');
  return { ca: tls.ca, ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key! }) };
}

export interface RaftClientOptions {
  /** Every server of the group, as 'host:port'; the first is tried first. */
  peers: string[];
  /** Defaults to 'default'. */
  groupId?: string;
  /** Defaults to 16 random bytes in hex. Reusing one across clients breaks exactly-once. */
  clientId?: string;
  /** Deadline of each call, from the moment it is made, retries included. Default 30000. */
  requestTimeoutMs?: number;
  /** Bounds of the back-off between retries. Defaults 20 and 1000. */
  retry?: { delayMsMin?: number; delayMsMax?: number };
  /** Longest `close()` waits for the servers to end the session before it closes anyway. Default 3000. */
  sessionCloseWaitMsMax?: number;
  /**
   * Where `sendReadOnly(data)` without a server goes: 'leader' (default; ReadIndex on the leader) or
   * 'followers': round-robin over the servers other than the leader, each asking the leader for a
   * read index and serving the read from its own state machine (still linearizable); a read whose
   * follower cannot serve it (unreachable, no leader known) goes to the leader instead.
   */
  readFrom?: 'leader' | 'followers';
  /**
   * Read-after-write (default true): stale and follower reads carry the log index of this client's
   * last acknowledged write as their minIndex, so a server serves them only once it has applied
   * that write: a client's reads always see its own acknowledged writes.
   */
  readYourWrites?: boolean;
  /**
   * TLS to the servers (PEM contents; `readTlsFiles` reads files): the CA of the group's
   * certificates, and this client's certificate and key, whose `raftline://role/` names what it may
   * do (src/shell/tls-identity.ts). A request beyond the role is refused with PermissionDeniedError.
   */
  tls?: ClientTls;
}

/** Where a read goes, and how stale it may be. */
export interface ReadOptions {
  /** The server (host:port) that serves the read. */
  server?: string;
  /**
   * Stale reads: the server serves the read only once it has applied this log index (it waits
   * for that, bounded by two election timeouts: TIMEOUT with the index it had reached). With
   * readYourWrites, at least the client's last acknowledged write.
   */
  minIndex?: number;
}

/** How long a watch waits by default (ms). */
const watchTimeoutMsDefault = 10_000;

/**
 * Administration of the group (Ratis's admin API). Servers are named by address, members (a
 * transfer's target) by id.
 */
export interface RaftAdmin {
  /** A snapshot on one server (default: the leader the client knows), once it is durable. */
  snapshot(server?: string): Promise<SnapshotInfo>;
  /**
   * The leader hands leadership to voter `to` (thesis §3.10): it stops taking writes (they are
   * answered TRANSFER_IN_PROGRESS and retried by clients), waits for `to` to catch up and tells
   * it to start an election at once. Resolves when the old leader knows `to` leads; TRANSFER_FAILED
   * after `timeoutMs` (default: the servers' longest election timeout), the old leader then
   * taking writes again.
   */
  transferLeadership(to: string, options?: { timeoutMs?: number }): Promise<TransferOutcome>;
  /** The leader hands over to its most caught-up follower: a step-down without an election timeout's gap. */
  stepDown(options?: { timeoutMs?: number }): Promise<TransferOutcome>;
  /** Stops elections on one server (maintenance): it never campaigns nor takes a handed-over leadership. */
  pauseElection(server: string): Promise<ElectionState>;
  resumeElection(server: string): Promise<ElectionState>;
  /** The group's members as one server (default: the leader the client knows) has them. */
  configuration(server?: string): Promise<ConfigurationReport>;
  /**
   * The leader changes the membership to `voters` and `learners` (joint consensus, Raft §6): new
   * voters first join as learners and must catch up within `catchUpTimeoutMs` (default 30 s),
   * else they are removed again and the call rejects with MEMBERSHIP_CHANGE_REFUSED
   * (`catchUpTimeout`). Resolves with the configuration once the change is committed.
   */
  setConfiguration(membership: { voters: Member[]; learners?: Member[] }, options?: { catchUpTimeoutMs?: number }): Promise<ConfigurationReport>;
  /** Adds one server, a voter unless `learner` (a new server started with `raftline server --join`). */
  addServer(member: Member, options?: { learner?: boolean; catchUpTimeoutMs?: number }): Promise<ConfigurationReport>;
  /** Removes one server, voter or learner (a leader removed steps down once the change commits). */
  removeServer(id: string): Promise<ConfigurationReport>;
}

/** The session this client's writes go in, as the servers opened it. */
interface OpenSession {
  id: string;
  /** The servers' idle bound: a session idle this long is forgotten. */
  idleMsMax: number;
  /** When (performance.now()) the latest acknowledged write of it (or its open) was made. */
  activeMs: number;
}

const noData = new Uint8Array(0);
/** How long a new voter may take to catch up (RaftAdmin.setConfiguration). */
const catchUpMsDefault = 30_000;
/** A transfer's default timeout: the servers' longest election timeout at the default limits. */
const transferTimeoutMsDefault = defaultLimits.electionTicksMax * defaultLimits.tickMs;

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigurationError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

export class RaftClient {
  readonly clientId: string;
  readonly groupId: string;
  readonly peers: readonly string[];
  private readonly host: ChannelHost;
  private readonly leaderChannel: Channel;
  /** Channels to named servers, opened on first use, for stale reads and status. */
  private readonly serverChannels = new Map<string, Channel>();
  /** Calls not yet settled, by call id (their lowest is the firstUnacked every request carries). */
  private readonly outstanding = new CallTable<true>();
  private nextCallId = 1;
  private closed = false;
  private readonly closeWaitMs: number;
  /** The session writes go in; null before the first write, or once it must be replaced. */
  private session: OpenSession | null = null;
  /** Writes (held in the leader channel) waiting for a session to open, and whether one is opening. */
  private waiting: Call[] = [];
  private opening = false;
  /** The servers' idle bound, as the latest open told it (0 before the first). */
  private idleMsMaxSeen = 0;
  private readonly readFrom: 'leader' | 'followers';
  private readonly readYourWrites: boolean;
  /** The highest log index of this client's acknowledged writes (read-after-write). */
  private writeIndexSeen = 0;
  /** Channels of reads spread over followers (readFrom 'followers'), failing fast, and the next one to use. */
  private readonly followerChannels = new Map<string, Channel>();
  private nextFollower = 0;

  private constructor(options: RaftClientOptions) {
    if (!Array.isArray(options.peers) || options.peers.length === 0) {
      throw new ConfigurationError('peers must list at least one server address');
    }
    for (const peer of options.peers) parseAddress(peer);
    this.peers = [...options.peers];
    this.groupId = options.groupId ?? 'default';
    this.clientId = options.clientId ?? randomUUID().replace(/-/g, '');
    const retry: BackOff = {
      delayMsMin: positiveInteger('retry.delayMsMin', options.retry?.delayMsMin ?? clientDefaults.retryDelayMsMin),
      delayMsMax: positiveInteger('retry.delayMsMax', options.retry?.delayMsMax ?? clientDefaults.retryDelayMsMax),
    };
    if (retry.delayMsMin > retry.delayMsMax) {
      throw new ConfigurationError('retry.delayMsMin must not exceed retry.delayMsMax');
    }
    this.host = {
      requestTimeoutMs: positiveInteger('requestTimeoutMs', options.requestTimeoutMs ?? clientDefaults.requestTimeoutMs),
      retry,
      frameBytesMax: defaultLimits.frameBytesMax,
      connectTimeoutMs: clientDefaults.connectTimeoutMs,
      ...(options.tls === undefined ? {} : { tls: clientTlsOf(options.tls) }),
      firstUnacked: () => {
        return this.outstanding.oldestId() ?? this.nextCallId;
      },
      forget: (callId) => {
        this.outstanding.delete(callId);
      },
      acknowledged: (call, index) => this.onAcknowledged(call, index),
      renewSession: (call) => this.renewSession(call),
    };
    this.closeWaitMs = positiveInteger('sessionCloseWaitMsMax', options.sessionCloseWaitMsMax ?? clientDefaults.sessionCloseWaitMsMax);
    const readFrom = options.readFrom ?? 'leader';
    if (readFrom !== 'leader' && readFrom !== 'followers') {
      throw new ConfigurationError(`readFrom must be 'leader' or 'followers', got ${String(readFrom)}`);
    }
    this.readFrom = readFrom;
    if (options.readYourWrites !== undefined && typeof options.readYourWrites !== 'boolean') {
      throw new ConfigurationError(`readYourWrites must be a boolean, got ${String(options.readYourWrites)}`);
    }
    this.readYourWrites = options.readYourWrites ?? true;
    this.leaderChannel = new Channel(this.host, this.peers, true);
  }

  /**
   * Checks the options and returns a client. Dialing is lazy: the first call opens the
   * connection, and a group that is still starting is waited for within each call's deadline.
   */
  static async connect(options: RaftClientOptions): Promise<RaftClient> {
    return new RaftClient(options);
  }

  /** The id of the session the client's writes go in now, or null (none opened yet, or closed). */
  get sessionId(): string | null {
    return this.session?.id ?? null;
  }

  /** The server the client believes is the leader (or will try next). */
  get leader(): string {
    return this.leaderChannel.target;
  }

  /** A write: appended, replicated, applied; resolves with the state machine's result. */
  send(data: Uint8Array): Promise<Uint8Array | null> {
    return this.request(this.leaderChannel, RequestType.write, data);
  }

  /** The highest log index of this client's acknowledged writes (0 before the first). */
  get lastWriteIndex(): number {
    return this.writeIndexSeen;
  }

  /**
   * A linearizable read, answered by the state machine's query. By default ReadIndex on the leader;
   * with `server` (or the client's readFrom 'followers'), served by that server: a follower asks the
   * leader for a read index and answers once its own apply reaches it. A follower that cannot get
   * one (no leader known, the leader lost or changed) answers LEADER_NOT_READY, which the client
   * retries there within the call's deadline.
   */
  sendReadOnly(data: Uint8Array, options: ReadOptions = {}): Promise<Uint8Array | null> {
    const minIndex = this.minIndexOf(options);
    if (minIndex instanceof Error) return Promise.reject(minIndex);
    if (options.server !== undefined) {
      const channel = this.serverChannel(options.server);
      if (channel instanceof Error) return Promise.reject(channel);
      return this.request(channel, RequestType.followerRead, data, minIndex);
    }
    if (this.readFrom === 'followers') return this.spreadRead(data, minIndex);
    return this.request(this.leaderChannel, RequestType.readOnly, data);
  }

  /**
   * A read served by `server` (or the current leader connection's server) from its applied state,
   * with no leader involved: it may be stale, but never older than `minIndex` (and, with
   * readYourWrites, this client's last acknowledged write). `sendStaleRead(data, server)` is the
   * older form of `{ server }`.
   */
  sendStaleRead(data: Uint8Array, options?: string | ReadOptions): Promise<Uint8Array | null> {
    const read: ReadOptions = typeof options === 'string' ? { server: options } : options ?? {};
    const channel = read.server === undefined ? this.leaderChannel : this.serverChannel(read.server);
    if (channel instanceof Error) return Promise.reject(channel);
    const minIndex = this.minIndexOf(read);
    if (minIndex instanceof Error) return Promise.reject(minIndex);
    return this.request(channel, RequestType.staleRead, data, minIndex);
  }

  /**
   * Waits until log entry `index` has reached `level` (Ratis ReplicationLevel): 'MAJORITY' (stored on
   * a majority of the voters), 'ALL' (on every voter), 'MAJORITY_COMMITTED' / 'ALL_COMMITTED' (a
   * majority / every voter knows it committed). Answered by the leader, with the index each level
   * reached and each voter's match and commit index; TIMEOUT after `timeoutMs` (default 10 s, and
   * within the client's requestTimeoutMs), its details naming the level and the index reached.
   */
  watch(index: number, level: WatchLevel, options: { timeoutMs?: number } = {}): Promise<WatchResult> {
    if (!Number.isInteger(index) || index < 0) return Promise.reject(new ConfigurationError(`watch index must be a non-negative integer, got ${String(index)}`));
    if (!(watchLevels as readonly string[]).includes(level)) {
      return Promise.reject(new ConfigurationError(`watch level must be one of ${watchLevels.join(', ')}, got ${String(level)}`));
    }
    let timeoutMs: number;
    try {
      timeoutMs = positiveInteger('watch timeoutMs', options.timeoutMs ?? Math.min(watchTimeoutMsDefault, this.host.requestTimeoutMs));
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.adminCall<WatchResult>(this.leaderChannel, { op: 'watch', index, level, timeoutMs });
  }

  /** A read's minIndex: the one asked, raised to this client's last acknowledged write with readYourWrites. */
  private minIndexOf(options: ReadOptions): number | ConfigurationError {
    const asked = options.minIndex ?? 0;
    if (!Number.isInteger(asked) || asked < 0) return new ConfigurationError(`minIndex must be a non-negative integer, got ${String(asked)}`);
    return Math.max(asked, this.readYourWrites ? this.writeIndexSeen : 0);
  }

  /**
   * readFrom 'followers': the next follower in turn whose connection has not just failed serves
   * the read; when it cannot (unreachable, no leader to ask), the leader serves it instead.
   */
  private spreadRead(data: Uint8Array, minIndex: number): Promise<Uint8Array | null> {
    const channel = this.nextFollowerChannel();
    if (channel === null) return this.request(this.leaderChannel, RequestType.readOnly, data, minIndex);
    return this.request(channel, RequestType.followerRead, data, minIndex).catch((error: unknown) => {
      const code = error instanceof RaftlineError ? error.code : '';
      if (this.closed || code === 'STATE_MACHINE_ERROR' || code === 'CLOSED') throw error;
      return this.request(this.leaderChannel, RequestType.readOnly, data, minIndex);
    });
  }

  private nextFollowerChannel(): Channel | null {
    const leader = this.leaderChannel.target;
    const followers = this.peers.filter((peer) => peer !== leader);
    for (let tried = 0; tried < followers.length; tried++) {
      const server = followers[this.nextFollower++ % followers.length]!;
      let channel = this.followerChannels.get(server);
      if (channel === undefined) {
        channel = new Channel(this.host, [server], false, true);
        this.followerChannels.set(server, channel);
      }
      if (channel.usable) return channel;
    }
    return null;
  }

  /** The status of one server's division of this group. */
  status(server: string): Promise<DivisionStatus> {
    const channel = this.serverChannel(server);
    if (channel instanceof Error) return Promise.reject(channel);
    return new Promise<DivisionStatus>((resolve, reject) => {
      const callId = this.allocateCallId();
      channel.submit(this.newCall(callId, { k: Kind.StatusRequest, g: this.groupId, callId }, resolve, reject));
    });
  }

  /**
   * One server's metrics (per-stage latency histograms, counters, gauges); by default the server
   * the client takes for the leader. `reset` clears that server's histograms after the snapshot,
   * so a benchmark can drop its warm-up.
   */
  metrics(server?: string, options: { reset?: boolean } = {}): Promise<MetricsSnapshot> {
    const channel = this.serverChannel(server ?? this.leaderChannel.target);
    if (channel instanceof Error) return Promise.reject(channel);
    return new Promise<MetricsSnapshot>((resolve, reject) => {
      const callId = this.allocateCallId();
      const message = { k: Kind.MetricsRequest, g: this.groupId, callId, reset: options.reset === true } as const;
      channel.submit(this.newCall(callId, message, resolve, reject));
    });
  }

  /** Administration of the group's servers (RaftAdmin). */
  admin(): RaftAdmin {
    const transfer = (to: string | null, options: { timeoutMs?: number }, term?: number): Promise<TransferOutcome> =>
      this.adminCall<TransferOutcome>(this.leaderChannel, {
        op: 'transferLeadership', to, timeoutMs: options.timeoutMs ?? transferTimeoutMsDefault, ...(term === undefined ? {} : { term }),
      });
    const on = (server: string | undefined): Channel | Error => this.serverChannel(server ?? this.leaderChannel.target);
    // A step-down names the term it ends: the client resends a call whose connection dropped (as the
    // old leader's does when it steps down), and the copy must not make the new leader step down too.
    const stepDown = async (options: { timeoutMs?: number }): Promise<TransferOutcome> => {
      const { term } = await this.adminCall<ConfigurationReport>(this.leaderChannel, { op: 'configuration' });
      return transfer(null, options, term);
    };
    return {
      snapshot: (server?: string): Promise<SnapshotInfo> => {
        const channel = on(server);
        if (channel instanceof Error) return Promise.reject(channel);
        return new Promise<SnapshotInfo>((resolve, reject) => {
          const callId = this.allocateCallId();
          channel.submit(this.newCall(callId, { k: Kind.SnapshotRequest, g: this.groupId, callId } as const, resolve, reject));
        });
      },
      transferLeadership: (to, options = {}) => transfer(to, options),
      stepDown: (options = {}) => stepDown(options),
      pauseElection: (server) => this.adminCall<ElectionState>(on(server), { op: 'pauseElection' }),
      resumeElection: (server) => this.adminCall<ElectionState>(on(server), { op: 'resumeElection' }),
      configuration: (server) => this.adminCall<ConfigurationReport>(on(server), { op: 'configuration' }),
      setConfiguration: (membership, options = {}) => this.adminCall<ConfigurationReport>(this.leaderChannel, {
        op: 'setConfiguration', voters: membership.voters, learners: membership.learners ?? [], catchUpTimeoutMs: options.catchUpTimeoutMs ?? catchUpMsDefault,
      }),
      addServer: (member, options = {}) => this.adminCall<ConfigurationReport>(this.leaderChannel, {
        op: 'addServer', member, learner: options.learner === true, catchUpTimeoutMs: options.catchUpTimeoutMs ?? catchUpMsDefault,
      }),
      removeServer: (id) => this.adminCall<ConfigurationReport>(this.leaderChannel, { op: 'removeServer', id }),
    };
  }

  private adminCall<T>(channel: Channel | Error, operation: AdminOperation): Promise<T> {
    if (channel instanceof Error) return Promise.reject(channel);
    return new Promise<T>((resolve, reject) => {
      const callId = this.allocateCallId();
      channel.submit(this.newCall(callId, { k: Kind.AdminRequest, g: this.groupId, callId, operation } as const, resolve, reject));
    });
  }

  /**
   * Ends the client's session through the log (waiting for that at most `sessionCloseWaitMsMax`:
   * with no leader the servers forget it once it has been idle past their bound), then rejects
   * every call still outstanding with ClosedError and closes every connection.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const session = this.session;
    this.session = null;
    if (session !== null && performance.now() - session.activeMs < session.idleMsMax) {
      const callId = this.allocateCallId();
      const message: ClientRequestMessage = {
        k: Kind.ClientRequest, g: this.groupId, clientId: session.id, callId, firstUnacked: callId, type: RequestType.closeSession, data: noData,
      };
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<unknown>((settled) => this.leaderChannel.submit(this.newCall(callId, message, settled, settled))),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, this.closeWaitMs); }),
      ]);
      clearTimeout(timer);
    }
    this.leaderChannel.close();
    for (const channel of this.serverChannels.values()) channel.close();
    this.serverChannels.clear();
    for (const channel of this.followerChannels.values()) channel.close();
    this.followerChannels.clear();
  }

  private request(channel: Channel, type: RequestTypeNumber, data: Uint8Array, minIndex = 0): Promise<Uint8Array | null> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new TypeError('request data must be a Uint8Array'));
    }
    return new Promise<Uint8Array | null>((resolve, reject) => {
      if (this.closed) {
        reject(new ClosedError('the client is closed'));
        return;
      }
      const callId = this.allocateCallId();
      // firstUnacked is filled in each time the call goes out (channel.ts). A read needs no
      // session, but goes under the session's id when there is one, so that it shares the frame
      // of the writes made with it (a frame carries one client id).
      const session = type === RequestType.write ? this.liveSession() : this.session;
      const message: ClientRequestMessage = {
        k: Kind.ClientRequest, g: this.groupId, clientId: session?.id ?? this.clientId, callId, firstUnacked: callId, type, data,
        ...(minIndex > 0 ? { minIndex } : {}),
      };
      const call = this.newCall(callId, message, resolve, reject);
      if (type !== RequestType.write || session !== null) {
        channel.submit(call);
        return;
      }
      // Held: its deadline runs from now, but it goes out once the session is open.
      call.held = true;
      channel.submit(call);
      this.waitForSession(call);
    });
  }

  /** The session, unless none is open or it has been idle for half the servers' bound (then a new one is opened). */
  private liveSession(): OpenSession | null {
    const session = this.session;
    if (session !== null && burstNow() - session.activeMs > session.idleMsMax / 2) this.session = null;
    return this.session;
  }

  private waitForSession(call: Call): void {
    this.waiting.push(call);
    if (this.opening) return;
    this.opening = true;
    // Call id 0: an open is not one of the session's calls (no firstUnacked counts it), and at
    // most one is outstanding. Its reply names the session.
    const message: ClientRequestMessage = {
      k: Kind.ClientRequest, g: this.groupId, clientId: this.clientId, callId: 0, firstUnacked: 0, type: RequestType.openSession, data: noData,
    };
    const openedMs = performance.now();
    const done = (session: OpenSession | null, error: Error | null): void => {
      this.opening = false;
      const waiting = this.waiting;
      this.waiting = [];
      if (session !== null && !this.closed) {
        this.session = session;
        this.idleMsMaxSeen = session.idleMsMax;
      }
      for (const held of waiting) {
        if (session === null) {
          this.leaderChannel.fail(held, error ?? new ClosedError('the client is closed'));
        } else {
          (held.message as ClientRequestMessage).clientId = session.id;
          this.leaderChannel.release(held);
        }
      }
    };
    this.leaderChannel.submit(this.newCall(0, message, (result) => {
      const session = openedSession(result, openedMs);
      if (session instanceof Error) done(null, session);
      else done(session, null);
    }, (error) => done(null, error)));
  }

  /** A write of the current session succeeded: the session was active when the write was made. */
  private onAcknowledged(call: Call, index: number): void {
    const session = this.session;
    const message = call.message;
    if (message.k === Kind.ClientRequest && message.type === RequestType.write && index > this.writeIndexSeen) this.writeIndexSeen = index;
    if (session === null || message.k !== Kind.ClientRequest || message.type !== RequestType.write || message.clientId !== session.id) return;
    // The deadline was set when the call was submitted, just after it was made.
    session.activeMs = Math.max(session.activeMs, call.deadlineMs - this.host.requestTimeoutMs);
  }

  /**
   * A write answered SESSION_EXPIRED (see the file header): taken, and sent again under a new
   * session, when the call's deadline is shorter than the servers' bound, for then it was never
   * applied; otherwise it rejects with the error.
   */
  private renewSession(call: Call): boolean {
    const message = call.message;
    if (this.closed || message.k !== Kind.ClientRequest || message.type !== RequestType.write) return false;
    const current = this.session;
    if (!(this.host.requestTimeoutMs < this.idleMsMaxSeen)) return false;
    if (current !== null && current.id === message.clientId) this.session = null;
    const session = this.liveSession();
    if (session === null) {
      this.waitForSession(call);
    } else {
      message.clientId = session.id;
      this.leaderChannel.release(call);
    }
    return true;
  }

  private allocateCallId(): number {
    const callId = this.nextCallId++;
    this.outstanding.set(callId, true);
    return callId;
  }

  private newCall<T>(
    callId: number,
    message: Call['message'],
    resolve: (value: T) => void,
    reject: (error: Error) => void,
  ): Call {
    // The channel resolves a request call with bytes or null and a status call with a status.
    return {
      callId, message, resolve: resolve as (value: unknown) => void, reject,
      sentOn: null, retryCount: 0, retryTimer: null, deadlineMs: 0, lastError: null, held: false,
    };
  }

  private serverChannel(server: string): Channel | Error {
    if (this.closed) return new ClosedError('the client is closed');
    let channel = this.serverChannels.get(server);
    if (channel === undefined) {
      try {
        parseAddress(server);
      } catch (error) {
        return error as Error;
      }
      channel = new Channel(this.host, [server], false);
      this.serverChannels.set(server, channel);
    }
    return channel;
  }
}

/** The session an open's reply names, or why the reply is not one. */
function openedSession(result: unknown, openedMs: number): OpenSession | Error {
  let value: unknown;
  try {
    value = result instanceof Uint8Array ? decode(result) : null;
  } catch {
    value = null;
  }
  const fields = value as { session?: unknown; idleMsMax?: unknown } | null;
  if (fields === null || typeof fields !== 'object' || typeof fields.session !== 'string' ||
      typeof fields.idleMsMax !== 'number' || !(fields.idleMsMax > 0)) {
    return new MalformedMessageError('the reply to a session open does not name a session');
  }
  return { id: fields.session, idleMsMax: fields.idleMsMax, activeMs: openedMs };
}
