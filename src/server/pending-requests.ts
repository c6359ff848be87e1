/**
 * The leader's pending writes (Ratis `PendingRequests`) and its retry cache.
 *
 * Pending writes are bounded by count and payload bytes: `tryAdmit` refuses when full, and the
 * caller replies ResourceUnavailable — never an unbounded queue. Appended writes are kept in index
 * order, so that a sync, commit or apply report stamps and answers all of them in one pass (stage
 * latency is stamped per report, not per message).
 *
 * Calls are found by (clientId, callId) in one table per client: a write still in progress (a
 * retry joins it) or one already answered (the retry cache: a retry gets the first reply). Every
 * server's updater also deduplicates at apply time, so a retry that reaches a new leader, which
 * has no cached reply, is appended again and answered with the first outcome.
 */
import { Histogram, type HistogramSummary } from '../shell/histogram.js';
import type { WireError } from '../errors.js';
import type { Inbound } from './listener.js';

/** Where a call's reply goes: its connection, as a single reply or within a reply batch. */
export interface ReplyTo {
  connection: Inbound;
  batched: boolean;
  callId: number;
}

export interface PendingWrite {
  clientId: string;
  callId: number;
  /** Log index once appended; 0 before. */
  index: number;
  bytes: number;
  waiters: ReplyTo[];
  receivedMs: number;
  appendedMs: number;
  syncedMs: number;
  committedMs: number;
  /** Answered: the outcome below is final and kept for retries. */
  done: boolean;
  result: Uint8Array | null;
  error: WireError | null;
}

/** Answers every waiter of a write that is done. */
export type Answer = (write: PendingWrite) => void;

export const stageNames = ['admit', 'logSync', 'commit', 'apply', 'reply', 'total'] as const;
export type StageName = (typeof stageNames)[number];
export type StageSummaries = Record<StageName, HistogramSummary>;

const callsPerClientMax = 4096;
const noWaiters: ReplyTo[] = [];

export class PendingRequests {
  /** Per client: calls in progress and calls answered (the retry cache), by callId. */
  private readonly calls = new Map<string, Map<number, PendingWrite>>();
  /** Appended writes in index order; the cursors mark the first not yet synced / committed / applied. */
  private order: PendingWrite[] = [];
  private syncCursor = 0;
  private commitCursor = 0;
  private applyCursor = 0;
  private count = 0;
  private bytes = 0;
  private readonly admit = new Histogram();
  private readonly logSync = new Histogram();
  private readonly commit = new Histogram();
  private readonly apply = new Histogram();
  private readonly reply = new Histogram();
  private readonly total = new Histogram();

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

  /** A write in progress or already answered for this call, if any. */
  find(clientId: string, callId: number): PendingWrite | undefined {
    return this.calls.get(clientId)?.get(callId);
  }

  /** A newly admitted write, so that retries find it (before it is appended too). */
  register(write: PendingWrite): void {
    let calls = this.calls.get(write.clientId);
    if (calls === undefined) {
      calls = new Map();
      this.calls.set(write.clientId, calls);
    }
    calls.set(write.callId, write);
    if (calls.size > callsPerClientMax) {
      const oldest = calls.values().next().value!;
      if (oldest.done) calls.delete(oldest.callId);
    }
  }

  /** A registered write that will never be appended (refused before the log). */
  forget(write: PendingWrite): void {
    const calls = this.calls.get(write.clientId);
    if (calls?.get(write.callId) === write) calls.delete(write.callId);
  }

  /** Forget answered calls the client no longer waits for (kept in callId order, mostly). */
  pruneCache(clientId: string, firstUnacked: number): void {
    const calls = this.calls.get(clientId);
    if (calls === undefined) return;
    for (const write of calls.values()) {
      if (write.callId >= firstUnacked || !write.done) break;
      calls.delete(write.callId);
    }
  }

  /** Registers appended writes, in index order (one call per appended batch). */
  add(writes: readonly PendingWrite[]): void {
    for (const write of writes) this.order.push(write);
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

  /**
   * The updater's report: every entry through `appliedIndex` is applied, with a null result
   * unless listed; the listed ones carry their result or error (and may lie beyond, when applied
   * out of order). Answers the writes, keeps their outcomes for retries, stamps the stages.
   */
  onApplied(appliedIndex: number, indexes: readonly number[], results: readonly (Uint8Array | null)[],
    errors: readonly (WireError | null)[], nowMs: number, answer: Answer): void {
    for (let i = 0; i < indexes.length; i++) {
      const write = this.atIndex(indexes[i]!);
      if (write !== undefined && !write.done) this.complete(write, results[i]!, errors[i]!, nowMs, answer);
    }
    const order = this.order;
    while (this.applyCursor < order.length && order[this.applyCursor]!.index <= appliedIndex) {
      const write = order[this.applyCursor++]!;
      if (!write.done) this.complete(write, null, null, nowMs, answer);
    }
    this.compact();
  }

  /** Leadership lost: every appended write not yet answered is failed through `fail`. */
  failAll(fail: (write: PendingWrite) => void): void {
    const order = this.order;
    this.order = [];
    this.syncCursor = 0;
    this.commitCursor = 0;
    this.applyCursor = 0;
    for (const write of order) {
      if (write.done) continue;
      this.forget(write);
      this.release(write.bytes);
      fail(write);
    }
  }

  stageSummaries(): StageSummaries {
    return {
      admit: this.admit.summary(), logSync: this.logSync.summary(), commit: this.commit.summary(),
      apply: this.apply.summary(), reply: this.reply.summary(), total: this.total.summary(),
    };
  }

  private complete(write: PendingWrite, result: Uint8Array | null, error: WireError | null, nowMs: number, answer: Answer): void {
    write.done = true;
    write.result = result;
    write.error = error;
    const committedMs = write.committedMs || nowMs;
    stamp(this.admit, write.receivedMs, write.appendedMs);
    stamp(this.logSync, write.appendedMs, write.syncedMs);
    stamp(this.commit, write.appendedMs, committedMs);
    stamp(this.apply, committedMs, nowMs);
    answer(write);
    write.waiters = noWaiters;
    const repliedMs = performance.now();
    stamp(this.reply, nowMs, repliedMs);
    stamp(this.total, write.receivedMs, repliedMs);
    this.release(write.bytes);
  }

  /** The appended write at `index` (binary search: the order list is sorted by index). */
  private atIndex(index: number): PendingWrite | undefined {
    const order = this.order;
    let low = 0;
    let high = order.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = order[middle]!.index;
      if (found === index) return order[middle];
      if (found < index) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  /** Drops answered writes from the front of the order list. */
  private compact(): void {
    const limit = Math.min(this.syncCursor, this.commitCursor, this.applyCursor);
    let drop = 0;
    while (drop < limit && this.order[drop]!.done) drop++;
    if (drop > 1024 || (drop > 0 && drop === this.order.length)) {
      this.order = this.order.slice(drop);
      this.syncCursor -= drop;
      this.commitCursor -= drop;
      this.applyCursor -= drop;
    }
  }
}

function stamp(histogram: Histogram, fromMs: number, toMs: number): void {
  if (fromMs > 0 && toMs >= fromMs) histogram.record((toMs - fromMs) * 1000);
}
