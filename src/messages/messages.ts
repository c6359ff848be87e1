/**
 * The shapes of every message, by boundary. Wire messages (TCP) carry their group id `g`, so that
 * many groups per server can come later without a change of format. Entry payloads travel as
 * opaque bytes, encoded once on the leader (see entry.ts) and never re-encoded; a batch of them
 * travels as one byte string (packed-entries.ts).
 */
import type { WireError } from '../errors.js';
import type { NodeId, TermRun } from '../core/types.js';
import { Kind } from './kinds.js';
import type { MetricsSnapshot } from '../metrics/types.js';
import type { GroupConfiguration, Member } from '../core/configuration.js';
import type { QuorumConfiguration } from '../core/commit-rule.js';
import type { TailCut } from '../log/log-recovery.js';
import type { SnapshotInfo } from '../state-machine.js';
import type { TlsMaterial } from '../shell/tls-identity.js';

// ---- server <-> server --------------------------------------------------------------------

export interface AppendEntriesMessage {
  k: typeof Kind.AppendEntries;
  g: string;
  from: NodeId;
  term: number;
  prevIndex: number;
  prevTerm: number;
  leaderCommit: number;
  /** Term of each entry, for indexes prevIndex + 1 ... */
  terms: number[];
  /** The entries' payloads, packed (packed-entries.ts): as many as there are terms. */
  entries: Uint8Array;
  /** The appender's request number, echoed in the reply (pipelining). */
  seq: number;
  /** The heartbeat round this request confirms (ReadIndex). */
  round: number;
}

export interface AppendEntriesReplyMessage {
  k: typeof Kind.AppendEntriesReply;
  g: string;
  from: NodeId;
  term: number;
  success: boolean;
  matchIndex: number;
  nextIndexHint: number;
  seq: number;
  round: number;
}

export interface VoteRequestMessage {
  k: typeof Kind.VoteRequest;
  g: string;
  from: NodeId;
  preVote: boolean;
  term: number;
  candidateId: NodeId;
  lastIndex: number;
  lastTerm: number;
  /**
   * The leader handed leadership to the candidate (TimeoutNow): voters grant it despite hearing
   * from that leader. Absent from servers that predate transfers, and then false.
   */
  transfer?: boolean;
}

/** The leader of `term` hands leadership to the receiver, now caught up with its log (thesis §3.10). */
export interface TimeoutNowMessage {
  k: typeof Kind.TimeoutNow;
  g: string;
  from: NodeId;
  term: number;
}

export interface VoteResponseMessage {
  k: typeof Kind.VoteResponse;
  g: string;
  from: NodeId;
  preVote: boolean;
  term: number;
  granted: boolean;
}

/** A well-formed frame that the server refuses (wrong group, wrong role): the error says why. */
export interface RefusedMessage {
  k: typeof Kind.Refused;
  error: WireError;
}

/**
 * The first frame of every outbound connection between servers: it names the sender, so that
 * the listener sees a frame within its idle limit even when nothing else is due yet, and a
 * server of another group or an unknown id is refused at once. No reply on success.
 */
export interface PeerHelloMessage {
  k: typeof Kind.PeerHello;
  g: string;
  from: NodeId;
}

/**
 * One chunk of the leader's snapshot, for a follower whose next entry the leader's log no longer
 * holds (Raft §7). Every chunk carries the manifest, so a follower can begin or resume an install
 * from any of them; chunks go in order, file by file, each with its CRC32C.
 */
export interface InstallSnapshotMessage {
  k: typeof Kind.InstallSnapshot;
  g: string;
  from: NodeId;
  term: number;
  seq: number;
  manifest: SnapshotInfo;
  /** Position of the chunk's file in `manifest.files`, and the chunk's byte offset in it. */
  file: number;
  offset: number;
  data: Uint8Array;
  crc32c: number;
}

/**
 * The follower's answer to a chunk: where its install stands (the next chunk it needs), or, once
 * installed, the index it now holds through. A refused chunk (`error`) changed nothing there.
 */
export interface InstallSnapshotReplyMessage {
  k: typeof Kind.InstallSnapshotReply;
  g: string;
  from: NodeId;
  term: number;
  seq: number;
  success: boolean;
  file: number;
  offset: number;
  /** The snapshot is installed and the log restarted after it: the follower matches through `matchIndex`. */
  installed: boolean;
  matchIndex: number;
  error: WireError | null;
}

/**
 * A follower asks the leader of `term` for a read index, for every follower read it holds now
 * (one request per turn, shared by them all). Sent on the follower's own connection to the leader.
 */
export interface ReadIndexRequestMessage {
  k: typeof Kind.ReadIndexRequest;
  g: string;
  from: NodeId;
  term: number;
  requestId: number;
}

/**
 * The leader's answer, on its own connection to the follower: `readIndex` once a heartbeat round
 * confirmed its leadership (the follower serves the reads once its apply reaches it), or why not.
 */
export interface ReadIndexReplyMessage {
  k: typeof Kind.ReadIndexReply;
  g: string;
  from: NodeId;
  term: number;
  requestId: number;
  ok: boolean;
  readIndex: number;
  error: WireError | null;
}

export type PeerMessage =
  | AppendEntriesMessage
  | AppendEntriesReplyMessage
  | InstallSnapshotMessage
  | InstallSnapshotReplyMessage
  | VoteRequestMessage
  | VoteResponseMessage
  | TimeoutNowMessage
  | RefusedMessage;

// ---- client <-> server --------------------------------------------------------------------

/**
 * What a client request asks. `openSession` and `closeSession` begin and end the client's session
 * through the log (its writes are deduplicated within it): an open is sent under the client's own
 * id and answered with the session id its writes then carry; a close carries the session id.
 * `readOnly` is served by the leader only (NOT_LEADER elsewhere, which a client follows);
 * `followerRead` is linearizable too, served by whichever server gets it: a follower asks the
 * leader for a read index and serves the read once its own apply reaches it.
 */
export const RequestType = { write: 0, readOnly: 1, staleRead: 2, openSession: 3, closeSession: 4, followerRead: 5 } as const;
export type RequestTypeNumber = (typeof RequestType)[keyof typeof RequestType];

export interface ClientRequestMessage {
  k: typeof Kind.ClientRequest;
  g: string;
  clientId: string;
  callId: number;
  /** The lowest call id this client still waits for: results below it may be forgotten. */
  firstUnacked: number;
  type: RequestTypeNumber;
  data: Uint8Array;
  /**
   * For reads: the server serves the read only once it has applied this index (a client's own last
   * acknowledged write, read-after-write). Absent (older clients) or 0: no bound.
   */
  minIndex?: number;
}

export interface ClientReplyMessage {
  k: typeof Kind.ClientReply;
  callId: number;
  ok: boolean;
  result: Uint8Array | null;
  error: WireError | null;
  /** Log index of the write (0 for reads). */
  index: number;
}

export interface StatusRequestMessage {
  k: typeof Kind.StatusRequest;
  g: string;
  callId: number;
}

export interface DivisionStatus {
  id: NodeId;
  groupId: string;
  role: string;
  term: number;
  leader: NodeId | null;
  commit: number;
  applied: number;
  synced: number;
  lastIndex: number;
  /** The damaged or torn log tail this server cut when it started, if any (log-recovery.ts). */
  logTailCut: TailCut | null;
  /** True when this server's term is at the ceiling (limits.ts, termMax): no election can succeed. */
  termCeilingReached: boolean;
  /** Client sessions this server's updater holds (each with its exactly-once table). */
  sessions: number;
  /** The newest snapshot's index (0 for none), and whether the state machine takes snapshots at all. */
  snapshotIndex: number;
  snapshots: 'supported' | 'unsupported';
  /** The first index the log holds (entries before it are in the snapshot), and the log's bytes on disk. */
  firstLogIndex: number;
  logBytes: number;
  /** Elections paused on this server (`raftline election pause`). */
  electionPaused: boolean;
  /** On a leader handing over its leadership: the server taking over; otherwise null. */
  transferTarget: NodeId | null;
  /** The configuration in force here: voters, learners, whether a change is joint, its entry's index (0: the start-up one). */
  voters: NodeId[];
  learners: NodeId[];
  joint: boolean;
  configurationIndex: number;
  /**
   * Whether this server's port takes only TLS connections with certificates from its CA (peers and
   * clients authenticated, src/shell/tls-identity.ts); false: plaintext, nothing authenticated.
   */
  tls: boolean;
  /** Follower reads, stale reads and watches on this server (counters since start, and what waits now). Absent from older servers. */
  reads?: ReadsStatus;
  /** The leader lease for reads (RaftServerOptions.readLease): whether this server has one, and how long it holds from now (ms; 0 unless a leader holding it). */
  readLease?: { enabled: boolean; validForMs: number };
}

export interface ReadsStatus {
  followerReadsServed: number;
  readIndexRequestsSent: number;
  readIndexRepliesReceived: number;
  readIndexRequestsAnswered: number;
  readsWaitingReadIndex: number;
  readsWaitingApply: number;
  staleReadsWaiting: number;
  staleReadsWaited: number;
  watchesPending: number;
  watchesAnswered: number;
  watchesTimedOut: number;
}

export interface StatusReplyMessage {
  k: typeof Kind.StatusReply;
  callId: number;
  status: DivisionStatus;
}

/**
 * Every request a client sent in one turn of its event loop, in one frame: the client id and
 * group once, the calls as columns: for small requests the work per frame (a socket write, the
 * header, the decode) outweighs the work per call (`npm run bench:micro -- --only tcp`).
 */
export interface ClientRequestBatchMessage {
  k: typeof Kind.ClientRequestBatch;
  g: string;
  clientId: string;
  firstUnacked: number;
  callIds: number[];
  types: RequestTypeNumber[];
  data: Uint8Array[];
  /** Each call's minIndex (ClientRequestMessage), present only when one of them has one; same length. */
  minIndexes?: number[];
}

/** Replies to batched requests, as columns: call i succeeded when errors[i] is null. */
export interface ClientReplyBatchMessage {
  k: typeof Kind.ClientReplyBatch;
  callIds: number[];
  /** Log index of each write (0 for reads and errors). */
  indexes: number[];
  results: (Uint8Array | null)[];
  errors: (WireError | null)[];
}

/** Asks one server for its metrics; `reset` clears its histograms after the snapshot. */
export interface MetricsRequestMessage {
  k: typeof Kind.MetricsRequest;
  g: string;
  callId: number;
  reset: boolean;
}

export interface MetricsReplyMessage {
  k: typeof Kind.MetricsReply;
  callId: number;
  metrics: MetricsSnapshot;
}

/** Take a snapshot on the server that receives this (the admin call; `raftline snapshot create`). */
export interface SnapshotRequestMessage {
  k: typeof Kind.SnapshotRequest;
  g: string;
  callId: number;
}

export interface SnapshotReplyMessage {
  k: typeof Kind.SnapshotReply;
  callId: number;
  ok: boolean;
  snapshot: SnapshotInfo | null;
  error: WireError | null;
}

/**
 * An administrative operation (client.admin(); `raftline election ...`, `raftline peer list`):
 * - `transferLeadership`: the leader hands leadership to `to`, or with `to` null to the most
 *   caught-up follower (a step-down), within `timeoutMs`;
 * - `pauseElection` / `resumeElection`: the receiving server stops (starts again) campaigning;
 * - `configuration`: the group's members as the receiving server knows them.
 */
export type AdminOperation =
  /**
   * `term`, when given: only the leader of that term hands over; a server that leads a later term
   * answers with itself, done. A step-down says which leadership it ends, so that a copy resent
   * to the new leader (the client resends calls when a connection drops) does not end that one too.
   */
  | { op: 'transferLeadership'; to: NodeId | null; timeoutMs: number; term?: number }
  | { op: 'pauseElection' }
  | { op: 'resumeElection' }
  | { op: 'configuration' }
  /** The whole membership at once (joint consensus); new voters catch up as learners first, within `catchUpTimeoutMs`. */
  | { op: 'setConfiguration'; voters: Member[]; learners: Member[]; catchUpTimeoutMs: number }
  | { op: 'addServer'; member: Member; learner: boolean; catchUpTimeoutMs: number }
  | { op: 'removeServer'; id: NodeId }
  /** Answered by the leader once entry `index` reached `level` (WatchLevel), or TIMEOUT after `timeoutMs`. */
  | { op: 'watch'; index: number; level: WatchLevel; timeoutMs: number };

export const adminOperations: readonly AdminOperation['op'][] = [
  'transferLeadership', 'pauseElection', 'resumeElection', 'configuration', 'setConfiguration', 'addServer', 'removeServer', 'watch',
];

/**
 * How far an entry has gone (Ratis `ReplicationLevel`): MAJORITY, stored on a majority of the
 * voters; ALL, on every voter; MAJORITY_COMMITTED / ALL_COMMITTED, a majority / every voter knows
 * it committed (its commit index reached it).
 */
export const watchLevels = ['MAJORITY', 'ALL', 'MAJORITY_COMMITTED', 'ALL_COMMITTED'] as const;
export type WatchLevel = (typeof watchLevels)[number];

/** Where one voter stands, as the leader knows it: the index it stores through, and its commit index. */
export interface WatchServerProgress {
  id: NodeId;
  match: number;
  commit: number;
}

/** A watch answered: the index each level has reached, and each voter's progress, when `level` reached `index`. */
export interface WatchResult {
  index: number;
  level: WatchLevel;
  reached: Record<WatchLevel, number>;
  servers: WatchServerProgress[];
}

/** A transfer done: who leads now, in which term, and how long it took on the old leader. */
export interface TransferOutcome {
  leader: NodeId;
  term: number;
  ms: number;
}

/** Whether elections are paused on one server. */
export interface ElectionState {
  server: NodeId;
  electionPaused: boolean;
}

/**
 * The group's members as one server knows them: the configuration in force there (voters,
 * learners, and while a change is joint the outgoing voters), the index of its entry (0: the
 * start-up one), whether it is committed, and the leader and term that server knows.
 */
export interface ConfigurationReport extends GroupConfiguration {
  index: number;
  committed: boolean;
  leader: NodeId | null;
  term: number;
  /** The server that answered. */
  server: NodeId;
}

export type AdminResult = TransferOutcome | ElectionState | ConfigurationReport | WatchResult;

export interface AdminRequestMessage {
  k: typeof Kind.AdminRequest;
  g: string;
  callId: number;
  operation: AdminOperation;
}

export interface AdminReplyMessage {
  k: typeof Kind.AdminReply;
  callId: number;
  ok: boolean;
  result: AdminResult | null;
  error: WireError | null;
}

export type ClientMessage =
  | ClientRequestMessage | ClientRequestBatchMessage | StatusRequestMessage | MetricsRequestMessage | SnapshotRequestMessage | AdminRequestMessage;
/** What a server's listener accepts. */
export type InboundMessage = ClientMessage | PeerMessage | PeerHelloMessage | ReadIndexRequestMessage | ReadIndexReplyMessage;
export type ServerToClientMessage =
  | ClientReplyMessage | ClientReplyBatchMessage | StatusReplyMessage | MetricsReplyMessage | SnapshotReplyMessage | AdminReplyMessage
  | RefusedMessage;

// ---- actor <-> actor (between threads) ----------------------------------------------------

/**
 * A run of consecutive entries: entry i is at index firstIndex + i with term terms[i]; their
 * payloads are packed in `entries` (packed-entries.ts), one byte string for the whole run.
 */
export interface EntryBatch {
  firstIndex: number;
  terms: number[];
  entries: Uint8Array;
}

export interface LogAppendMessage extends EntryBatch {
  k: typeof Kind.LogAppend;
  seq: number;
  /**
   * On a follower, the commit index the leader sent with these entries: the log passes it to the
   * updater with them, in order behind every truncation, so the updater wakes once for both.
   */
  commitIndex?: number;
}
export interface LogTruncateMessage {
  k: typeof Kind.LogTruncate;
  seq: number;
  fromIndex: number;
}
export interface LogWriteMetaMessage {
  k: typeof Kind.LogWriteMeta;
  seq: number;
  term: number;
  votedFor: NodeId | null;
}
/**
 * After a snapshot was installed that the log does not continue (Raft §7): every entry goes and the
 * log restarts after `index`, durably, before the follower acknowledges the install.
 */
export interface LogResetMessage {
  k: typeof Kind.LogReset;
  seq: number;
  index: number;
  term: number;
}
/** A snapshot covers `upTo`: segments wholly at or below it may go. */
export interface LogPurgeMessage {
  k: typeof Kind.LogPurge;
  seq: number;
  upTo: number;
}
export type LogInput = LogAppendMessage | LogTruncateMessage | LogWriteMetaMessage | LogResetMessage | LogPurgeMessage;

/**
 * Everything up to `seq` is durable; the log is synced through `index`. While profiling, the
 * stage stamps of this sync (shared clock, µs): [seq, arrivedUs, writtenUs] for each append
 * since the previous sync, and when the sync started and ended; empty and 0 otherwise.
 */
export interface LogSyncedMessage {
  k: typeof Kind.LogSynced;
  seq: number;
  index: number;
  /** The log's first index and its bytes on disk, after this sync (they change at purges and resets). */
  firstIndex: number;
  bytes: number;
  stamps: number[];
  syncStartUs: number;
  syncedUs: number;
}

export interface LogReadMessage {
  k: typeof Kind.LogRead;
  peer: NodeId;
  fromIndex: number;
  maxCount: number;
  maxBytes: number;
}
export interface LogReadResultMessage extends EntryBatch {
  k: typeof Kind.LogReadResult;
  peer: NodeId;
  /** The log's first index: a read from before it comes back empty (the follower needs the snapshot). */
  logFirstIndex: number;
}
/**
 * A leading appender asks the log to report its durable index after every sync (`on`), or stops
 * asking; the log answers `on` at once with where it stands. Only a leader's appender needs it (it
 * decides the commit index), so followers' logs wake no appender.
 */
export interface LogWatchMessage {
  k: typeof Kind.LogWatch;
  on: boolean;
}
/** To a watching appender: everything the server submitted through `seq` is durable; the log is synced through `index`. */
export interface LogDurableMessage {
  k: typeof Kind.LogDurable;
  seq: number;
  index: number;
}

export interface UpdaterEntriesMessage extends EntryBatch {
  k: typeof Kind.UpdaterEntries;
  /** A commit index that came with these entries (LogAppendMessage.commitIndex); it needs no holding. */
  commitIndex?: number;
}
export interface UpdaterTruncateMessage {
  k: typeof Kind.UpdaterTruncate;
  fromIndex: number;
}
/**
 * The commit index, straight from the server (or, on a leader, from the appender, which decides it
 * where the followers' acknowledgements arrive). Entries and truncations reach the updater through
 * the log actor, on another port, so the commit may overtake a truncation the server submitted
 * before it; the updater would then apply a stale entry that the truncation is about to replace.
 * `truncations` counts the truncations the server had submitted when it sent this commit: the
 * updater holds the commit until it has seen that many (after them, its entries are a prefix of
 * the log, and no later truncation reaches below a commit index).
 */
export interface UpdaterCommitMessage {
  k: typeof Kind.UpdaterCommit;
  commitIndex: number;
  truncations: number;
  /** While profiling, from a leader's appender: when it decided this commit (shared clock, µs). */
  committedUs?: number;
}
export interface UpdaterQueryMessage {
  k: typeof Kind.UpdaterQuery;
  queryId: number;
  data: Uint8Array;
  stale: boolean;
}
/**
 * Queries run together (the linearizable reads a server found ready in one turn), numbered
 * `firstQueryId`, `firstQueryId + 1`, ...: one message in, one UpdaterQueryBatchResult out.
 */
export interface UpdaterQueryBatchMessage {
  k: typeof Kind.UpdaterQueryBatch;
  firstQueryId: number;
  data: Uint8Array[];
  stale: boolean;
}
/**
 * The first message from the log at start: the snapshot the log continues (null for none). The
 * updater loads it before it applies anything; the entries that follow start after it.
 */
export interface UpdaterRestoreMessage {
  k: typeof Kind.UpdaterRestore;
  snapshot: SnapshotInfo | null;
}
/** A chunk of a leader's snapshot for the updater to install (InstallSnapshotMessage, checked for term by the core). */
export interface UpdaterInstallChunkMessage {
  k: typeof Kind.UpdaterInstallChunk;
  installId: number;
  manifest: SnapshotInfo;
  file: number;
  offset: number;
  data: Uint8Array;
  crc32c: number;
  /** The follower's commit index: a snapshot below it is refused (it would roll the state back). */
  commitIndex: number;
}
/** Take a snapshot now (server.snapshot(), the admin call); answered by UpdaterSnapshotTaken with the same id. */
export interface UpdaterSnapshotNowMessage {
  k: typeof Kind.UpdaterSnapshotNow;
  requestId: number;
}
export type UpdaterInput = UpdaterCommitMessage | UpdaterQueryMessage | UpdaterQueryBatchMessage | UpdaterInstallChunkMessage | UpdaterSnapshotNowMessage;
export type UpdaterLogInput = UpdaterEntriesMessage | UpdaterTruncateMessage | UpdaterRestoreMessage;

/**
 * Apply outcomes since the last report, as columns. Every entry through `appliedIndex` has been
 * applied (and its promise settled); its outcome is a null result unless listed. Listed are the
 * entries with a result or an error, and any applied beyond `appliedIndex` (out of order). So
 * the common write with no result costs nothing here.
 */
export interface UpdaterAppliedMessage {
  k: typeof Kind.UpdaterApplied;
  appliedIndex: number;
  indexes: number[];
  results: (Uint8Array | null)[];
  errors: (WireError | null)[];
  /** While profiling: [firstIndex, lastIndex, startUs, endUs] of each apply loop since the last report. */
  loops: number[];
  /**
   * While profiling: [commitIndex, committedUs] of each commit a leader's appender decided since the
   * last report. They travel with the applies they allowed, so the server has each write's commit
   * stamp before it replies (the appender's own report to the server may come later).
   */
  commits: number[];
  /** Sessions, when any opened, ended or was forgotten, or the log's time moved, since the last report. */
  sessions?: UpdaterSessionsReport;
}
/** The updater's sessions (session-table.ts): levels, counts since it started, and the ids just forgotten. */
export interface UpdaterSessionsReport {
  /** Sessions held now. */
  held: number;
  /** The log's time (the latest clock entry's), ms. */
  logTimeMs: number;
  opened: number;
  ended: number;
  expired: number;
  /** Sessions ended or forgotten since the last report: the server's retry cache forgets them too. */
  forgotten: string[];
}
/** Where an install stands after a chunk: the next chunk wanted, or installed, or the chunk refused. */
export interface UpdaterInstallProgressMessage {
  k: typeof Kind.UpdaterInstallProgress;
  installId: number;
  file: number;
  offset: number;
  installed: SnapshotInfo | null;
  error: WireError | null;
  /** On installed: the bytes installed and how long the install took from its first chunk (ms). */
  bytes: number;
  durationMs: number;
}
/** A snapshot was taken (automatically: requestId 0), or could not be (error). */
export interface UpdaterSnapshotTakenMessage {
  k: typeof Kind.UpdaterSnapshotTaken;
  requestId: number;
  snapshot: SnapshotInfo | null;
  bytes: number;
  durationMs: number;
  error: WireError | null;
}
export interface UpdaterQueryResultMessage {
  k: typeof Kind.UpdaterQueryResult;
  queryId: number;
  ok: boolean;
  result: Uint8Array | null;
  error: WireError | null;
}

/** The answers to an UpdaterQueryBatch, in its order: a result, or an error (results[i] is then null). */
export interface UpdaterQueryBatchResultMessage {
  k: typeof Kind.UpdaterQueryBatchResult;
  firstQueryId: number;
  results: (Uint8Array | null)[];
  errors: (WireError | null)[];
}

export type UpdaterOutput =
  | UpdaterAppliedMessage | UpdaterQueryResultMessage | UpdaterQueryBatchResultMessage | UpdaterInstallProgressMessage | UpdaterSnapshotTakenMessage;

export interface AppenderLeaderStartMessage {
  k: typeof Kind.AppenderLeaderStart;
  term: number;
  commitIndex: number;
  lastIndex: number;
  termRuns: TermRun[];
  followers: NodeId[];
  /** Who counts toward the commit (the configuration in force: commit-rule.ts). */
  quorum: QuorumConfiguration;
  /**
   * The log seq of the term's no-op: a durable report (LogDurableMessage) counts for this term only
   * from that seq on, when the log it describes holds every truncation made before the term.
   */
  noopSeq: number;
  /** Truncations the server submitted before the term; the appender's commits carry it (UpdaterCommitMessage). */
  truncations: number;
  /** The newest snapshot, for followers the log no longer reaches back to. */
  snapshot: SnapshotInfo | null;
}
/** A newer snapshot was taken here: the one to send from now on. */
export interface AppenderSnapshotMessage {
  k: typeof Kind.AppenderSnapshot;
  snapshot: SnapshotInfo;
}
export interface AppenderEntriesMessage extends EntryBatch {
  k: typeof Kind.AppenderEntries;
}
export interface AppenderStepDownMessage {
  k: typeof Kind.AppenderStepDown;
  term: number;
}
export interface AppenderHeartbeatRoundMessage {
  k: typeof Kind.AppenderHeartbeatRound;
  round: number;
}
/** Send an already-encoded peer frame body (a vote request) on the outbound connection to `to`. */
export interface AppenderSendMessage {
  k: typeof Kind.AppenderSend;
  to: NodeId;
  body: Uint8Array;
}
/**
 * The configuration in force changed (or is given at start): the appender keeps a connection to
 * every other member (voters, learners, outgoing voters) and, as leader, counts `quorum`.
 */
export interface AppenderConfigurationMessage {
  k: typeof Kind.AppenderConfiguration;
  members: Member[];
  quorum: QuorumConfiguration;
}

/** New TLS material (a reload): the peer connections dialed from now on present it. */
export interface AppenderTlsMessage {
  k: typeof Kind.AppenderTls;
  material: TlsMaterial;
}

export type AppenderInput =
  | AppenderConfigurationMessage
  | AppenderTlsMessage
  | AppenderLeaderStartMessage
  | AppenderEntriesMessage
  | AppenderStepDownMessage
  | AppenderHeartbeatRoundMessage
  | AppenderSendMessage
  | AppenderSnapshotMessage
  | LogReadResultMessage;

/** Replication progress since the last report, batched. */
export interface AppenderProgressMessage {
  k: typeof Kind.AppenderProgress;
  term: number;
  matches: [NodeId, number][];
  contacts: NodeId[];
  roundAcks: [NodeId, number][];
  /** Acknowledged AppendEntries requests: [follower, lastIndex, entries, sentUs, ackedUs] (µs 0 when not profiling). */
  acks: [NodeId, number, number, number, number][];
  /** Per follower after this report: [follower, requests in flight, bytes in flight]. */
  inflight: [NodeId, number, number][];
  /** Snapshots a follower finished installing: [follower, snapshot index, bytes sent, ms since the first chunk]. */
  installs: [NodeId, number, number, number][];
  /** Followers being sent a snapshot after this report: [follower, snapshot index] (the log keeps what follows it). */
  sending: [NodeId, number][];
  /**
   * Followers whose known commit index rose: [follower, commit index], the commit index being the
   * leaderCommit of an acknowledged request capped by the follower's match (what it has applied
   * or may apply: watches at the *_COMMITTED levels).
   */
  commits: [NodeId, number][];
}
export interface AppenderHigherTermMessage {
  k: typeof Kind.AppenderHigherTerm;
  term: number;
}
