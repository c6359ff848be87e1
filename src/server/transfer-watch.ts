/**
 * The server's side of a leadership transfer (thesis §3.10): the core hands over (it stops taking
 * writes, waits for the target to catch up and sends it TimeoutNow); this watch answers the admin
 * calls that asked for it. It looks at the core after each of its steps: the transfer is done
 * when this server learns that the target leads a later term, failed when another server does,
 * when the core gave it up (its timeout, while still leading), or when the time ran out with no
 * leader known. Calls that ask for the same transfer while it runs wait for the same outcome.
 */
import { TransferFailedError, type RaftlineError } from '../errors.js';
import type { NodeId } from '../core/types.js';
import type { TransferOutcome } from '../messages/messages.js';

/** What the watch reads of the core. */
export interface TransferView {
  readonly role: string;
  readonly term: number;
  readonly leaderId: NodeId | null;
  readonly transferTarget: NodeId | null;
}

interface Waiting {
  target: NodeId;
  term: number;
  startedMs: number;
  deadlineMs: number;
  settles: { resolve: (outcome: TransferOutcome) => void; reject: (error: Error) => void }[];
}

/** Milliseconds to a tenth, never negative (the transfer figures' precision). */
export function tenths(ms: number): number {
  return Math.round(Math.max(0, ms) * 10) / 10;
}

export type TransferEnd = { ok: true; outcome: TransferOutcome } | { ok: false; error: RaftlineError };

export class TransferWatch {
  private waiting: Waiting | null = null;

  /** The server taking over from this one while a transfer it led is unresolved (a NOT_LEADER hint), else null. */
  get target(): NodeId | null {
    return this.waiting?.target ?? null;
  }

  /** When the transfer under way started (monotonic ms), or null. */
  get startedMs(): number | null {
    return this.waiting?.startedMs ?? null;
  }

  /** Waits for the transfer the core just started (to `target`, in `term`). */
  begin(target: NodeId, term: number, nowMs: number, timeoutMs: number): Promise<TransferOutcome> {
    this.waiting = { target, term, startedMs: nowMs, deadlineMs: nowMs + timeoutMs, settles: [] };
    return this.join();
  }

  /** One more call waiting for the transfer under way (the same target asked again). */
  join(): Promise<TransferOutcome> {
    const waiting = this.waiting;
    if (waiting === null) throw new Error('no transfer to join');
    return new Promise<TransferOutcome>((resolve, reject) => waiting.settles.push({ resolve, reject }));
  }

  /** Settles the waiting calls once the core's state says how the transfer ended; the end, or null while it runs. */
  observe(core: TransferView, nowMs: number): TransferEnd | null {
    const waiting = this.waiting;
    if (waiting === null) return null;
    let end: TransferEnd | null = null;
    if (core.role === 'leader' && core.term === waiting.term) {
      if (core.transferTarget === null) end = this.failure(waiting, 'timeout', `the leader gave up handing over to ${waiting.target} after its timeout; it takes writes again`);
    } else if (core.leaderId === waiting.target && core.term > waiting.term) {
      end = { ok: true, outcome: { leader: waiting.target, term: core.term, ms: tenths(nowMs - waiting.startedMs) } };
    } else if (core.leaderId !== null && core.leaderId !== waiting.target) {
      end = this.failure(waiting, 'otherLeader', `${core.leaderId} became leader in term ${core.term}, not ${waiting.target}`, { leaderId: core.leaderId });
    } else if (nowMs >= waiting.deadlineMs) {
      end = this.failure(waiting, 'timeout', `no leader known ${Math.round(nowMs - waiting.startedMs)} ms after handing over to ${waiting.target}`);
    }
    if (end !== null) this.settle(end);
    return end;
  }

  /** Every waiting call fails with `error` (the server is closing). */
  abandon(error: Error): void {
    const waiting = this.waiting;
    this.waiting = null;
    for (const settle of waiting?.settles ?? []) settle.reject(error);
  }

  private failure(waiting: Waiting, reason: string, message: string, details: Record<string, unknown> = {}): TransferEnd {
    return { ok: false, error: new TransferFailedError(`transfer to ${waiting.target} failed: ${message}`, { target: waiting.target, reason, ...details }) };
  }

  private settle(end: TransferEnd): void {
    const settles = this.waiting?.settles ?? [];
    this.waiting = null;
    for (const settle of settles) {
      if (end.ok) settle.resolve(end.outcome);
      else settle.reject(end.error);
    }
  }
}
