/**
 * A channel carries calls to one role of server: the leader (following NOT_LEADER hints and
 * cycling through the peers), or one fixed server (stale reads and status of a given replica).
 * It owns at most one connection at a time, pipelines every outstanding call on it, and owns
 * each call's deadline and retries. A retry always resends the call with its original callId:
 * the server's retry cache answers a duplicate with the first result, so a retried write is
 * applied exactly once (Ratis `RetryCache`).
 */
import type { ClientTls } from '../shell/tls-identity.js';
import { encodeView } from '../messages/codec.js';
import { Kind } from '../messages/kinds.js';
import type {
  AdminRequestMessage, ClientRequestBatchMessage, ClientRequestMessage, MetricsRequestMessage, ServerToClientMessage, SnapshotRequestMessage,
  StatusRequestMessage,
} from '../messages/messages.js';
import { ClosedError, errorFromWire, RetryFailureError, TimeoutError, type RaftlineError, type WireError } from '../errors.js';
import { Connection, parseAddress } from './connection.js';
import { backOffDelayMs, dispositionOf, type BackOff } from './retry-policy.js';
import { batchCallsMax } from '../limits.js';

/**
 * performance.now(), read once per burst of work: a call's deadline needs no finer time, and a
 * client submitting hundreds of calls in one turn would otherwise read the clock for each.
 */
let burstNowMs = -1;
export function burstNow(): number {
  if (burstNowMs < 0) {
    burstNowMs = performance.now();
    queueMicrotask(() => {
      burstNowMs = -1;
    });
  }
  return burstNowMs;
}

/** One outstanding call. `sentOn` is the connection its latest copy went out on. */
export interface Call {
  readonly callId: number;
  readonly message: ClientRequestMessage | StatusRequestMessage | MetricsRequestMessage | SnapshotRequestMessage | AdminRequestMessage;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  sentOn: Connection | null;
  /** Retries after LEADER_NOT_READY / RESOURCE_UNAVAILABLE so far (drives this call's back-off). */
  retryCount: number;
  retryTimer: NodeJS.Timeout | null;
  /** When the call's deadline passes (performance.now() ms); set by `submit`. */
  deadlineMs: number;
  /** The last retriable error this call met; decides how its deadline rejects. */
  lastError: Error | null;
  /** Waiting for the client's session to open (raft-client.ts): not sent until `release`. */
  held: boolean;
}

/** What a channel needs from its client. */
export interface ChannelHost {
  readonly requestTimeoutMs: number;
  readonly retry: BackOff;
  readonly frameBytesMax: number;
  readonly connectTimeoutMs: number;
  /** TLS to every server (PEM contents); plaintext when absent. */
  readonly tls?: ClientTls;
  /** The lowest callId still outstanding anywhere in the client (or the next callId). */
  firstUnacked(): number;
  /** The call is settled; the client forgets it. */
  forget(callId: number): void;
  /** The call succeeded (after `forget`): a write's session was active when it was made; `index` is a write's log index (0 otherwise). */
  acknowledged?(call: Call, index: number): void;
  /**
   * A call was answered SESSION_EXPIRED. True: the client takes it (it is held, and released
   * under a new session while its deadline lasts); false: that is the call's answer.
   */
  renewSession?(call: Call): boolean;
}

export class Channel {
  private readonly calls = new Map<number, Call>();
  private connection: Connection | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /**
   * One timer for every call's deadline, armed for the earliest. Calls are kept in submit order
   * and all get the same timeout, so that order is deadline order: the sweep stops at the first
   * call not yet due, and a call costs no timer of its own.
   */
  private deadlineTimer: NodeJS.Timeout | null = null;
  /** Requests transmitted in this turn of the event loop, leaving as one frame at its end. */
  private outbox: ClientRequestBatchMessage | null = null;
  private outboxConnection: Connection | null = null;
  private outboxBytes = 0;
  private targetIndex = 0;
  /**
   * A leader named by a NOT_LEADER hint that is not among `targets` (a client given one follower's
   * address, say): dialed instead of the list until a connection to it fails, which returns the
   * channel to the list where it was.
   */
  private hintedTarget: string | null = null;
  /** Connection-level failures in a row (redirects, refused dials, lost connections). */
  private failureStreak = 0;
  /**
   * The server whose connection last failed, and when: a follower that has not yet noticed its
   * leader's death keeps naming it, and following that hint would bounce between the two while
   * another server already leads. Its hints are not followed for a while (staleHintMs).
   */
  private lastFailed: { target: string; atMs: number } | null = null;
  private closed = false;

  /** The servers to cycle through: those given, then the group's members that servers named (`learn`). */
  private targets: readonly string[];

  /**
   * @param targets the servers to cycle through; one for a fixed-server channel.
   * @param followsLeader whether NOT_LEADER moves this channel to another server; when false,
   *   NOT_LEADER is the answer to the call.
   * @param failFast a fixed-server channel whose caller has somewhere else to go (reads spread over
   *   followers): a lost connection or a retriable refusal rejects the call at once instead of
   *   retrying here.
   */
  constructor(
    private readonly host: ChannelHost,
    targets: readonly string[],
    private readonly followsLeader: boolean,
    private readonly failFast = false,
  ) {
    this.targets = targets;
  }

  /** Whether calls may go here now: no failure in a row, or the last one long enough ago to try again. */
  get usable(): boolean {
    return this.failureStreak === 0 || this.lastFailed === null || performance.now() - this.lastFailed.atMs >= staleHintMs;
  }

  /** The server this channel talks to now (or will dial next). */
  get target(): string {
    return this.hintedTarget ?? this.targets[this.targetIndex]!;
  }

  submit(call: Call): void {
    if (this.closed) {
      this.host.forget(call.callId);
      call.reject(new ClosedError('the client is closed'));
      return;
    }
    call.deadlineMs = burstNow() + this.host.requestTimeoutMs;
    this.calls.set(call.callId, call);
    this.armDeadline();
    if (this.connection?.isConnected) this.transmit(call);
    else this.ensureDialing();
  }

  /** A held call may go now (its session is open); nothing if it has been settled meanwhile. */
  release(call: Call): void {
    if (this.calls.get(call.callId) !== call || !call.held) return;
    call.held = false;
    if (this.connection?.isConnected) this.transmit(call);
    else this.ensureDialing();
  }

  /** Settles an outstanding call with `error` (a held call whose session could not be opened). */
  fail(call: Call, error: Error): void {
    if (this.calls.get(call.callId) === call) this.settle(call, error);
  }

  /** Rejects every outstanding call with ClosedError and closes the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.connection?.destroy();
    this.connection = null;
    for (const call of [...this.calls.values()]) this.settle(call, new ClosedError('the client is closed'));
  }

  private transmit(call: Call): void {
    const connection = this.connection;
    if (connection === null || !connection.isConnected || call.sentOn === connection || call.held) return;
    call.sentOn = connection;
    if (call.message.k === Kind.ClientRequest) this.enqueue(connection, call.message);
    else connection.writeBody(encodeView(call.message));
  }

  /**
   * Requests go out in batches: every call transmitted in one turn of the event loop leaves in
   * one ClientRequestBatch frame (earlier when the batch nears half the frame limit or holds
   * batchCallsMax calls, which keeps it within the server's frameItemsMax), so a client
   * with many calls in flight costs the server one frame per turn, not one per call.
   */
  private enqueue(connection: Connection, message: ClientRequestMessage): void {
    let batch = this.outbox;
    // One frame carries one client id: a session's calls, or calls made before it opened.
    if (batch !== null && (this.outboxConnection !== connection || batch.clientId !== message.clientId)) {
      this.flushOutbox(batch);
      batch = null;
    }
    if (batch === null) {
      const created: ClientRequestBatchMessage = {
        k: Kind.ClientRequestBatch, g: message.g, clientId: message.clientId, firstUnacked: 0, callIds: [], types: [], data: [],
      };
      batch = created;
      this.outbox = created;
      this.outboxConnection = connection;
      process.nextTick(() => this.flushOutbox(created));
    }
    const minIndex = message.minIndex ?? 0;
    // The minIndex column only when a call has one: frames of writes stay as they were.
    if (minIndex > 0 && batch.minIndexes === undefined) batch.minIndexes = new Array<number>(batch.callIds.length).fill(0);
    batch.callIds.push(message.callId);
    batch.types.push(message.type);
    batch.data.push(message.data);
    batch.minIndexes?.push(minIndex);
    this.outboxBytes += message.data.length + 16;
    if (this.outboxBytes > this.host.frameBytesMax / 2 || batch.callIds.length >= batchCallsMax) this.flushOutbox(batch);
  }

  private flushOutbox(batch: ClientRequestBatchMessage): void {
    if (this.outbox !== batch) return;
    const connection = this.outboxConnection;
    this.outbox = null;
    this.outboxConnection = null;
    this.outboxBytes = 0;
    // A connection lost meanwhile: its calls were marked unsent and go again on the next one.
    if (connection === null || !connection.isConnected || connection !== this.connection) return;
    batch.firstUnacked = this.host.firstUnacked();
    connection.writeBody(encodeView(batch));
  }

  private ensureDialing(): void {
    if (this.connection === null && this.reconnectTimer === null) this.dial();
  }

  private dial(): void {
    this.reconnectTimer = null;
    if (this.closed || this.connection !== null) return;
    this.connection = new Connection(this.target, this.host.frameBytesMax, this.host.connectTimeoutMs, {
      onConnect: (connection) => this.onConnect(connection),
      onMessage: (connection, message) => this.onMessage(connection, message),
      onFailure: (connection, error) => this.onFailure(connection, error),
    }, this.host.tls);
  }

  private onConnect(connection: Connection): void {
    if (connection !== this.connection) return;
    // Calls waiting out their own back-off go when their timer fires, not before.
    for (const call of this.calls.values()) {
      if (call.retryTimer === null) this.transmit(call);
    }
  }

  private onFailure(connection: Connection, error: Error): void {
    if (connection !== this.connection) return;
    this.failureStreak += 1;
    this.lastFailed = { target: this.target, atMs: performance.now() };
    if (this.failFast) {
      this.connection.destroy();
      this.connection = null;
      for (const call of [...this.calls.values()]) this.settle(call, error);
      return;
    }
    // A lost or refused leader is most likely down: try the next peer.
    this.moveTo(null);
    this.dropConnection(error, backOffDelayMs(this.host.retry, this.failureStreak - 1));
  }

  private onMessage(connection: Connection, message: ServerToClientMessage): void {
    if (message.k === Kind.Refused) {
      this.onRefused(connection, errorFromWire(message.error));
      return;
    }
    if (message.k === Kind.ClientReplyBatch) {
      for (let i = 0; i < message.callIds.length; i++) {
        const error = message.errors[i]!;
        this.onReply(connection, message.callIds[i]!, error === null, message.results[i]!, error, message.indexes[i]!);
      }
      return;
    }
    if (message.k === Kind.StatusReply) {
      const call = this.calls.get(message.callId);
      if (call === undefined) return;
      this.failureStreak = 0;
      this.settle(call, null, message.status);
      return;
    }
    if (message.k === Kind.MetricsReply) {
      const call = this.calls.get(message.callId);
      if (call === undefined) return;
      this.failureStreak = 0;
      this.settle(call, null, message.metrics);
      return;
    }
    if (message.k === Kind.SnapshotReply) {
      const call = this.calls.get(message.callId);
      if (call === undefined) return;
      this.failureStreak = 0;
      if (message.ok) this.settle(call, null, message.snapshot);
      else this.settle(call, errorFromWire(message.error ?? { code: 'RAFTLINE_ERROR', message: 'snapshot failed', details: {} }), null);
      return;
    }
    if (message.k === Kind.AdminReply) {
      // A refusal goes through the retry rules like any call's (NOT_LEADER follows the leader).
      if (message.ok) {
        const call = this.calls.get(message.callId);
        if (call === undefined) return;
        this.failureStreak = 0;
        this.settle(call, null, message.result);
      } else {
        this.onReply(connection, message.callId, false, null, message.error);
      }
      return;
    }
    this.onReply(connection, message.callId, message.ok, message.result, message.error, message.index);
  }

  private onReply(connection: Connection, callId: number, ok: boolean, result: Uint8Array | null, wireError: WireError | null, index = 0): void {
    const call = this.calls.get(callId);
    // A reply for a call already settled (a duplicate, or one past its deadline) is dropped.
    if (call === undefined) return;
    if (ok) {
      this.failureStreak = 0;
      // Copied, because the decoded bytes are a view that would keep the whole socket chunk
      // alive. Not `.slice()`: on a Buffer that is a view too.
      this.settle(call, null, result === null ? null : new Uint8Array(result), index);
      return;
    }
    const error = errorFromWire(wireError ?? { code: 'RAFTLINE_ERROR', message: 'reply without error' });
    if (error.code === 'SESSION_EXPIRED' && this.host.renewSession !== undefined) {
      call.held = true;
      call.sentOn = null;
      call.lastError = error;
      if (this.host.renewSession(call)) return;
      call.held = false;
    }
    const disposition = dispositionOf(error);
    if (this.failFast) {
      this.settle(call, error);
    } else if (disposition === 'redirect' && this.followsLeader) {
      call.lastError = error;
      if (connection === this.connection) this.redirect(error);
    } else if (disposition === 'backOff') {
      // The server is up and answering: its refusal is about this call, not the connection.
      this.failureStreak = 0;
      call.lastError = error;
      call.sentOn = null;
      // The server's own estimate does not count as a back-off step: it says when, not that things got worse.
      const suggestedMs = retryAfterMs(error, this.host.retry);
      const delayMs = suggestedMs ?? backOffDelayMs(this.host.retry, call.retryCount);
      if (suggestedMs === null) call.retryCount += 1;
      if (call.retryTimer !== null) clearTimeout(call.retryTimer);
      call.retryTimer = setTimeout(() => {
        call.retryTimer = null;
        if (this.connection?.isConnected) this.transmit(call);
        else this.ensureDialing();
      }, delayMs);
    } else {
      this.settle(call, error);
    }
  }

  /**
   * A refusal carries no callId: it is about the connection (for a client, the group). A final
   * one rejects every call that went out on this connection; a retriable one counts as a failed
   * connection.
   */
  private onRefused(connection: Connection, error: RaftlineError): void {
    const disposition = dispositionOf(error);
    if (disposition === 'final' || (disposition === 'redirect' && !this.followsLeader)) {
      for (const call of [...this.calls.values()]) {
        if (call.sentOn === connection) this.settle(call, error);
      }
    } else if (disposition === 'redirect') {
      if (connection === this.connection) this.redirect(error);
    } else if (connection === this.connection) {
      connection.destroy();
      this.onFailure(connection, error);
    }
  }

  /**
   * NOT_LEADER: go to the suggested leader, whether or not it is one of the peers the client was
   * given (a server names the leader at the address it has in its own configuration), else to
   * the next peer. The first redirect in a row goes at once (the hint is usually right); repeated
   * ones back off, so that an election in progress is not hammered by a client cycling through
   * the peers.
   */
  private redirect(error: RaftlineError): void {
    const members = error.details['members'];
    if (Array.isArray(members)) this.learn(members);
    const hint = error.details['leaderAddress'];
    const previous = this.target;
    this.moveTo(typeof hint === 'string' ? hint : null);
    const immediate = this.failureStreak === 0 && this.target !== previous && hint === this.target;
    this.failureStreak += 1;
    this.dropConnection(error, immediate ? 0 : backOffDelayMs(this.host.retry, this.failureStreak - 1));
  }

  /**
   * The group's members, as a server named them with NOT_LEADER: those not yet known join the
   * servers this channel cycles through (at most `learnedMax` in all), so a client keeps finding the
   * leader after the servers it was given were replaced. The servers it was given stay in the list.
   */
  private learn(members: readonly unknown[]): void {
    const known = new Set(this.targets);
    const added = members.filter((member): member is string => typeof member === 'string' && !known.has(member) && isAddress(member));
    if (added.length === 0) return;
    this.targets = [...this.targets, ...added].slice(0, learnedMax);
  }

  private moveTo(hint: string | null): void {
    if (!this.followsLeader) return;
    const failed = this.lastFailed !== null && performance.now() - this.lastFailed.atMs < staleHintMs ? this.lastFailed.target : null;
    if (hint !== null && hint === failed) hint = null;
    if (hint !== null && hint !== this.target) {
      const hinted = this.targets.indexOf(hint);
      if (hinted >= 0) {
        this.hintedTarget = null;
        this.targetIndex = hinted;
        return;
      }
      if (isAddress(hint)) {
        this.hintedTarget = hint;
        return;
      }
    }
    // A hinted leader that failed: back to the list, at the peer that named it (it may know better now).
    if (this.hintedTarget !== null) {
      this.hintedTarget = null;
      return;
    }
    this.targetIndex = (this.targetIndex + 1) % this.targets.length;
    // Not straight back to the server that just failed, when there is another.
    if (this.targets[this.targetIndex] === failed && this.targets.length > 2) this.targetIndex = (this.targetIndex + 1) % this.targets.length;
  }

  /** Forgets the current connection; every call on it goes out again on the next one. */
  private dropConnection(error: Error, delayMs: number): void {
    this.connection?.destroy();
    this.connection = null;
    for (const call of this.calls.values()) {
      call.sentOn = null;
      call.lastError = error;
    }
    if (this.calls.size > 0 && this.reconnectTimer === null && !this.closed) {
      this.reconnectTimer = setTimeout(() => this.dial(), delayMs);
    }
  }

  /**
   * The deadline rule: a call that met no retriable error was simply not answered in time and
   * rejects with TimeoutError; a call that was retried (after NOT_LEADER, LEADER_NOT_READY,
   * RESOURCE_UNAVAILABLE or a lost connection) ran out of time for its retries and rejects with
   * RetryFailureError, whose details.cause is the last error it met.
   */
  private expire(call: Call): void {
    const timeoutMs = this.host.requestTimeoutMs;
    const details = { callId: call.callId, timeoutMs, server: this.target };
    const error = call.lastError === null
      ? new TimeoutError(`call ${call.callId} got no reply within ${timeoutMs} ms`, details)
      : new RetryFailureError(
        `call ${call.callId} failed within ${timeoutMs} ms; last error: ${call.lastError.message}`,
        { ...details, cause: call.lastError });
    this.settle(call, error);
  }

  private armDeadline(): void {
    if (this.deadlineTimer !== null) return;
    const first = this.calls.values().next();
    if (first.done === true) return;
    const delayMs = Math.max(0, first.value.deadlineMs - performance.now());
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      const nowMs = performance.now();
      for (const call of this.calls.values()) {
        if (call.deadlineMs > nowMs) break;
        this.expire(call);
      }
      this.armDeadline();
    }, Math.ceil(delayMs));
  }

  private settle(call: Call, error: Error | null, value?: unknown, index = 0): void {
    if (!this.calls.delete(call.callId)) return;
    if (call.retryTimer !== null) clearTimeout(call.retryTimer);
    call.retryTimer = null;
    // Nothing outstanding: no timer may keep the process alive.
    if (this.calls.size === 0 && this.deadlineTimer !== null) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = null;
    }
    this.host.forget(call.callId);
    if (error === null) {
      this.host.acknowledged?.(call, index);
      call.resolve(value);
    } else {
      call.reject(error);
    }
  }
}

/** Most servers a leader channel cycles through, those given and those learned together. */
const learnedMax = 64;

/** How long the hints naming a server whose connection failed are not followed: about an election timeout. */
const staleHintMs = 1000;

/**
 * A server's own estimate of when to retry (`details.retryAfterMs`: a leader handing over
 * leadership knows the new leader is moments away), within the client's back-off bounds; null
 * when the error carries none.
 */
function retryAfterMs(error: RaftlineError, bounds: BackOff): number | null {
  const suggested = error.details['retryAfterMs'];
  if (typeof suggested !== 'number' || !Number.isFinite(suggested)) return null;
  return Math.min(bounds.delayMsMax, Math.max(1, Math.round(suggested)));
}

/** Whether a leader hint is a usable host:port; a server's hint is input like any other. */
function isAddress(hint: string): boolean {
  try {
    parseAddress(hint);
    return true;
  } catch {
    return false;
  }
}
