/**
 * The leader's pending writes (Ratis `PendingRequests`) and its retry cache.
 *
 * Pending writes are bounded by count and payload bytes: `tryAdmit` refuses when full, and the
 * caller replies ResourceUnavailable — never an unbounded queue. Appended writes are kept in index
 * order, so that an apply report answers all of them in one pass. Each write points at the stage
 * stamps of its received chunk (src/metrics/stage-recorder.ts records them per batch).
 *
 * Calls are found by (clientId, callId) in one table per client: a write still in progress (a
 * retry joins it) or one already answered (the retry cache: a retry gets the first reply). Every
 * server's updater also deduplicates at apply time, so a retry that reaches a new leader, which
 * has no cached reply, is appended again and answered with the first outcome. A client's table
 * goes when the updater reports its session ended or forgotten (`forgetClient`), so the cache
 * holds no more clients than the group holds sessions. A session's open and close are not cached:
 * a retried open makes another session (the unused one is forgotten when idle), and a retried
 * close ends nothing more.
 */
import type { ChunkSample, RepliedWrite } from '../metrics/stage-recorder.js';
import type { WireError } from '../errors.js';
import type { Inbound } from './listener.js';
import { CallTable } from '../call-table.js';

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
  /** The stage stamps this write shares with the rest of its chunk; null while profiling is off. */
  sample: ChunkSample | null;
  /** Answered: the outcome below is final and kept for retries. */
  done: boolean;
  result: Uint8Array | null;
  error: WireError | null;
}

/** Answers every waiter of a write that is done. */
export type Answer = (write: PendingWrite) => void;

const callsPerClientMax = 4096;
const isDone = (write: PendingWrite): boolean => write.done;
const noWaiters: ReplyTo[] = [];

export class PendingRequests {
  /** Per client: calls in progress and calls answered (the retry cache), by callId. */
  private readonly calls = new Map<string, CallTable<PendingWrite>>();
  /** Appended writes in index order; the cursor marks the first not yet applied. */
  private order: PendingWrite[] = [];
  private applyCursor = 0;
  private count = 0;
  private bytes = 0;

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

  /** A write in progress or already answered for this call, if any. */
  find(clientId: string, callId: number): PendingWrite | undefined {
    return this.calls.get(clientId)?.get(callId);
  }

  /** A newly admitted write, so that retries find it (before it is appended too). */
  register(write: PendingWrite): void {
    let calls = this.calls.get(write.clientId);
    if (calls === undefined) {
      calls = new CallTable();
      this.calls.set(write.clientId, calls);
    }
    calls.set(write.callId, write);
    if (calls.size > callsPerClientMax) {
      const oldest = calls.oldest()!;
      if (oldest.done) calls.delete(oldest.callId, oldest);
    }
  }

  /** Clients with a table in the cache. */
  get clientCount(): number {
    return this.calls.size;
  }

  /**
   * A session ended or was forgotten: its table goes. Writes of it still in progress stay in the
   * index order and are answered when applied (a retry of one is appended again, and the updater
   * answers it SESSION_EXPIRED).
   */
  forgetClient(clientId: string): void {
    this.calls.delete(clientId);
  }

  /** A registered write that will never be appended (refused before the log). */
  forget(write: PendingWrite): void {
    this.calls.get(write.clientId)?.delete(write.callId, write);
  }

  /** Forget answered calls the client no longer waits for, oldest first, up to one not answered. */
  pruneCache(clientId: string, firstUnacked: number): void {
    this.calls.get(clientId)?.pruneBelow(firstUnacked, isDone);
  }

  /** Registers appended writes, in index order (one call per appended batch). */
  add(writes: readonly PendingWrite[]): void {
    for (const write of writes) this.order.push(write);
  }

  /**
   * The updater's report: every entry through `appliedIndex` is applied, with a null result
   * unless listed; the listed ones carry their result or error (and may lie beyond, when applied
   * out of order). Answers the writes and keeps their outcomes for retries; the writes answered
   * are appended to `replied` for the stage recorder.
   */
  onApplied(appliedIndex: number, indexes: readonly number[], results: readonly (Uint8Array | null)[],
    errors: readonly (WireError | null)[], answer: Answer, replied: RepliedWrite[]): void {
    for (let i = 0; i < indexes.length; i++) {
      const write = this.atIndex(indexes[i]!);
      if (write !== undefined && !write.done) this.complete(write, results[i]!, errors[i]!, answer, replied);
    }
    const order = this.order;
    while (this.applyCursor < order.length && order[this.applyCursor]!.index <= appliedIndex) {
      const write = order[this.applyCursor++]!;
      if (!write.done) this.complete(write, null, null, answer, replied);
    }
    this.compact();
  }

  /** Leadership lost: every appended write not yet answered is failed through `fail`. */
  failAll(fail: (write: PendingWrite) => void): void {
    const order = this.order;
    this.order = [];
    this.applyCursor = 0;
    for (const write of order) {
      if (write.done) continue;
      this.forget(write);
      this.release(write.bytes);
      fail(write);
    }
  }

  private complete(write: PendingWrite, result: Uint8Array | null, error: WireError | null, answer: Answer, replied: RepliedWrite[]): void {
    write.done = true;
    write.result = result;
    write.error = error;
    answer(write);
    write.waiters = noWaiters;
    this.release(write.bytes);
    replied.push(write);
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
    const limit = this.applyCursor;
    let drop = 0;
    while (drop < limit && this.order[drop]!.done) drop++;
    if (drop > 1024 || (drop > 0 && drop === this.order.length)) {
      this.order = this.order.slice(drop);
      this.applyCursor -= drop;
    }
  }
}
