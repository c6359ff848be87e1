/**
 * Every limit in one place, with its unit, and the start-up check of the relations between them.
 * A full bound gives a coded error, never a silent drop.
 */
import { ConfigurationError } from './errors.js';

export interface Limits {
  /** Largest client payload accepted in one entry. */
  entryBytesMax: number;
  /** Largest frame accepted on any socket. */
  frameBytesMax: number;
  /**
   * Deepest nesting of arrays and maps in one frame, and most msgpack values (items) in one
   * frame: checked on the raw bytes before decoding, so a frame cannot blow the decoder's stack
   * or decode into far more memory than it occupies (an item costs one byte on the wire and tens
   * in memory). A full AppendEntries batch is two items per entry.
   */
  frameNestingDepthMax: number;
  frameItemsMax: number;
  /**
   * A frame whose first byte has arrived must be complete within this time, or its connection is
   * closed (slow-loris); a connection must deliver its first whole frame within
   * `idleBeforeFirstFrameMs` of being accepted. Outbound peer connections open with a hello frame.
   */
  frameDeadlineMs: number;
  idleBeforeFirstFrameMs: number;
  /** Inbound connections per server, peers and clients together; more are refused and closed. */
  connectionsMax: number;
  /**
   * Of those, connections clients may hold, in all and from one remote address. The slots above
   * `clientConnectionsMax` are kept for the group's servers: a connection that arrives while a
   * client bound is full must open with a member's hello, or it is refused (listener.ts).
   */
  clientConnectionsMax: number;
  clientConnectionsPerAddressMax: number;
  /**
   * Replies queued on one inbound connection that its peer has not read; past this the server
   * stops reading that connection until the peer catches up (TCP back-pressure), so a client that
   * sends without reading cannot grow the server's memory.
   */
  connectionOutboundBytesMax: number;
  /** Pending write requests on a leader, by count and by payload bytes. */
  pendingRequestsMax: number;
  pendingBytesMax: number;
  /** Pipelined AppendEntries per follower: requests and payload bytes in flight. */
  appendInflightMax: number;
  appendInflightBytesMax: number;
  /** Entries and bytes in one AppendEntries request. */
  appendBatchEntriesMax: number;
  appendBatchBytesMax: number;
  /**
   * Entries the appender keeps in memory for replication before it reads from the log, by the
   * memory they hold (their bytes and, estimated, the objects per entry and per batch), so that a
   * stream of one-entry batches is held to it as much as batches of hundreds.
   */
  appenderCacheBytesMax: number;
  /** Log segment size at which the segment is closed and a new one opened. */
  segmentBytesMax: number;
  /**
   * Bytes of a snapshot in one InstallSnapshot chunk; a leader keeps at most `appendInflightMax`
   * chunks in flight to one follower, as it does AppendEntries requests.
   */
  snapshotChunkBytes: number;
  /** Length of one tick of logical time, and the election timeout range in ticks. */
  tickMs: number;
  electionTicksMin: number;
  electionTicksMax: number;
  /** Heartbeat interval of the appender. */
  heartbeatMs: number;
  /** Reconnect back-off between servers. */
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
  /**
   * Size in MiB of each of the two semi-spaces of V8's young generation in every actor worker
   * thread (its `resourceLimits`). V8's own default lets them grow to 16 MiB each: at 256
   * outstanding writes that made each busy thread commit 32 MiB of young generation and touch
   * 13-26 MiB of it, the resident size swinging with the load, and it measured slower than 2 MiB
   * (six runs each, alternating: 30-48k writes/s at 25-35 µs of server CPU per write against
   * 43-47k at 26-28 µs on the same machine): a small nursery stays in cache, and a write's
   * objects live for one replication round, far shorter than the time between scavenges. The
   * server's main thread takes the same size from Node's own flag, `--max-semi-space-size`,
   * which the local cluster passes; that flag, when given, also overrides this value.
   */
  heapSemiSpaceMb: number;
  /**
   * A client session idle longer than this is forgotten on every server (the updater's
   * exactly-once table and the leader's retry cache), as Ratis expires its retry cache after 60 s.
   * Decided at apply time from the log, never from a server's own clock: while the group holds
   * sessions, the leader appends a clock entry every quarter of this bound (`sessionClockPeriodMs`)
   * carrying the log's time (leaders' monotonic time, continued from one leader to the next
   * through the log) and this bound; a session's idle time counts from the first clock entry after
   * its last entry, and the clock entry that finds it idle past the carried bound forgets it on
   * every replica. So a session goes once it has really been idle at least this long, and within
   * one and a half times this long while a leader is in office. An idle cluster that holds no
   * session appends nothing. Clients learn it when they open a session.
   */
  sessionIdleMsMax: number;
  /**
   * A leader reports a follower slow (`followerSlow` event, src/events.ts) once its match index is
   * more than this many entries behind the commit index, and caught up once back below half.
   */
  followerSlowLagEntries: number;
  /**
   * A server that has known no leader for longer than this reports it (`noLeader` event). When not
   * set, three of the longest election timeouts (3 × electionTicksMax × tickMs): an election that
   * loses a round or two is no news, and at least one election timeout is required.
   */
  noLeaderMsMax: number;
}

export const defaultLimits: Readonly<Limits> = {
  entryBytesMax: 4 * 1024 * 1024,
  frameBytesMax: 64 * 1024 * 1024,
  frameNestingDepthMax: 16,
  frameItemsMax: 65_536,
  frameDeadlineMs: 15_000,
  idleBeforeFirstFrameMs: 10_000,
  connectionsMax: 1024,
  clientConnectionsMax: 992,
  clientConnectionsPerAddressMax: 512,
  connectionOutboundBytesMax: 16 * 1024 * 1024,
  pendingRequestsMax: 8192,
  pendingBytesMax: 256 * 1024 * 1024,
  appendInflightMax: 8,
  appendInflightBytesMax: 16 * 1024 * 1024,
  appendBatchEntriesMax: 1024,
  appendBatchBytesMax: 4 * 1024 * 1024,
  appenderCacheBytesMax: 16 * 1024 * 1024,
  segmentBytesMax: 64 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  tickMs: 50,
  electionTicksMin: 10,
  electionTicksMax: 20,
  heartbeatMs: 100,
  reconnectDelayMsMin: 20,
  reconnectDelayMsMax: 1000,
  heapSemiSpaceMb: 2,
  sessionIdleMsMax: 60_000,
  followerSlowLagEntries: 10_000,
  // Three of the default longest election timeouts; resolveLimits derives it from the ticks given.
  noLeaderMsMax: 3 * 20 * 50,
};

/**
 * Ceilings of the numbers a server takes from the wire and keeps: terms, and indexes and counters
 * (log indexes, request sequence numbers, heartbeat rounds, call ids). Both sit far below
 * Number.MAX_SAFE_INTEGER (2^53 - 1), so a next term, an index plus a batch's length or a counter
 * plus one is always exact, and far above anything a group reaches (2^48 elections; 2^50 entries
 * are 35 years at a million writes a second). A frame carrying a larger value is refused at the
 * gateway (MALFORMED_MESSAGE, its connection closed): such a term is never adopted nor persisted.
 * A term that reached the ceiling all the same (written by a forged message before this check
 * existed) stops elections; `raftline reset-term` recovers the group.
 */
export const termMax = 2 ** 48;
export const indexMax = 2 ** 50;

/**
 * How often a leader appends a clock entry while the group holds sessions: a quarter of the
 * session bound. A session's idle time counts from the first clock entry after its last entry, so
 * it is forgotten between one bound and one bound plus two periods after it fell silent.
 */
export function sessionClockPeriodMs(limits: Pick<Limits, 'sessionIdleMsMax'>): number {
  return Math.max(1, Math.ceil(limits.sessionIdleMsMax / 4));
}

/** Young generation of a thread whose semi-spaces are `semiSpaceMb` (V8 sizes it at three semi-spaces). */
export function youngGenerationMb(semiSpaceMb: number): number {
  return 3 * semiSpaceMb;
}

/**
 * Calls in one ClientRequestBatch or ClientReplyBatch frame; a batcher starts a new frame past it
 * (as it does past half of frameBytesMax). It keeps every batch within frameItemsMax: a request
 * is 3 values, a reply at most 16 (4, plus an error with its details).
 */
export const batchCallsMax = 1024;
const batchItemsPerCallMax = 16;

/** The deepest nesting of the messages raftline itself sends (a status reply's stage table). */
const minimumNestingDepth = 8;

/** Fills defaults and checks the relations; throws ConfigurationError naming the broken one. */
export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...defaultLimits, ...overrides };
  if (overrides.noLeaderMsMax === undefined) limits.noLeaderMsMax = 3 * limits.electionTicksMax * limits.tickMs;
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new ConfigurationError(`limit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  const relations: [boolean, string][] = [
    [limits.entryBytesMax + 1024 <= limits.frameBytesMax, 'entryBytesMax must leave room for framing within frameBytesMax'],
    [limits.appendBatchBytesMax + limits.entryBytesMax + 4096 <= limits.frameBytesMax, 'appendBatchBytesMax + entryBytesMax must fit in frameBytesMax'],
    [limits.snapshotChunkBytes >= 1 && limits.snapshotChunkBytes + 64 * 1024 <= limits.frameBytesMax, 'snapshotChunkBytes must be at least 1 and fit in frameBytesMax with its manifest'],
    [limits.electionTicksMin < limits.electionTicksMax, 'electionTicksMin must be below electionTicksMax'],
    [limits.heartbeatMs * 2 <= limits.tickMs * limits.electionTicksMin, 'heartbeatMs must be at most half the shortest election timeout'],
    [limits.entryBytesMax <= limits.pendingBytesMax, 'entryBytesMax must fit in pendingBytesMax'],
    [limits.reconnectDelayMsMin <= limits.reconnectDelayMsMax, 'reconnectDelayMsMin must not exceed reconnectDelayMsMax'],
    [limits.frameNestingDepthMax >= minimumNestingDepth, `frameNestingDepthMax must be at least ${minimumNestingDepth} (the deepest message raftline sends)`],
    // An AppendEntries holds one value per entry (its term); the payloads are one packed byte string.
    [limits.frameItemsMax >= limits.appendBatchEntriesMax + 64, 'frameItemsMax must hold a full AppendEntries batch (appendBatchEntriesMax + 64)'],
    [limits.frameItemsMax >= batchItemsPerCallMax * batchCallsMax + 64, `frameItemsMax must hold a full client batch (${batchItemsPerCallMax * batchCallsMax + 64})`],
    [limits.connectionsMax >= 2, 'connectionsMax must leave room for a peer and a client'],
    [limits.clientConnectionsMax <= limits.connectionsMax - 2, 'clientConnectionsMax must keep at least two of connectionsMax for the group\'s servers'],
    [limits.clientConnectionsPerAddressMax <= limits.clientConnectionsMax, 'clientConnectionsPerAddressMax must not exceed clientConnectionsMax'],
    // Log time is kept in float64 milliseconds; a bound past 2^40 ms (35 years) means "never".
    [limits.sessionIdleMsMax >= limits.tickMs && limits.sessionIdleMsMax <= 2 ** 40, 'sessionIdleMsMax must be at least tickMs and at most 2^40'],
    // Shorter, every election would be reported.
    [limits.noLeaderMsMax >= limits.electionTicksMax * limits.tickMs, 'noLeaderMsMax must be at least the longest election timeout (electionTicksMax × tickMs)'],
  ];
  for (const [holds, message] of relations) {
    if (!holds) throw new ConfigurationError(`invalid limits: ${message}`);
  }
  return limits;
}

/**
 * The client's defaults: each can be overridden per client (RaftClient.connect options). The
 * retry delays bound an exponential back-off with jitter; the connect timeout stops a dial to an
 * unreachable address from holding calls until the operating system gives up on it. `close()`
 * ends the client's session through the log and waits for that at most `sessionCloseWaitMsMax`
 * (then closes anyway: the servers forget the session when it has been idle past their bound).
 */
export const clientDefaults = {
  requestTimeoutMs: 30_000,
  retryDelayMsMin: 20,
  retryDelayMsMax: 1000,
  connectTimeoutMs: 3000,
  sessionCloseWaitMsMax: 3000,
} as const;
