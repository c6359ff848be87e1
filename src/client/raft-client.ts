/**
 * RaftClient: the user's handle on a raftline group (Ratis `RaftClient`). Writes and
 * linearizable reads go to the leader over one pipelined connection that follows NOT_LEADER
 * hints; stale reads and status may name a server and then go over that server's own connection.
 * Every call carries (clientId, callId) and keeps its callId across retries, which with the
 * server's retry cache makes a retried write exactly-once. Deadline and retry rules: channel.ts.
 */
import { randomUUID } from 'node:crypto';
import { ClosedError, ConfigurationError } from '../errors.js';
import { clientDefaults, defaultLimits } from '../limits.js';
import { Kind } from '../messages/kinds.js';
import { RequestType, type ClientRequestMessage, type DivisionStatus, type RequestTypeNumber } from '../messages/messages.js';
import { Channel, type Call, type ChannelHost } from './channel.js';
import { parseAddress } from './connection.js';
import type { BackOff } from './retry-policy.js';
import type { MetricsSnapshot } from '../metrics/types.js';
import { CallTable } from '../call-table.js';

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
}

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
      firstUnacked: () => {
        return this.outstanding.oldestId() ?? this.nextCallId;
      },
      forget: (callId) => {
        this.outstanding.delete(callId);
      },
    };
    this.leaderChannel = new Channel(this.host, this.peers, true);
  }

  /**
   * Checks the options and returns a client. Dialing is lazy: the first call opens the
   * connection, and a group that is still starting is waited for within each call's deadline.
   */
  static async connect(options: RaftClientOptions): Promise<RaftClient> {
    return new RaftClient(options);
  }

  /** The server the client believes is the leader (or will try next). */
  get leader(): string {
    return this.leaderChannel.target;
  }

  /** A write: appended, replicated, applied; resolves with the state machine's result. */
  send(data: Uint8Array): Promise<Uint8Array | null> {
    return this.request(this.leaderChannel, RequestType.write, data);
  }

  /** A linearizable read (ReadIndex on the leader), answered by the state machine's query. */
  sendReadOnly(data: Uint8Array): Promise<Uint8Array | null> {
    return this.request(this.leaderChannel, RequestType.readOnly, data);
  }

  /**
   * A read served by `server` (or the current leader connection's server) from its applied
   * state, with no leader involved: it may be stale. Tests use it to inspect each replica.
   */
  sendStaleRead(data: Uint8Array, server?: string): Promise<Uint8Array | null> {
    const channel = server === undefined ? this.leaderChannel : this.serverChannel(server);
    if (channel instanceof Error) return Promise.reject(channel);
    return this.request(channel, RequestType.staleRead, data);
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

  /** Rejects every outstanding call with ClosedError and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.leaderChannel.close();
    for (const channel of this.serverChannels.values()) channel.close();
    this.serverChannels.clear();
  }

  private request(channel: Channel, type: RequestTypeNumber, data: Uint8Array): Promise<Uint8Array | null> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new TypeError('request data must be a Uint8Array'));
    }
    return new Promise<Uint8Array | null>((resolve, reject) => {
      if (this.closed) {
        reject(new ClosedError('the client is closed'));
        return;
      }
      const callId = this.allocateCallId();
      // firstUnacked is filled in each time the call goes out (channel.ts).
      const message: ClientRequestMessage = {
        k: Kind.ClientRequest, g: this.groupId, clientId: this.clientId, callId, firstUnacked: callId, type, data,
      };
      channel.submit(this.newCall(callId, message, resolve, reject));
    });
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
      sentOn: null, retryCount: 0, retryTimer: null, deadlineMs: 0, lastError: null,
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
