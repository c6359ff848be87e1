/**
 * The leader's pending writes (Ratis `PendingRequests`) and every server's retry cache.
 *
 * Pending writes are bounded by count and payload bytes: `tryAdmit` refuses when full, and the
 * caller replies ResourceUnavailable — never an unbounded queue. They are kept in index order so
 * that a sync or commit report stamps all of them in one pass (stage latency is stamped per
 * batch, not per entry).
 *
 * The retry cache maps (clientId, callId) to the reply, filled from the updater's results on every
 * server (leader and followers alike, and rebuilt from the log at restart, since the updater
 * replays it), so a client that retries a write at a new leader gets the first reply.
 */
import { Histogram, type HistogramSummary } from '../shell/histogram.js';
import type { ApplyResult } from '../messages/messages.js';

export type ReplyFn = (result: ApplyResult) => void;

export interface PendingWrite {
  clientId: string;
  callId: number;
  index: number;
  bytes: number;
  waiters: ReplyFn[];
  receivedMs: number;
  appendedMs: number;
  syncedMs: number;
  committedMs: number;
}

export const stageNames = ['admit', 'logSync', 'commit', 'apply', 'reply', 'total'] as const;
export type StageName = (typeof stageNames)[number];
export type StageSummaries = Record<StageName, HistogramSummary>;

const retryCacheCallsPerClientMax = 4096;

export class PendingRequests {
  private readonly byCall = new Map<string, PendingWrite>();
  /** In index order; the cursors mark the first write not yet synced / committed. */
  private order: PendingWrite[] = [];
  private syncCursor = 0;
  private commitCursor = 0;
  private count = 0;
  private bytes = 0;
  private readonly retryCache = new Map<string, Map<number, ApplyResult>>();
  private readonly stages = new Map<StageName, Histogram>(stageNames.map((name) => [name, new Histogram()]));

  constructor(private readonly countMax: number, private readonly bytesMax: number) {}

  get pendingCount(): number {
    return this.count;
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

  /** Registers admitted writes, in index order (one call per appended batch). */
  add(writes: PendingWrite[]): void {
    for (const write of writes) {
      this.byCall.set(PendingRequests.key(write.clientId, write.callId), write);
      this.order.push(write);
    }
  }

  onSynced(index: number, nowMs: number): void {
    while (this.syncCursor < this.order.length && this.order[this.syncCursor]!.index <= index) {
      this.order[this.syncCursor++]!.syncedMs = nowMs;
    }
  }

  onCommitted(index: number, nowMs: number): void {
    while (this.commitCursor < this.order.length && this.order[this.commitCursor]!.index <= index) {
      this.order[this.commitCursor++]!.committedMs = nowMs;
    }
  }

  /** Results from the updater: reply to waiting writes, fill the retry cache, stamp the stages. */
  onApplied(results: readonly ApplyResult[], nowMs: number): void {
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
      const write = this.byCall.get(PendingRequests.key(result.clientId, result.callId));
      if (write === undefined) continue;
      this.byCall.delete(PendingRequests.key(result.clientId, result.callId));
      const stage = (name: StageName, fromMs: number, toMs: number): void => {
        if (fromMs > 0 && toMs >= fromMs) this.stages.get(name)!.record((toMs - fromMs) * 1000);
      };
      const committedMs = write.committedMs || nowMs;
      stage('admit', write.receivedMs, write.appendedMs);
      stage('logSync', write.appendedMs, write.syncedMs);
      stage('commit', write.appendedMs, committedMs);
      stage('apply', committedMs, nowMs);
      for (const waiter of write.waiters) waiter(result);
      const repliedMs = performance.now();
      stage('reply', nowMs, repliedMs);
      stage('total', write.receivedMs, repliedMs);
      this.release(write.bytes);
    }
    this.compact();
  }

  /** Leadership lost: every pending write is failed through `fail`, and the table emptied. */
  failAll(fail: (write: PendingWrite) => void): void {
    const writes = [...this.byCall.values()];
    this.byCall.clear();
    this.order = [];
    this.syncCursor = 0;
    this.commitCursor = 0;
    for (const write of writes) {
      this.release(write.bytes);
      fail(write);
    }
  }

  stageSummaries(): StageSummaries {
    const out = {} as StageSummaries;
    for (const name of stageNames) out[name] = this.stages.get(name)!.summary();
    return out;
  }

  /** Drops replied writes from the front of the order list. */
  private compact(): void {
    let drop = 0;
    while (drop < this.commitCursor && drop < this.syncCursor &&
           !this.byCall.has(PendingRequests.key(this.order[drop]!.clientId, this.order[drop]!.callId))) drop++;
    if (drop > 1024 || (drop > 0 && drop === this.order.length)) {
      this.order = this.order.slice(drop);
      this.syncCursor -= drop;
      this.commitCursor -= drop;
    }
  }
}
