/**
 * A deliberately impatient client for the counter workload: it sends one write at a time over the
 * client protocol (real TCP, the same frames RaftClient sends), gives each attempt a short,
 * randomly chosen deadline, and when an attempt times out or its server fails it sends the write
 * again — to the same connection, over a new connection, or to the next server — always under
 * the same (clientId, callId). Every copy after the first is what the retry cache and the
 * updater's deduplication must absorb: a write is applied at most once however many copies of
 * it reach however many leaders.
 *
 * Its writes go within a session it opens first (as RaftClient does), and `callLate` sends a
 * write once, ignores the answer, idles past the servers' session bound and only then sends it
 * again: the late copy must get the first outcome or SESSION_EXPIRED, never a second apply.
 */
import { Connection } from '../client/connection.js';
import type { ClientTls } from '../shell/tls-identity.js';
import { encodeFrame } from '../messages/framing.js';
import { Kind } from '../messages/kinds.js';
import { RequestType, type ClientRequestMessage, type ServerToClientMessage } from '../messages/messages.js';
import { decode } from '../messages/codec.js';
import type { SeededRng } from '../core/rng.js';
import { defaultLimits } from '../limits.js';

export type CallOutcome =
  | { kind: 'ok'; result: Uint8Array | null; attempts: number }
  /** A final error from before the write could be appended: it did not take effect. */
  | { kind: 'failed'; code: string; attempts: number }
  /** The overall deadline passed: the write may or may not have taken effect. */
  | { kind: 'unknown'; attempts: number };

/** A session as the servers opened it. */
interface CallerSession {
  id: string;
  idleMsMax: number;
  /** When (Date.now()) the latest acknowledged write of it was invoked, or it was opened. */
  activeMs: number;
}

/** Errors that say the write was refused before it reached the log. */
const refusedBeforeAppend = new Set(['ENTRY_TOO_LARGE', 'GROUP_MISMATCH', 'STATE_MACHINE_ERROR']);

export class RetryingCaller {
  private connection: Connection | null = null;
  private targetIndex = 0;
  private waiter: ((message: ServerToClientMessage | Error) => void) | null = null;
  private closed = false;
  private session: CallerSession | null = null;

  constructor(
    private readonly addresses: readonly string[],
    readonly clientId: string,
    private readonly rng: SeededRng,
    private readonly groupId = 'default',
    private readonly tls?: ClientTls,
  ) {}

  /**
   * Sends `data` as call `callId` until a reply or `deadlineMs` (absolute, Date.now()).
   * `attemptTimeoutMs` draws each attempt's deadline.
   */
  async call(callId: number, data: Uint8Array, deadlineMs: number, attemptTimeoutMs: () => number): Promise<CallOutcome> {
    const invokedMs = Date.now();
    const session = await this.liveSession(deadlineMs, attemptTimeoutMs);
    if (session === null) return { kind: 'failed', code: 'NO_SESSION', attempts: 0 };
    const outcome = await this.send(session, callId, data, deadlineMs, attemptTimeoutMs);
    if (outcome.kind === 'ok') session.activeMs = Math.max(session.activeMs, invokedMs);
    else if (outcome.kind === 'failed' && outcome.code === 'SESSION_EXPIRED') this.session = null;
    // Every copy went out within the deadline, shorter than the bound: SESSION_EXPIRED then
    // proves none was applied (see raft-client.ts), and the check holds the call to that.
    if (outcome.kind === 'failed' && outcome.code === 'SESSION_EXPIRED' && deadlineMs - invokedMs >= session.idleMsMax) {
      return { kind: 'unknown', attempts: outcome.attempts };
    }
    return outcome;
  }

  /**
   * Sends one copy of the write, leaves its answer, waits `idleMs` (past the servers' bound), then
   * sends it again under the same session and call id until an answer or `deadlineMs`. Its outcome
   * is unknown unless it is ok: the first copy may have been applied.
   */
  async callLate(callId: number, data: Uint8Array, idleMs: number, deadlineMs: number, attemptTimeoutMs: () => number): Promise<CallOutcome> {
    const session = await this.liveSession(deadlineMs, attemptTimeoutMs);
    if (session === null) return { kind: 'failed', code: 'NO_SESSION', attempts: 0 };
    const connection = await this.connect(500);
    if (connection !== null) connection.write(encodeFrame(this.request(session.id, callId, RequestType.write, data)));
    await sleep(idleMs);
    this.drop();
    const outcome = await this.send(session, callId, data, deadlineMs + idleMs, attemptTimeoutMs);
    this.session = null;
    return outcome.kind === 'ok' ? outcome : { kind: 'unknown', attempts: outcome.attempts + 1 };
  }

  /** The session to write in: the current one unless it idled for half the bound, else a new one (null: none opened by the deadline). */
  private async liveSession(deadlineMs: number, attemptTimeoutMs: () => number): Promise<CallerSession | null> {
    const current = this.session;
    if (current !== null && Date.now() - current.activeMs < current.idleMsMax / 2) return current;
    this.session = null;
    const openedMs = Date.now();
    const outcome = await this.send(null, 0, new Uint8Array(0), deadlineMs, attemptTimeoutMs);
    if (outcome.kind !== 'ok' || outcome.result === null) return null;
    const opened = decode(outcome.result) as { session: string; idleMsMax: number };
    this.session = { id: opened.session, idleMsMax: opened.idleMsMax, activeMs: openedMs };
    return this.session;
  }

  private request(clientId: string, callId: number, type: typeof RequestType[keyof typeof RequestType], data: Uint8Array): ClientRequestMessage {
    return { k: Kind.ClientRequest, g: this.groupId, clientId, callId, firstUnacked: callId, type, data };
  }

  /** Sends a write of `session` (or, with null, an open under the caller's id) until an answer or the deadline. */
  private async send(session: CallerSession | null, callId: number, data: Uint8Array, deadlineMs: number,
    attemptTimeoutMs: () => number): Promise<CallOutcome> {
    const message = session === null
      ? this.request(this.clientId, 0, RequestType.openSession, data)
      : this.request(session.id, callId, RequestType.write, data);
    const frame = encodeFrame(message);
    let attempts = 0;
    while (Date.now() < deadlineMs && !this.closed) {
      attempts++;
      const connection = await this.connect(Math.min(500, Math.max(1, deadlineMs - Date.now())));
      if (connection === null) {
        this.next();
        await sleep(20);
        continue;
      }
      const reply = this.nextReply(callId, Math.min(attemptTimeoutMs(), Math.max(1, deadlineMs - Date.now())));
      connection.write(frame);
      const answer = await reply;
      if (answer === 'timeout') {
        // The forced timeout: the same connection, a fresh one, or the next server.
        const choice = this.rng.intBetween(0, 2);
        if (choice === 1) this.drop();
        else if (choice === 2) this.next();
        continue;
      }
      if (answer instanceof Error) {
        this.next();
        continue;
      }
      if (answer.k !== Kind.ClientReply) {
        this.next();
        continue;
      }
      if (answer.ok) return { kind: 'ok', result: answer.result === null ? null : new Uint8Array(answer.result), attempts };
      const code = answer.error?.code ?? 'RAFTLINE_ERROR';
      if (code === 'NOT_LEADER') this.next();
      // TRANSFER_IN_PROGRESS: the leader is handing over and refused the write before its log; the
      // retry, to the same server moments later, is taken there or answered NOT_LEADER once it is deposed.
      else if (code === 'LEADER_NOT_READY' || code === 'RESOURCE_UNAVAILABLE' || code === 'TRANSFER_IN_PROGRESS') await sleep(20);
      else if (refusedBeforeAppend.has(code) || code === 'SESSION_EXPIRED') return { kind: 'failed', code, attempts };
      else this.next();
    }
    return { kind: 'unknown', attempts };
  }

  close(): void {
    this.closed = true;
    this.drop();
  }

  private next(): void {
    this.drop();
    this.targetIndex = (this.targetIndex + 1) % this.addresses.length;
  }

  private drop(): void {
    this.connection?.destroy();
    this.connection = null;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.(new Error('connection dropped'));
  }

  private connect(timeoutMs: number): Promise<Connection | null> {
    if (this.connection?.isConnected) return Promise.resolve(this.connection);
    this.drop();
    return new Promise((resolve) => {
      let settled = false;
      const settle = (value: Connection | null): void => {
        if (settled) return;
        settled = true;
        resolve(value);
      };
      const connection = new Connection(this.addresses[this.targetIndex]!, defaultLimits.frameBytesMax, timeoutMs, {
        onConnect: () => settle(connection),
        onMessage: (_, message) => this.waiter?.(message),
        onFailure: (failed, error) => {
          if (failed === this.connection) {
            this.connection = null;
            const waiter = this.waiter;
            this.waiter = null;
            waiter?.(error);
          }
          settle(null);
        },
      }, this.tls);
      this.connection = connection;
    });
  }

  /** The next reply to `callId` on the current connection, an Error if it fails, or 'timeout'. */
  private nextReply(callId: number, timeoutMs: number): Promise<ServerToClientMessage | Error | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve('timeout');
      }, timeoutMs);
      this.waiter = (message) => {
        let reply: ServerToClientMessage | Error = message;
        if (!(message instanceof Error) && message.k === Kind.ClientReplyBatch) {
          // One call's answer out of a batch, as a single reply.
          const i = message.callIds.indexOf(callId);
          if (i < 0) return;
          const error = message.errors[i]!;
          reply = { k: Kind.ClientReply, callId, ok: error === null, result: message.results[i]!, error, index: message.indexes[i]! };
        }
        // Replies to earlier copies of an earlier call are old news.
        if (!(reply instanceof Error) && reply.k === Kind.ClientReply && reply.callId !== callId) return;
        clearTimeout(timer);
        this.waiter = null;
        resolve(reply);
      };
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
