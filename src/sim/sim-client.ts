/**
 * A simulated client, doing what RaftClient does on the wire: a write keeps its callId across
 * every retry (NOT_LEADER redirects, LEADER_NOT_READY / RESOURCE_UNAVAILABLE /
 * TRANSFER_IN_PROGRESS back-offs, a lost connection, a reply that does not come), and carries the
 * lowest callId it still waits for (`firstUnacked`). Writes put unique values into the ledger;
 * reads are linearizable reads, on the leader or (follower reads) on any server, which asks the
 * leader for a read index, or stale reads on any server bounded by the client's own last
 * acknowledged write (minIndex: read-after-write). One call at a time; a call not answered within its deadline is
 * given up (its outcome unknown), as a real client's call times out.
 *
 * Writes go within a session, as RaftClient's do: opened through the log before the first write
 * (and again after half the servers' idle bound without an acknowledged write), its id carried by
 * every write. Some clients close their session now and then (the next write opens another), and
 * some writes are sent once and then left while the client idles past the servers' bound before
 * sending them again: such a late copy must be answered with the first outcome or
 * SESSION_EXPIRED, never applied a second time (the checkers' exactly-once rule), and
 * SESSION_EXPIRED must never come before the bound has passed since the session's last
 * acknowledged write was made.
 */
import { Kind } from '../messages/kinds.js';
import { RequestType, type ServerToClientMessage } from '../messages/messages.js';
import { decode, encode } from '../messages/codec.js';
import type { WireError } from '../errors.js';
import { Life, type SimScheduler } from './scheduler.js';
import { SimClientConnection, type SimNetwork } from './sim-network.js';

export interface ClientEvents {
  onAcknowledged(client: string, value: string, index: number): void;
  onRead(client: string, length: number, acknowledgedBefore: readonly string[]): void;
  /** A stale read bounded by the client's own last acknowledged write `ownLast` (null: none yet) returned `length`. */
  onStaleRead(client: string, length: number, ownLast: string | null): void;
  onDefiniteFailure(client: string, value: string, code: string): void;
  /**
   * A write of `session` was answered SESSION_EXPIRED `sinceActiveMs` after the latest acknowledged
   * write of that session was made (or its open was sent); the servers' bound is `idleMsMax`.
   */
  onSessionExpired(client: string, session: string, sinceActiveMs: number, idleMsMax: number): void;
}

export interface ClientOptions {
  attemptTimeoutMs: number;
  callDeadlineMs: number;
  thinkMsMin: number;
  thinkMsMax: number;
  readRatio: number;
  /** Chance that a client closes its session after an acknowledged write. */
  closeChance: number;
  /** Chance that a write's first copy is left while the client idles past the servers' bound, then sent again. */
  lateRetryChance: number;
}

interface Session {
  id: string;
  idleMsMax: number;
  /** When the latest acknowledged write of it was issued (or its open sent). */
  activeAt: number;
}

interface Call {
  callId: number;
  kind: 'write' | 'read' | 'followerRead' | 'staleRead' | 'open' | 'close';
  /** A stale read's minIndex: the log index of the client's last acknowledged write, and that write. */
  minIndex: number;
  ownLast: string | null;
  value: string;
  data: Uint8Array;
  /** When it was made (a write's session was active then, once it is acknowledged). */
  issuedAt: number;
  deadlineAt: number;
  attempt: number;
  /** Writes acknowledged (to anyone) before a read began. */
  acknowledgedBefore: string[];
}

export class SimClient {
  readonly life: Life;
  private nextCallId = 1;
  private call: Call | null = null;
  private connection: SimClientConnection | null = null;
  private target: number;
  private opsLeft = 0;
  private attemptTimer: { cancelled: boolean } | null = null;
  private stopped = true;
  private readRatio: number;
  private lateRetryChance: number;
  private session: Session | null = null;
  /** The write to issue once the session opening now is open. */
  private afterOpen: Call | null = null;
  written = 0;
  sessionsOpened = 0;
  sessionsClosed = 0;
  lateRetries = 0;
  sessionsExpired = 0;
  acknowledged = 0;
  reads = 0;
  /** Of the reads: follower reads and stale reads. */
  followerReads = 0;
  staleReads = 0;
  /** This client's last acknowledged write and its log index (read-after-write). */
  private lastAck: { value: string; index: number } | null = null;
  gaveUp = 0;
  /** Calls answered TRANSFER_IN_PROGRESS (a leader handing over), each retried after a back-off. */
  refusedInTransfer = 0;

  constructor(
    readonly id: string,
    private readonly scheduler: SimScheduler,
    private readonly network: SimNetwork,
    private readonly nodeIds: readonly string[],
    private readonly options: ClientOptions,
    private readonly events: ClientEvents,
    private readonly acknowledgedSoFar: () => string[],
  ) {
    this.readRatio = options.readRatio;
    this.lateRetryChance = options.lateRetryChance;
    this.life = new Life(id);
    this.target = Math.floor(scheduler.random() * nodeIds.length);
  }

  /** A call in progress or operations still to issue. */
  get busy(): boolean {
    return this.call !== null || this.opsLeft > 0;
  }

  /** Issues no more of the operations not yet begun (the call in progress goes on). */
  cancelRemaining(): void {
    this.opsLeft = 0;
  }

  /** From now on every operation is a write, and none is left to idle past the bound. */
  writesOnly(): void {
    this.readRatio = 0;
    this.lateRetryChance = 0;
  }

  /** Issues `count` more operations, one after the other. */
  run(count: number): void {
    this.opsLeft += count;
    if (this.stopped) {
      this.stopped = false;
      this.scheduleNext();
    }
  }

  private scheduleNext(): void {
    if (this.opsLeft <= 0) {
      this.stopped = true;
      return;
    }
    const { thinkMsMin, thinkMsMax } = this.options;
    this.scheduler.at(thinkMsMin + this.scheduler.random() * (thinkMsMax - thinkMsMin), this.life, () => this.issue());
  }

  private issue(): void {
    this.opsLeft--;
    const callId = this.nextCallId++;
    const isRead = this.scheduler.chance(this.readRatio);
    const value = `${this.id}-${callId}`;
    // A third of the reads each: on the leader, follower reads, stale reads bounded by the client's own last write.
    const readKind = !isRead ? 'write' : this.scheduler.chance(1 / 3) ? 'read' : this.scheduler.chance(0.5) ? 'followerRead' : 'staleRead';
    if (readKind === 'followerRead' || readKind === 'staleRead') {
      // Served where they arrive: any server.
      this.target = Math.floor(this.scheduler.random() * this.nodeIds.length);
      this.connection?.close();
      this.connection = null;
    }
    const call: Call = {
      callId, kind: readKind, value, data: isRead ? encode(0) : encode(value),
      minIndex: readKind === 'staleRead' ? this.lastAck?.index ?? 0 : 0, ownLast: readKind === 'staleRead' ? this.lastAck?.value ?? null : null,
      issuedAt: this.scheduler.now, deadlineAt: this.scheduler.now + this.options.callDeadlineMs, attempt: 0,
      acknowledgedBefore: isRead ? this.acknowledgedSoFar() : [],
    };
    if (!isRead) this.written++;
    const session = this.session;
    if (!isRead && (session === null || this.scheduler.now - session.activeAt > session.idleMsMax / 2)) {
      // Open a session first (call id 0, under the client's own id), then this write.
      this.session = null;
      this.afterOpen = call;
      this.call = { ...call, callId: 0, kind: 'open', data: new Uint8Array(0), acknowledgedBefore: [] };
    } else {
      this.call = call;
    }
    this.send();
  }

  private send(): void {
    const call = this.call;
    if (call === null) return;
    if (this.scheduler.now >= call.deadlineAt) {
      if (call.kind === 'write' || call.kind === 'open') this.gaveUp++;
      // A close that got no answer: the session is forgotten once idle past the bound.
      if (call.kind === 'close' || call.kind === 'open') this.session = null;
      this.afterOpen = null;
      this.finish();
      return;
    }
    call.attempt++;
    if (this.attemptTimer !== null) this.attemptTimer.cancelled = true;
    const attempt = call.attempt;
    this.attemptTimer = this.scheduler.at(this.options.attemptTimeoutMs, this.life, () => {
      if (this.call === call && call.attempt === attempt) this.switchServer(null, 0);
    });
    if (this.connection?.isOpen) {
      this.transmit(call);
      return;
    }
    this.connection?.close();
    const connection: SimClientConnection = new SimClientConnection(this.network, this.id, this.life, this.nodeIds[this.target]!,
      (message) => this.onMessage(connection, message),
      () => { if (this.connection === connection && this.call === call && call.attempt === attempt) this.switchServer(null, 10); },
      () => { if (this.connection === connection && this.call === call && call.attempt === attempt) this.transmit(call); });
    this.connection = connection;
  }

  private transmit(call: Call): void {
    // As RaftClient sends them: the calls of one turn in one ClientRequestBatch (here, one call).
    const type = call.kind === 'read' ? RequestType.readOnly : call.kind === 'followerRead' ? RequestType.followerRead
      : call.kind === 'staleRead' ? RequestType.staleRead : call.kind === 'open' ? RequestType.openSession
        : call.kind === 'close' ? RequestType.closeSession : RequestType.write;
    const reading = call.kind === 'read' || call.kind === 'followerRead' || call.kind === 'staleRead';
    this.connection?.send({
      k: Kind.ClientRequestBatch, g: 'default', clientId: call.kind === 'open' || reading ? this.id : this.session?.id ?? this.id,
      firstUnacked: call.callId, callIds: [call.callId], types: [type], data: [call.data],
      ...(call.minIndex > 0 ? { minIndexes: [call.minIndex] } : {}),
    });
    if (call.kind === 'write' && call.attempt === 1 && this.scheduler.chance(this.lateRetryChance)) this.leaveUntilLate(call);
  }

  /**
   * The write's first copy is out: the client now idles past the servers' bound (no retries, its
   * connection dropped), then sends the same call again, as a client that was stalled would.
   */
  private leaveUntilLate(call: Call): void {
    const idleMsMax = this.session?.idleMsMax ?? 0;
    this.lateRetries++;
    if (this.attemptTimer !== null) this.attemptTimer.cancelled = true;
    call.deadlineAt = Math.max(call.deadlineAt, this.scheduler.now + 2 * idleMsMax + this.options.callDeadlineMs);
    const attempt = call.attempt;
    this.attemptTimer = this.scheduler.at(idleMsMax + 500 + this.scheduler.random() * idleMsMax, this.life, () => {
      if (this.call === call && call.attempt === attempt) this.send();
    });
    this.connection?.close();
    this.connection = null;
  }

  private onMessage(connection: SimClientConnection, message: ServerToClientMessage): void {
    const call = this.call;
    if (connection !== this.connection || call === null) return;
    let reply: { index: number; result: Uint8Array | null; error: WireError | null };
    if (message.k === Kind.ClientReply && message.callId === call.callId) {
      reply = { index: message.index, result: message.result, error: message.ok ? null : message.error };
    } else if (message.k === Kind.ClientReplyBatch && message.callIds.includes(call.callId)) {
      const at = message.callIds.indexOf(call.callId);
      reply = { index: message.indexes[at]!, result: message.results[at]!, error: message.errors[at]! };
    } else {
      return;
    }
    if (reply.error === null) {
      if (call.kind === 'write') {
        this.acknowledged++;
        if (this.lastAck === null || reply.index > this.lastAck.index) this.lastAck = { value: call.value, index: reply.index };
        this.events.onAcknowledged(this.id, call.value, reply.index);
        const session = this.session;
        if (session !== null) session.activeAt = Math.max(session.activeAt, call.issuedAt);
        if (session !== null && this.scheduler.chance(this.options.closeChance)) {
          // Close the session before the next operation; that one opens another if it writes.
          this.call = { ...call, callId: this.nextCallId++, kind: 'close', data: new Uint8Array(0), attempt: 0,
            issuedAt: this.scheduler.now, deadlineAt: this.scheduler.now + this.options.callDeadlineMs };
          this.send();
          return;
        }
      } else if (call.kind === 'read' || call.kind === 'followerRead') {
        // A follower read is linearizable: checked like a read on the leader.
        this.reads++;
        if (call.kind === 'followerRead') this.followerReads++;
        this.events.onRead(this.id, decode(reply.result!) as number, call.acknowledgedBefore);
      } else if (call.kind === 'staleRead') {
        this.reads++;
        this.staleReads++;
        this.events.onStaleRead(this.id, decode(reply.result!) as number, call.ownLast);
      } else if (call.kind === 'open') {
        const opened = decode(reply.result!) as { session: string; idleMsMax: number };
        this.session = { id: opened.session, idleMsMax: opened.idleMsMax, activeAt: call.issuedAt };
        this.sessionsOpened++;
        const write = this.afterOpen!;
        this.afterOpen = null;
        this.call = { ...write, issuedAt: this.scheduler.now, deadlineAt: this.scheduler.now + this.options.callDeadlineMs };
        this.send();
        return;
      } else {
        this.sessionsClosed++;
        this.session = null;
      }
      this.finish();
      return;
    }
    const error = reply.error;
    if (error.code === 'NOT_LEADER') {
      const hint = error.details?.['leaderAddress'];
      this.switchServer(typeof hint === 'string' ? hint.slice(0, hint.indexOf(':')) : null, 5 + this.scheduler.random() * 30);
    } else if (error.code === 'LEADER_NOT_READY' || error.code === 'RESOURCE_UNAVAILABLE' || error.code === 'TRANSFER_IN_PROGRESS') {
      // TRANSFER_IN_PROGRESS: refused before the log, as RaftClient backs off (retry-policy.ts);
      // the retry finds the new leader through the old one's NOT_LEADER hint.
      if (error.code === 'TRANSFER_IN_PROGRESS') this.refusedInTransfer++;
      this.retryAfter(20 + this.scheduler.random() * 80);
    } else if (error.code === 'TIMEOUT' && call.kind === 'staleRead') {
      // The server had not applied the client's last write within the bound: another server.
      this.switchServer(null, 5 + this.scheduler.random() * 30);
    } else if (error.code === 'SESSION_EXPIRED' && call.kind === 'write' && this.session !== null) {
      // This copy was not applied; an earlier one may have been (the deadline outlasts the
      // bound here), so the outcome is unknown, as after a timeout. The next write opens a new session.
      const session = this.session;
      this.sessionsExpired++;
      this.events.onSessionExpired(this.id, session.id, this.scheduler.now - session.activeAt, session.idleMsMax);
      this.session = null;
      this.gaveUp++;
      this.finish();
    } else {
      this.events.onDefiniteFailure(this.id, call.value, error.code);
      this.finish();
    }
  }

  private switchServer(hint: string | null, delayMs: number): void {
    const hinted = hint === null ? -1 : this.nodeIds.indexOf(hint);
    this.target = hinted >= 0 ? hinted : (this.target + 1) % this.nodeIds.length;
    this.connection?.close();
    this.connection = null;
    this.retryAfter(delayMs);
  }

  private retryAfter(delayMs: number): void {
    const call = this.call;
    if (call === null) return;
    if (this.attemptTimer !== null) this.attemptTimer.cancelled = true;
    const attempt = call.attempt;
    this.attemptTimer = this.scheduler.at(delayMs, this.life, () => {
      if (this.call === call && call.attempt === attempt) this.send();
    });
  }

  private finish(): void {
    if (this.attemptTimer !== null) this.attemptTimer.cancelled = true;
    this.attemptTimer = null;
    this.call = null;
    this.scheduleNext();
  }
}
