/**
 * A simulated client, doing what RaftClient does on the wire: a write keeps its callId across
 * every retry (NOT_LEADER redirects, LEADER_NOT_READY / RESOURCE_UNAVAILABLE back-offs, a lost
 * connection, a reply that does not come), and carries the lowest callId it still waits for
 * (`firstUnacked`). Writes put unique values into the ledger; reads are linearizable reads.
 * One call at a time; a call not answered within its deadline is given up (its outcome unknown),
 * as a real client's call times out.
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
  onDefiniteFailure(client: string, value: string, code: string): void;
}

export interface ClientOptions {
  attemptTimeoutMs: number;
  callDeadlineMs: number;
  thinkMsMin: number;
  thinkMsMax: number;
  readRatio: number;
}

interface Call {
  callId: number;
  kind: 'write' | 'read';
  value: string;
  data: Uint8Array;
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
  written = 0;
  acknowledged = 0;
  reads = 0;
  gaveUp = 0;

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

  /** From now on every operation is a write. */
  writesOnly(): void {
    this.readRatio = 0;
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
    this.call = {
      callId, kind: isRead ? 'read' : 'write', value, data: isRead ? encode(0) : encode(value),
      deadlineAt: this.scheduler.now + this.options.callDeadlineMs, attempt: 0,
      acknowledgedBefore: isRead ? this.acknowledgedSoFar() : [],
    };
    if (!isRead) this.written++;
    this.send();
  }

  private send(): void {
    const call = this.call;
    if (call === null) return;
    if (this.scheduler.now >= call.deadlineAt) {
      this.gaveUp++;
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
    this.connection?.send({
      k: Kind.ClientRequestBatch, g: 'default', clientId: this.id, firstUnacked: call.callId,
      callIds: [call.callId], types: [call.kind === 'read' ? RequestType.readOnly : RequestType.write], data: [call.data],
    });
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
        this.events.onAcknowledged(this.id, call.value, reply.index);
      } else {
        this.reads++;
        this.events.onRead(this.id, decode(reply.result!) as number, call.acknowledgedBefore);
      }
      this.finish();
      return;
    }
    const error = reply.error;
    if (error.code === 'NOT_LEADER') {
      const hint = error.details?.['leaderAddress'];
      this.switchServer(typeof hint === 'string' ? hint.slice(0, hint.indexOf(':')) : null, 5 + this.scheduler.random() * 30);
    } else if (error.code === 'LEADER_NOT_READY' || error.code === 'RESOURCE_UNAVAILABLE') {
      this.retryAfter(20 + this.scheduler.random() * 80);
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
