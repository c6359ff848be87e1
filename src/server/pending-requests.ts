/**
 * The leader's pending writes (Ratis `PendingRequests`) and every server's retry cache.
 *
 * Pending writes are bounded by count and payload bytes: `tryAdmit` refuses when full, and the
 * caller replies ResourceUnavailable — never an unbounded queue. Each write points at the stamps
 * of its received chunk (src/metrics/stage-recorder.ts records stages per batch, not per entry).
 *
 * The retry cache maps (clientId, callId) to the reply, filled from the updater's results on every
 * server (leader and followers alike, and rebuilt from the log at restart, since the updater
 * replays it), so a client that retries a write at a new leader gets the first reply.
 */
import type { ApplyResult } from '../messages/messages.js';
import type { ChunkSample, RepliedWrite } from '../metrics/stage-recorder.js';

export type ReplyFn = (result: ApplyResult) => void;

export interface PendingWrite {
  clientId: string;
  callId: number;
  index: number;
  bytes: number;
  waiters: ReplyFn[];
  /** The stage stamps this write shares with the rest of its chunk; null while profiling is off. */
  sample: ChunkSample | null;
}

const retryCacheCallsPerClientMax = 4096;

export class PendingRequests {
  private readonly byCall = new Map<string, PendingWrite>();
  private count = 0;
  private bytes = 0;
  private readonly retryCache = new Map<string, Map<number, ApplyResult>>();

  constructor(private readonly countMax: number, private readonly bytesMax: number) {}

  get pendingCount(): number {
    return this.count;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  tryAdmit(bytes: number): boolean {
    if (this.count + 1 > this.countMax || this.bytes + bytes > this.bytesMax) return false;
    this.count++;
    this.bytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.count--;
    this.bytes -= bytes;
  }

  static key(clientId: string, callId: number): string {
    return `${clientId}\u0000${callId}`;
  }

  findPending(clientId: string, callId: number): PendingWrite | undefined {
    return this.byCall.get(PendingRequests.key(clientId, callId));
  }

  findCached(clientId: string, callId: number): ApplyResult | undefined {
    return this.retryCache.get(clientId)?.get(callId);
  }

  /** Forget cached replies the client no longer waits for. */
  pruneCache(clientId: string, firstUnacked: number): void {
    const calls = this.retryCache.get(clientId);
    if (calls === undefined) return;
    for (const callId of calls.keys()) {
      if (callId < firstUnacked) calls.delete(callId);
      else break;
    }
  }

  /** Registers admitted writes (one call per appended batch). */
  add(writes: PendingWrite[]): void {
    for (const write of writes) this.byCall.set(PendingRequests.key(write.clientId, write.callId), write);
  }

  /**
   * Results from the updater: reply to waiting writes and fill the retry cache. The writes
   * replied are appended to `replied` (in the order of the results) for the stage recorder.
   */
  onApplied(results: readonly ApplyResult[], replied: RepliedWrite[]): void {
    for (const result of results) {
      let calls = this.retryCache.get(result.clientId);
      if (calls === undefined) {
        calls = new Map();
        this.retryCache.set(result.clientId, calls);
      }
      if (!calls.has(result.callId)) {
        calls.set(result.callId, result);
        if (calls.size > retryCacheCallsPerClientMax) calls.delete(calls.keys().next().value!);
      }
      const key = PendingRequests.key(result.clientId, result.callId);
      const write = this.byCall.get(key);
      if (write === undefined) continue;
      this.byCall.delete(key);
      for (const waiter of write.waiters) waiter(result);
      this.release(write.bytes);
      replied.push(write);
    }
  }

  /** Leadership lost: every pending write is failed through `fail`, and the table emptied. */
  failAll(fail: (write: PendingWrite) => void): void {
    const writes = [...this.byCall.values()];
    this.byCall.clear();
    for (const write of writes) {
      this.release(write.bytes);
      fail(write);
    }
  }
}
