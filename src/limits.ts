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
  /** Entries the appender keeps in memory for replication before it reads from the log. */
  appenderCacheBytesMax: number;
  /** Log segment size at which the segment is closed and a new one opened. */
  segmentBytesMax: number;
  /** Length of one tick of logical time, and the election timeout range in ticks. */
  tickMs: number;
  electionTicksMin: number;
  electionTicksMax: number;
  /** Heartbeat interval of the appender. */
  heartbeatMs: number;
  /** Reconnect back-off between servers. */
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
}

export const defaultLimits: Readonly<Limits> = {
  entryBytesMax: 4 * 1024 * 1024,
  frameBytesMax: 64 * 1024 * 1024,
  connectionOutboundBytesMax: 16 * 1024 * 1024,
  pendingRequestsMax: 8192,
  pendingBytesMax: 256 * 1024 * 1024,
  appendInflightMax: 8,
  appendInflightBytesMax: 16 * 1024 * 1024,
  appendBatchEntriesMax: 1024,
  appendBatchBytesMax: 4 * 1024 * 1024,
  appenderCacheBytesMax: 16 * 1024 * 1024,
  segmentBytesMax: 64 * 1024 * 1024,
  tickMs: 50,
  electionTicksMin: 10,
  electionTicksMax: 20,
  heartbeatMs: 100,
  reconnectDelayMsMin: 20,
  reconnectDelayMsMax: 1000,
};

/** Fills defaults and checks the relations; throws ConfigurationError naming the broken one. */
export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...defaultLimits, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new ConfigurationError(`limit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  const relations: [boolean, string][] = [
    [limits.entryBytesMax + 1024 <= limits.frameBytesMax, 'entryBytesMax must leave room for framing within frameBytesMax'],
    [limits.appendBatchBytesMax + limits.entryBytesMax + 4096 <= limits.frameBytesMax, 'appendBatchBytesMax + entryBytesMax must fit in frameBytesMax'],
    [limits.electionTicksMin < limits.electionTicksMax, 'electionTicksMin must be below electionTicksMax'],
    [limits.heartbeatMs * 2 <= limits.tickMs * limits.electionTicksMin, 'heartbeatMs must be at most half the shortest election timeout'],
    [limits.entryBytesMax <= limits.pendingBytesMax, 'entryBytesMax must fit in pendingBytesMax'],
    [limits.reconnectDelayMsMin <= limits.reconnectDelayMsMax, 'reconnectDelayMsMin must not exceed reconnectDelayMsMax'],
  ];
  for (const [holds, message] of relations) {
    if (!holds) throw new ConfigurationError(`invalid limits: ${message}`);
  }
  return limits;
}

/**
 * The client's defaults: each can be overridden per client (RaftClient.connect options). The
 * retry delays bound an exponential back-off with jitter; the connect timeout stops a dial to an
 * unreachable address from holding calls until the operating system gives up on it.
 */
export const clientDefaults = {
  requestTimeoutMs: 30_000,
  retryDelayMsMin: 20,
  retryDelayMsMax: 1000,
  connectTimeoutMs: 3000,
} as const;
