/**
 * The appender actor (Ratis `LogAppender`): owns the outbound connections to the other servers
 * and, while this server leads, each follower's replication progress: next and match index,
 * pipelined AppendEntries bounded by requests and bytes in flight, probing after a reject or a
 * reconnect, heartbeats, and catch-up reads from the log actor for entries that left its cache.
 * It reports matches, contacts and heartbeat-round acknowledgements to the server, batched per
 * drained queue. While leading it also decides the commit index where the acknowledgements arrive
 * and hands it straight to the updater (Ratis: the log appender updates the commit and notifies
 * the state machine updater), one thread hop instead of two through the server, and tells the
 * followers; the server's consensus core decides the same commit from the same reports for
 * itself (reads, status).
 *
 * It also carries the core's own messages (vote requests and responses) on the same connections.
 */
import { Kind } from '../messages/kinds.js';
import type {
  AppendEntriesMessage, AppendEntriesReplyMessage, AppenderConfigurationMessage, AppenderInput, AppenderLeaderStartMessage, InstallSnapshotMessage, InstallSnapshotReplyMessage,
  AppenderProgressMessage, AppenderHigherTermMessage, EntryBatch, LogDurableMessage, LogReadMessage, LogReadResultMessage,
  LogWatchMessage, PeerMessage, UpdaterCommitMessage,
} from '../messages/messages.js';
import { nextCommitIndex, type QuorumConfiguration } from '../core/commit-rule.js';
import { noopEntries } from '../messages/entry.js';
import { EntryRun, LENGTH_BYTES } from '../messages/packed-entries.js';
import type { ActorLink } from '../shell/actor-link.js';
import type { ActorControl } from '../shell/control.js';
import { PeerConnection, type PeerConnectionOptions } from '../shell/peer-connection.js';
import type { TlsMaterial } from '../shell/tls-identity.js';
import { nodeTimers, type TimerHandle, type Timers } from '../shell/timers.js';
import { TermLog } from '../core/term-runs.js';
import type { Limits } from '../limits.js';
import type { NodeId } from '../core/types.js';
import { nowUs } from '../metrics/clock.js';
import type { SnapshotInfo } from '../state-machine.js';
import { SnapshotStore, type SnapshotFiles } from '../snapshot/snapshot-store.js';
import { crc32c } from '../log/crc32c.js';
import { nodeFileSystem, type FileSystem } from '../log/file-system.js';

/** A heartbeat's entries: none. */
const noEntries = new Uint8Array(0);

export interface AppenderActorOptions {
  id: NodeId;
  groupId: string;
  peers: { id: NodeId; address: string }[];
  limits: Limits;
  /** Stamp AppendEntries sent and acknowledged for per-stage latency (reported in progress). */
  profiling?: boolean;
  /** The folder of this server's snapshots (`<groupDir>/sm`), streamed to followers the log no longer reaches. */
  snapshotDir?: string;
  /** Present the server's certificate to peers and check theirs (PEM contents); plaintext when absent. */
  tls?: TlsMaterial;
}

/** An outbound connection to one peer, as the appender uses it (PeerConnection in production). */
export interface PeerLink {
  readonly isConnected: boolean;
  send(message: unknown): boolean;
  sendBody(body: Uint8Array): boolean;
  /** Drops the connection now; it is dialed again as after any disconnect. */
  reset(): void;
  close(): void;
}

/** The actor's shell: Node's timers and TCP, or the simulator's clock and network. */
export interface AppenderActorEnvironment {
  timers: Timers;
  dial(options: PeerConnectionOptions): PeerLink;
  /** Where the snapshots are read from; node:fs unless given. */
  fileSystem?: FileSystem;
}

const nodeEnvironment: AppenderActorEnvironment = { timers: nodeTimers, dial: (options) => new PeerConnection(options) };

export interface AppenderStatus {
  leaderTerm: number | null;
  followers: { id: NodeId; connected: boolean; nextIndex: number; matchIndex: number; inflight: number; installing: number | null }[];
}

export interface AppenderActorLinks {
  main: ActorLink<AppenderInput, AppenderProgressMessage | AppenderHigherTermMessage>;
  log: ActorLink<LogReadResultMessage | LogDurableMessage, LogReadMessage | LogWatchMessage>;
  updater: ActorLink<never, UpdaterCommitMessage>;
}

interface Inflight {
  seq: number;
  lastIndex: number;
  entries: number;
  bytes: number;
  /** When it was sent (shared clock, µs; 0 when not profiling). */
  sentUs: number;
}

/**
 * A snapshot being sent to a follower (Raft §7): its files, the next chunk to send and the chunks in
 * flight. `acked` is where the follower said its install stands, from which a dropped connection
 * resumes.
 */
interface SnapshotSend {
  manifest: SnapshotInfo;
  files: SnapshotFiles;
  file: number;
  offset: number;
  acked: { file: number; offset: number };
  inflight: number[];
  bytesSent: number;
  startedMs: number;
}

interface Follower {
  id: NodeId;
  connection: PeerLink;
  nextIndex: number;
  matchIndex: number;
  inflight: Inflight[];
  inflightBytes: number;
  /** After a reject or a reconnect: one request at a time until one succeeds. */
  probing: boolean;
  /** Replies to requests numbered below this were overtaken by a reset; ignore them. */
  resetSeq: number;
  readPending: boolean;
  /** While the follower receives a snapshot instead of entries. */
  sending: SnapshotSend | null;
  /**
   * The leaderCommit of requests sent, [seq, leaderCommit], only where it rose: an acknowledged
   * request tells that the follower's commit index reached min(its leaderCommit, the match).
   */
  commitsSent: number[];
  /** The follower's commit index as far as acknowledgements tell (reported in progress.commits). */
  commitKnown: number;
}

interface LeaderState {
  term: number;
  /** The commit index: the followers are told it (leaderCommit), the updater gets each advance. */
  commitIndex: number;
  /** The voters (the followers and this server) as the commit rule counts them. */
  quorum: QuorumConfiguration;
  /** This server's durable index, from log reports of this term (seq >= noopSeq); 0 until one comes. */
  selfDurable: number;
  noopSeq: number;
  truncations: number;
  round: number;
  termLog: TermLog;
  /** Recent entries, as the server handed them over (packed): the first is at index cache.firstIndex. */
  cache: EntryRun;
}

export class AppenderActor implements ActorControl<void, AppenderStatus> {
  private readonly followers = new Map<NodeId, Follower>();
  private leader: LeaderState | null = null;
  private nextSeq = 1;
  private heartbeatTimer: TimerHandle | null = null;
  private progress: AppenderProgressMessage | null = null;
  private commitDecided = 0;
  /** The newest snapshot of this server, sent to followers behind the log's first index. */
  private snapshot: SnapshotInfo | null = null;
  private readonly store: SnapshotStore | null;
  /** The TLS material peer connections are dialed with (replaced by a reload); null: plaintext. */
  private tls: TlsMaterial | null;

  constructor(
    private readonly options: AppenderActorOptions,
    private readonly links: AppenderActorLinks,
    private readonly environment: AppenderActorEnvironment = nodeEnvironment,
  ) {
    this.store = options.snapshotDir === undefined ? null : new SnapshotStore(options.snapshotDir, environment.fileSystem ?? nodeFileSystem);
    this.tls = options.tls ?? null;
  }

  async start(): Promise<void> {
    for (const peer of this.options.peers) this.addFollower(peer);
    this.links.main.onMessage((message) => this.onMain(message));
    this.links.log.onMessage((message) => {
      if (message.k === Kind.LogReadResult) this.onLogRead(message);
      else this.onDurable(message);
    });
    this.heartbeatTimer = this.environment.timers.setInterval(() => this.heartbeatAll(), this.options.limits.heartbeatMs);
  }

  /** A connection to a member (kept while it is one), and its replication state. */
  private addFollower(peer: { id: NodeId; address: string }): Follower | null {
    if (peer.id === this.options.id || this.followers.has(peer.id)) return null;
    const tlsNow = (): TlsMaterial | undefined => this.tls ?? undefined;
    {
      const follower: Follower = {
        id: peer.id, nextIndex: 1, matchIndex: 0, inflight: [], inflightBytes: 0, probing: true, resetSeq: 0,
        readPending: false, sending: null, commitsSent: [], commitKnown: 0,
        connection: this.environment.dial({
          selfId: this.options.id,
          groupId: this.options.groupId,
          peerId: peer.id,
          address: peer.address,
          frameBytesMax: this.options.limits.frameBytesMax,
          frameShape: { nestingDepthMax: this.options.limits.frameNestingDepthMax, itemsMax: this.options.limits.frameItemsMax },
          reconnectDelayMsMin: this.options.limits.reconnectDelayMsMin,
          reconnectDelayMsMax: this.options.limits.reconnectDelayMsMax,
          // Read at each dial: a reload (AppenderTls) reaches the connections made after it.
          ...(this.tls === null ? {} : { get tls(): TlsMaterial | undefined { return tlsNow(); } }),
          onMessage: (message) => this.onPeerMessage(follower, message),
          onConnect: () => this.onConnect(follower),
          onDisconnect: () => this.resetFollower(follower),
        }),
      };
      this.followers.set(peer.id, follower);
      return follower;
    }
  }

  /**
   * The configuration in force changed: connections to new members open, those to members gone
   * close; a leader replicates to the new ones from its log's end (probing back as usual) and
   * counts the quorum given.
   */
  private reconfigure(message: AppenderConfigurationMessage): void {
    const wanted = new Set(message.members.map((member) => member.id));
    for (const [id, follower] of [...this.followers]) {
      if (wanted.has(id)) continue;
      this.endSnapshot(follower);
      follower.connection.close();
      this.followers.delete(id);
    }
    for (const member of message.members) {
      const follower = this.addFollower(member);
      if (follower === null || this.leader === null) continue;
      follower.nextIndex = this.lastIndex;
      follower.probing = true;
      this.sendEntries(follower);
    }
    if (this.leader !== null) {
      this.leader.quorum = message.quorum;
      this.decideCommit(this.leader);
    }
  }

  /** The highest commit index this actor has decided (as a leader, in any term); for the simulator's checkers. */
  get decidedCommitIndex(): number {
    return this.commitDecided;
  }

  async status(): Promise<AppenderStatus> {
    return {
      leaderTerm: this.leader?.term ?? null,
      followers: [...this.followers.values()].map((f) => ({
        id: f.id, connected: f.connection.isConnected, nextIndex: f.nextIndex, matchIndex: f.matchIndex, inflight: f.inflight.length,
        installing: f.sending?.manifest.index ?? null,
      })),
    };
  }

  async stop(): Promise<void> {
    if (this.heartbeatTimer !== null) this.environment.timers.clearInterval(this.heartbeatTimer);
    for (const follower of this.followers.values()) {
      this.endSnapshot(follower);
      follower.connection.close();
    }
  }

  private onMain(message: AppenderInput): void {
    switch (message.k) {
      case Kind.AppenderConfiguration:
        this.reconfigure(message);
        break;
      case Kind.AppenderTls:
        this.tls = message.material;
        break;
      case Kind.AppenderLeaderStart:
        this.startLeading(message);
        break;
      case Kind.AppenderEntries:
        this.appendToCache(message);
        for (const follower of this.followers.values()) this.sendEntries(follower);
        break;
      case Kind.AppenderStepDown:
        this.stopLeading();
        break;
      case Kind.AppenderHeartbeatRound:
        if (this.leader !== null) {
          this.leader.round = message.round;
          this.heartbeatAll();
        }
        break;
      case Kind.AppenderSend:
        this.followers.get(message.to)?.connection.sendBody(message.body);
        break;
      case Kind.AppenderSnapshot:
        // Followers already receiving one finish it; the next one starts with this.
        if (this.snapshot === null || message.snapshot.index > this.snapshot.index) this.snapshot = message.snapshot;
        break;
      default:
        break;
    }
  }

  private startLeading(message: AppenderLeaderStartMessage): void {
    if (message.snapshot !== null && (this.snapshot === null || message.snapshot.index > this.snapshot.index)) this.snapshot = message.snapshot;
    const termLog = new TermLog(message.termRuns, message.lastIndex);
    this.leader = {
      term: message.term,
      commitIndex: message.commitIndex,
      quorum: message.quorum,
      selfDurable: 0,
      noopSeq: message.noopSeq,
      truncations: message.truncations,
      round: 0,
      termLog,
      // The no-op that opens the term is the last entry; the server appends it to the log too.
      cache: new EntryRun(message.lastIndex),
    };
    this.leader.cache.push(noopEntries, [message.term]);
    for (const follower of this.followers.values()) {
      follower.matchIndex = 0;
      follower.commitKnown = 0;
      follower.nextIndex = message.lastIndex;
      this.endSnapshot(follower);
      this.clearInflight(follower);
      follower.probing = true;
      this.sendEntries(follower);
    }
    this.links.log.send({ k: Kind.LogWatch, on: true });
  }

  private stopLeading(): void {
    if (this.leader === null) return;
    this.leader = null;
    for (const follower of this.followers.values()) this.endSnapshot(follower);
    this.links.log.send({ k: Kind.LogWatch, on: false });
  }

  /** The log's durable index: it counts for this term once the log holds the term's no-op submission. */
  private onDurable(message: LogDurableMessage): void {
    const leader = this.leader;
    if (leader === null || message.seq < leader.noopSeq || message.index <= leader.selfDurable) return;
    leader.selfDurable = message.index;
    this.decideCommit(leader);
  }

  /**
   * The commit rule (src/core/commit-rule.ts, the one the core runs too), with this server's own
   * durable index as its match. A new commit goes to the updater at once; followers
   * learn it with the next AppendEntries or heartbeat (a message on every advance would double the
   * messages per write at low load, and a follower's apply is on no client's path).
   */
  private decideCommit(leader: LeaderState): void {
    const self = this.options.id;
    const index = nextCommitIndex(leader.quorum, (voter) => (voter === self ? leader.selfDurable : this.followers.get(voter)?.matchIndex ?? 0),
      leader.term, leader.commitIndex, (at) => leader.termLog.termAt(at));
    if (index <= leader.commitIndex) return;
    leader.commitIndex = index;
    if (index > this.commitDecided) this.commitDecided = index;
    this.links.updater.send({
      k: Kind.UpdaterCommit, commitIndex: index, truncations: leader.truncations, ...(this.options.profiling ? { committedUs: nowUs() } : {}),
    });
  }

  private appendToCache(batch: EntryBatch): void {
    const leader = this.leader;
    if (leader === null) return;
    const cache = leader.cache;
    if (batch.firstIndex !== cache.nextIndex) return;
    leader.termLog.append(batch.firstIndex, batch.terms);
    cache.push(batch.entries, batch.terms);
    // Keep the cache bounded; a follower that falls behind it is served by log reads. Once over
    // the bound, a quarter is dropped at once, so the arrays shift once per quarter of the cache
    // rather than on every batch. The bound is on the memory held, not the payloads (EntryRun).
    const bytesMax = this.options.limits.appenderCacheBytesMax;
    if (cache.heldBytes > bytesMax) cache.dropFrontTo(bytesMax * 0.75);
  }

  private get lastIndex(): number {
    const leader = this.leader;
    return leader === null ? 0 : leader.cache.nextIndex - 1;
  }

  /** Pipelines batches from the cache while the follower's in-flight bounds allow. */
  private sendEntries(follower: Follower): void {
    const leader = this.leader;
    if (leader === null || !follower.connection.isConnected || follower.readPending) return;
    if (follower.sending !== null) {
      this.sendChunks(follower);
      return;
    }
    const limits = this.options.limits;
    const lastIndex = this.lastIndex;
    for (;;) {
      const inflightMax = follower.probing ? 1 : limits.appendInflightMax;
      if (follower.inflight.length >= inflightMax || follower.inflightBytes >= limits.appendInflightBytesMax) return;
      if (follower.nextIndex > lastIndex) return;
      const cache = leader.cache;
      if (follower.nextIndex < cache.firstIndex) {
        follower.readPending = true;
        this.links.log.send({
          k: Kind.LogRead, peer: follower.id, fromIndex: follower.nextIndex,
          maxCount: limits.appendBatchEntriesMax, maxBytes: limits.appendBatchBytesMax,
        });
        return;
      }
      const start = follower.nextIndex - cache.firstIndex;
      let end = start;
      let bytes = 0;
      while (end < cache.length && end - start < limits.appendBatchEntriesMax) {
        const size = cache.payloadLength(end);
        if (end > start && bytes + size > limits.appendBatchBytesMax) break;
        bytes += size;
        end++;
      }
      this.sendBatch(follower, follower.nextIndex, cache.termsOf(start, end), cache.packed(start, end), bytes);
    }
  }

  /** Sends `terms.length` entries, packed in `entries`, holding `bytes` bytes of payload. */
  private sendBatch(follower: Follower, firstIndex: number, terms: number[], entries: Uint8Array, bytes: number): void {
    const leader = this.leader!;
    const prevIndex = firstIndex - 1;
    const seq = this.nextSeq++;
    const message: AppendEntriesMessage = {
      k: Kind.AppendEntries, g: this.options.groupId, from: this.options.id, term: leader.term, prevIndex,
      prevTerm: leader.termLog.termAt(prevIndex) ?? 0, leaderCommit: leader.commitIndex, terms, entries, seq,
      round: leader.round,
    };
    if (!follower.connection.send(message)) return;
    this.noteCommitSent(follower, seq, leader.commitIndex);
    follower.inflight.push({
      seq, lastIndex: prevIndex + terms.length, entries: terms.length, bytes, sentUs: this.options.profiling ? nowUs() : 0,
    });
    follower.inflightBytes += bytes;
    follower.nextIndex = prevIndex + terms.length + 1;
  }

  private sendHeartbeat(follower: Follower): void {
    if (this.leader === null || !follower.connection.isConnected) return;
    if (follower.sending !== null) {
      // A follower receiving a snapshot hears from the leader through its chunks.
      this.pollSnapshot(follower);
      return;
    }
    if (follower.probing && follower.inflight.length > 0) return;
    const leader = this.leader;
    const prevIndex = follower.nextIndex - 1;
    const seq = this.nextSeq++;
    const sent = follower.connection.send({
      k: Kind.AppendEntries, g: this.options.groupId, from: this.options.id, term: leader.term, prevIndex,
      prevTerm: leader.termLog.termAt(prevIndex) ?? 0, leaderCommit: leader.commitIndex, terms: [], entries: noEntries,
      seq, round: leader.round,
    } satisfies AppendEntriesMessage);
    if (sent) this.noteCommitSent(follower, seq, leader.commitIndex);
  }

  /** Remembers a request's leaderCommit when it is above every one still unacknowledged (the list stays short and rising). */
  private noteCommitSent(follower: Follower, seq: number, commitIndex: number): void {
    const sent = follower.commitsSent;
    const highest = sent.length > 0 ? sent[sent.length - 1]! : follower.commitKnown;
    if (commitIndex > highest) sent.push(seq, commitIndex);
  }

  /** A success reply to request `seq`: the follower's commit index reached min(that request's leaderCommit, its match). */
  private noteCommitAcked(follower: Follower, seq: number, matchIndex: number, progress: AppenderProgressMessage): void {
    const sent = follower.commitsSent;
    let acked = 0;
    let done = 0;
    while (done < sent.length && sent[done]! <= seq) {
      acked = sent[done + 1]!;
      done += 2;
    }
    if (done > 0) sent.splice(0, done);
    const known = Math.min(Math.max(acked, follower.commitKnown), matchIndex);
    if (known > follower.commitKnown) {
      follower.commitKnown = known;
      progress.commits.push([follower.id, known]);
    }
  }

  private heartbeatAll(): void {
    if (this.leader === null) return;
    for (const follower of this.followers.values()) this.sendHeartbeat(follower);
  }

  private onConnect(follower: Follower): void {
    this.resetFollower(follower);
    if (this.leader !== null) this.sendHeartbeat(follower);
  }

  /** After a reconnect or reject nothing in flight can be trusted: probe from the end of the log. */
  private resetFollower(follower: Follower): void {
    this.clearInflight(follower);
    follower.probing = true;
    follower.readPending = false;
    const sending = follower.sending;
    if (sending !== null) {
      // Resumes from where the follower last said its install stood.
      sending.inflight = [];
      sending.file = sending.acked.file;
      sending.offset = sending.acked.offset;
    }
    if (this.leader !== null) follower.nextIndex = Math.max(follower.matchIndex + 1, this.lastIndex + 1);
  }

  private clearInflight(follower: Follower): void {
    follower.commitsSent = [];
    follower.inflight = [];
    follower.inflightBytes = 0;
    follower.resetSeq = this.nextSeq;
  }

  private onPeerMessage(follower: Follower, message: PeerMessage): void {
    if (message.k === Kind.AppendEntriesReply || message.k === Kind.InstallSnapshotReply) {
      // This connection was dialed to the follower's address: a reply in anyone else's name (or
      // another group's) is not from the follower, and the connection is dropped and dialed again.
      if (message.from !== follower.id || message.g !== this.options.groupId) {
        process.emitWarning(`a reply on the connection to ${follower.id} claims to be from ${message.from} of group ${message.g}; reconnecting`);
        follower.connection.reset();
        return;
      }
      if (message.k === Kind.AppendEntriesReply) this.onAppendReply(follower, message);
      else this.onInstallReply(follower, message);
    } else if (message.k === Kind.Refused) {
      process.emitWarning(`server ${follower.id} refused a request: ${message.error.message}`);
    }
  }

  /**
   * A follower's reply of some term: a higher one ends this leadership (§5.1), a lower one is
   * stale; one of this term counts as contact and gets the progress report it adds to.
   */
  private replyOfTerm(follower: Follower, term: number): { leader: LeaderState; progress: AppenderProgressMessage } | null {
    const leader = this.leader;
    if (leader === null) return null;
    if (term > leader.term) {
      this.stopLeading();
      this.links.main.send({ k: Kind.AppenderHigherTerm, term });
      return null;
    }
    if (term < leader.term) return null;
    const progress = this.pendingProgress(leader.term);
    progress.contacts.push(follower.id);
    return { leader, progress };
  }

  private onAppendReply(follower: Follower, reply: AppendEntriesReplyMessage): void {
    const current = this.replyOfTerm(follower, reply.term);
    if (current === null) return;
    const { leader, progress } = current;
    progress.roundAcks.push([follower.id, reply.round]);
    if (reply.seq < follower.resetSeq || follower.sending !== null) return;
    if (reply.success) {
      const ackedUs = this.options.profiling && follower.inflight.length > 0 ? nowUs() : 0;
      while (follower.inflight.length > 0 && follower.inflight[0]!.seq <= reply.seq) {
        const acked = follower.inflight.shift()!;
        follower.inflightBytes -= acked.bytes;
        progress.acks.push([follower.id, acked.lastIndex, acked.entries, acked.sentUs, ackedUs]);
      }
      if (reply.matchIndex > follower.matchIndex) {
        follower.matchIndex = reply.matchIndex;
        progress.matches.push([follower.id, reply.matchIndex]);
        this.decideCommit(leader);
      }
      this.noteCommitAcked(follower, reply.seq, reply.matchIndex, progress);
      follower.probing = false;
    } else {
      this.clearInflight(follower);
      follower.probing = true;
      follower.readPending = false;
      if (reply.nextIndexHint <= follower.matchIndex) {
        // The follower's log ends before what it acknowledged: it restarted without it (a replaced
        // disk, a damaged last record cut at recovery). Its old match describes entries it no
        // longer holds, so it counts for nothing any more, here and in the server's core; a
        // success reply proves the next one. Replication starts over from its hint.
        follower.matchIndex = 0;
        progress.matches.push([follower.id, 0]);
      }
      follower.nextIndex = Math.min(Math.max(reply.nextIndexHint, follower.matchIndex + 1), this.lastIndex + 1);
      if (follower.nextIndex > this.lastIndex) this.sendHeartbeat(follower);
    }
    this.sendEntries(follower);
  }

  private onLogRead(result: LogReadResultMessage): void {
    const follower = this.followers.get(result.peer);
    if (follower === undefined || this.leader === null) return;
    follower.readPending = false;
    if (result.terms.length === 0 && result.firstIndex === follower.nextIndex && follower.nextIndex < result.logFirstIndex) {
      // The log was purged past what this follower needs: it gets the snapshot (Raft §7).
      this.startSnapshot(follower);
    } else if (result.terms.length > 0 && result.firstIndex === follower.nextIndex) {
      const bytes = result.entries.length - result.terms.length * LENGTH_BYTES;
      this.sendBatch(follower, result.firstIndex, result.terms, result.entries, bytes);
    }
    this.sendEntries(follower);
  }

  // ---- snapshots to followers behind the log (Raft §7) ----

  private startSnapshot(follower: Follower): void {
    const snapshot = this.snapshot;
    if (snapshot === null || this.store === null || follower.sending !== null) {
      process.emitWarning(`follower ${follower.id} needs entries the log no longer holds, and this server has no snapshot to send`);
      return;
    }
    let files: SnapshotFiles;
    try {
      files = this.store.open(snapshot);
    } catch (error) {
      // Retained away before this stream began (two newer ones were taken meanwhile): the next
      // attempt, at the next heartbeat, takes the newest.
      process.emitWarning(`snapshot ${snapshot.index} cannot be opened for ${follower.id}: ${(error as Error).message}`);
      return;
    }
    this.clearInflight(follower);
    follower.sending = {
      manifest: snapshot, files, file: 0, offset: 0, acked: { file: 0, offset: 0 }, inflight: [], bytesSent: 0, startedMs: Date.now(),
    };
  }

  private endSnapshot(follower: Follower): void {
    follower.sending?.files.close();
    follower.sending = null;
  }

  /** Chunks in order, at most appendInflightMax in flight, each with its CRC32C. */
  private sendChunks(follower: Follower): void {
    const leader = this.leader;
    const sending = follower.sending;
    if (leader === null || sending === null || !follower.connection.isConnected) return;
    const files = sending.manifest.files;
    while (sending.inflight.length < this.options.limits.appendInflightMax) {
      while (sending.file < files.length && sending.offset >= files[sending.file]!.size) {
        sending.file++;
        sending.offset = 0;
      }
      if (sending.file >= files.length) {
        // Every byte sent. A snapshot of no bytes at all still needs one message to be installed.
        if (sending.bytesSent > 0 || sending.inflight.length > 0) return;
      }
      const data = sending.file < files.length
        ? sending.files.readChunk(sending.file, sending.offset, this.options.limits.snapshotChunkBytes)
        : new Uint8Array(0);
      const seq = this.nextSeq++;
      const message: InstallSnapshotMessage = {
        k: Kind.InstallSnapshot, g: this.options.groupId, from: this.options.id, term: leader.term, seq, manifest: sending.manifest,
        file: sending.file, offset: sending.offset, data, crc32c: crc32c(data),
      };
      if (!follower.connection.send(message)) return;
      sending.inflight.push(seq);
      sending.offset += data.length;
      sending.bytesSent += Math.max(1, data.length);
      if (data.length === 0) return;
    }
  }

  /**
   * Every chunk sent and none in flight, but no word of the install yet (its answer went with a
   * dropped connection, or the follower is still loading it): the last chunk again, which the
   * follower takes as a duplicate and answers with where it stands.
   */
  private pollSnapshot(follower: Follower): void {
    const sending = follower.sending!;
    const files = sending.manifest.files;
    if (sending.inflight.length > 0 || sending.file < files.length) return;
    let last = files.length - 1;
    while (last > 0 && files[last]!.size === 0) last--;
    const size = files[last]?.size ?? 0;
    sending.file = Math.max(0, last);
    sending.offset = Math.max(0, size - this.options.limits.snapshotChunkBytes);
    sending.bytesSent = Math.max(sending.bytesSent, 1);
    this.sendChunks(follower);
  }

  private onInstallReply(follower: Follower, reply: InstallSnapshotReplyMessage): void {
    const current = this.replyOfTerm(follower, reply.term);
    if (current === null) return;
    const { leader, progress } = current;
    const sending = follower.sending;
    if (sending === null || reply.seq < follower.resetSeq) return;
    while (sending.inflight.length > 0 && sending.inflight[0]! <= reply.seq) sending.inflight.shift();
    if (reply.installed) {
      // Installed, and the follower's log goes on after the snapshot: entries follow from there.
      progress.installs.push([follower.id, sending.manifest.index, sending.bytesSent, Date.now() - sending.startedMs]);
      this.endSnapshot(follower);
      this.clearInflight(follower);
      follower.matchIndex = reply.matchIndex;
      progress.matches.push([follower.id, reply.matchIndex]);
      follower.nextIndex = reply.matchIndex + 1;
      follower.probing = true;
      this.decideCommit(leader);
    } else if (!reply.success) {
      const reason = reply.error?.details?.['reason'];
      if (reason === 'busy') return;
      if (reason === 'stale' || reason === 'unsupported') {
        // The follower holds more than this snapshot (or cannot take one): entries again, from its log's end.
        this.endSnapshot(follower);
        this.clearInflight(follower);
        follower.probing = true;
        follower.nextIndex = Math.min(reply.matchIndex + 1, this.lastIndex + 1);
        if (reason === 'unsupported') process.emitWarning(`follower ${follower.id} cannot install snapshots: ${reply.error?.message ?? ''}`);
      } else {
        // A chunk it could not take (out of order after a restart, damaged): resend from where it stands.
        sending.inflight = [];
        follower.resetSeq = this.nextSeq;
        sending.file = reply.file;
        sending.offset = reply.offset;
        sending.acked = { file: reply.file, offset: reply.offset };
      }
    } else {
      sending.acked = { file: reply.file, offset: reply.offset };
      if (sending.inflight.length === 0 && (sending.file !== reply.file || sending.offset !== reply.offset)) {
        sending.file = reply.file;
        sending.offset = reply.offset;
      }
    }
    this.sendEntries(follower);
  }

  /** Progress is reported once per drained queue. */
  private pendingProgress(term: number): AppenderProgressMessage {
    if (this.progress === null) {
      const progress: AppenderProgressMessage = {
        k: Kind.AppenderProgress, term, matches: [], contacts: [], roundAcks: [], acks: [], inflight: [], installs: [], sending: [], commits: [],
      };
      this.progress = progress;
      this.environment.timers.setImmediate(() => {
        this.progress = null;
        for (const follower of this.followers.values()) {
          progress.inflight.push([follower.id, follower.inflight.length, follower.inflightBytes]);
          if (follower.sending !== null) progress.sending.push([follower.id, follower.sending.manifest.index]);
        }
        this.links.main.send(progress);
      });
    }
    return this.progress;
  }
}
