/**
 * Watches (Ratis `RaftClient.watch`): a client waits until a log entry has reached a replication
 * level (messages.ts, WatchLevel). The leader answers them from what its appender reports of each
 * follower (match index, and the commit index each follower acknowledged) and its own durable and
 * commit indexes. Watches are looked at when that progress is reported, never on a timer of
 * their own; the server's tick only ends those past their timeout (TIMEOUT, naming the index the
 * level had reached).
 */
import { quorumIndex, type QuorumConfiguration } from '../core/commit-rule.js';
import type { NodeId } from '../core/types.js';
import { TimeoutError, type RaftlineError } from '../errors.js';
import { watchLevels, type WatchLevel, type WatchResult, type WatchServerProgress } from '../messages/messages.js';

/** What the leader knows of its voters' progress, for the levels. */
export interface ReplicationView {
  self: NodeId;
  quorum: QuorumConfiguration;
  /** The index a voter stores durably (this server: its synced index). */
  matchOf(voter: NodeId): number;
  /** The commit index a voter is known to have (this server: its own). */
  commitOf(voter: NodeId): number;
}

/** The index each level has reached. */
export function levelsReached(view: ReplicationView): Record<WatchLevel, number> {
  const voters = votersOf(view.quorum);
  const min = (of: (voter: NodeId) => number): number => voters.reduce((low, voter) => Math.min(low, of(voter)), Number.MAX_SAFE_INTEGER);
  return {
    MAJORITY: quorumIndex(view.quorum, (voter) => view.matchOf(voter)),
    ALL: voters.length === 0 ? 0 : min((voter) => view.matchOf(voter)),
    MAJORITY_COMMITTED: quorumIndex(view.quorum, (voter) => view.commitOf(voter)),
    ALL_COMMITTED: voters.length === 0 ? 0 : min((voter) => view.commitOf(voter)),
  };
}

function votersOf(quorum: QuorumConfiguration): NodeId[] {
  return [...new Set([...quorum.voters, ...(quorum.outgoing ?? [])])];
}

function resultOf(index: number, level: WatchLevel, view: ReplicationView, reached: Record<WatchLevel, number>): WatchResult {
  const servers: WatchServerProgress[] = votersOf(view.quorum).map((id) => ({ id, match: view.matchOf(id), commit: view.commitOf(id) }));
  return { index, level, reached, servers };
}

interface Watch {
  index: number;
  level: WatchLevel;
  deadlineMs: number;
  timeoutMs: number;
  resolve: (result: WatchResult) => void;
  reject: (error: Error) => void;
}

export class Watches {
  private watches: Watch[] = [];
  answered = 0;
  timedOut = 0;

  get pending(): number {
    return this.watches.length;
  }

  /** A watch, answered at once when `level` has reached `index` already. */
  add(index: number, level: WatchLevel, timeoutMs: number, nowMs: number, view: ReplicationView): Promise<WatchResult> {
    if (!(watchLevels as readonly string[]).includes(level)) return Promise.reject(new TypeError(`unknown watch level ${String(level)}`));
    const reached = levelsReached(view);
    if (reached[level] >= index) {
      this.answered++;
      return Promise.resolve(resultOf(index, level, view, reached));
    }
    return new Promise<WatchResult>((resolve, reject) => {
      this.watches.push({ index, level, deadlineMs: nowMs + timeoutMs, timeoutMs, resolve, reject });
    });
  }

  /** Progress was reported: the watches whose level reached their index are answered. */
  observe(view: ReplicationView): void {
    if (this.watches.length === 0) return;
    const reached = levelsReached(view);
    const waiting = this.watches;
    this.watches = [];
    for (const watch of waiting) {
      if (reached[watch.level] >= watch.index) {
        this.answered++;
        watch.resolve(resultOf(watch.index, watch.level, view, reached));
      } else {
        this.watches.push(watch);
      }
    }
  }

  /** Watches past their timeout: TIMEOUT with the level, the index watched and the index reached. */
  expire(nowMs: number, view: ReplicationView): void {
    if (this.watches.length === 0) return;
    let reached: Record<WatchLevel, number> | null = null;
    const waiting = this.watches;
    this.watches = [];
    for (const watch of waiting) {
      if (watch.deadlineMs > nowMs) {
        this.watches.push(watch);
        continue;
      }
      reached ??= levelsReached(view);
      this.timedOut++;
      const at = reached[watch.level];
      watch.reject(new TimeoutError(`watch of index ${watch.index} at ${watch.level} timed out after ${watch.timeoutMs} ms; ${watch.level} reached ${at}`, {
        reason: 'watch', level: watch.level, index: watch.index, reached: at, timeoutMs: watch.timeoutMs,
        servers: resultOf(watch.index, watch.level, view, reached).servers,
      }));
    }
  }

  /** Leadership lost (or the server closing): every watch gets `error` (NOT_LEADER: the client asks the new leader). */
  failAll(error: RaftlineError): void {
    const waiting = this.watches;
    this.watches = [];
    for (const watch of waiting) watch.reject(error);
  }
}
