/**
 * What a leader knows for one term only: the match index the appender reported for each
 * follower, which followers replied during the current check-quorum window, and the ReadIndex
 * bookkeeping (pending reads and the heartbeat round each follower has acknowledged). A new
 * `LeaderState` is made at each election win, so nothing leaks from one term into the next
 * (a match index learned in an earlier term may describe a log that has since been truncated).
 */

import { assert } from '../errors.js';
import type { NodeId, ReadReady } from './types.js';

/** A leadership transfer under way (thesis §3.10): to whom, and how long it may take. */
export interface Transfer {
  target: NodeId;
  elapsedTicks: number;
  timeoutTicks: number;
  /** TimeoutNow went out: the target was caught up, and the leader now only waits to be deposed. */
  timeoutNowSent: boolean;
}

interface PendingRead {
  readId: number;
  readIndex: number;
  /** The heartbeat round whose majority acknowledgement confirms the leadership for this read. */
  round: number;
}

export class LeaderState {
  private readonly matchIndexSeen = new Map<NodeId, number>();
  private readonly roundAcked = new Map<NodeId, number>();
  private readonly contactedInWindow = new Set<NodeId>();
  private readonly pendingReads: PendingRead[] = [];
  checkQuorumElapsedTicks = 0;
  /** The transfer of this term's leadership under way, if any. */
  transfer: Transfer | null = null;

  constructor(followers: readonly NodeId[]) {
    this.setFollowers(followers);
  }

  /** The configuration changed: new members start from nothing, gone ones are forgotten. */
  setFollowers(followers: readonly NodeId[]): void {
    const keep = new Set(followers);
    for (const id of [...this.matchIndexSeen.keys()]) {
      if (keep.has(id)) continue;
      this.matchIndexSeen.delete(id);
      this.roundAcked.delete(id);
      this.contactedInWindow.delete(id);
    }
    for (const follower of followers) {
      if (this.matchIndexSeen.has(follower)) continue;
      this.matchIndexSeen.set(follower, 0);
      this.roundAcked.set(follower, 0);
    }
  }

  isFollower(peer: NodeId): boolean {
    return this.matchIndexSeen.has(peer);
  }

  /**
   * The appender's latest match index of `peer`, in the order it decided them. It only grows,
   * except when the follower turned out to have lost entries it acknowledged (a replaced disk):
   * then the appender reports 0 and the old match stops counting. True if it grew.
   */
  recordMatch(peer: NodeId, matchIndex: number): boolean {
    const seen = this.matchIndexSeen.get(peer);
    assert(seen !== undefined, `match from ${peer}, not a follower`);
    this.matchIndexSeen.set(peer, matchIndex);
    return matchIndex > seen;
  }

  /** The match index the appender last reported for `peer` (0 before any). */
  matchOf(peer: NodeId): number {
    return this.matchIndexSeen.get(peer) ?? 0;
  }

  recordContact(peer: NodeId): void {
    this.contactedInWindow.add(peer);
  }

  /** Closes a check-quorum window: what `isQuorum` says of the followers in contact during it (the leader adds itself). */
  closeContactWindow(isQuorum: (contacted: ReadonlySet<NodeId>) => boolean): boolean {
    const quorum = isQuorum(this.contactedInWindow);
    this.contactedInWindow.clear();
    this.checkQuorumElapsedTicks = 0;
    return quorum;
  }

  addRead(readId: number, readIndex: number, round: number): void {
    this.pendingReads.push({ readId, readIndex, round });
  }

  recordRoundAck(peer: NodeId, round: number): void {
    const acked = this.roundAcked.get(peer);
    assert(acked !== undefined, `round ack from ${peer}, not a follower`);
    if (round > acked) this.roundAcked.set(peer, round);
  }

  /**
   * Removes and returns the reads whose round a majority has acknowledged. Rounds only grow along
   * the queue, so the ready reads are a prefix of it.
   */
  takeConfirmedReads(confirmed: (roundOf: (peer: NodeId) => number) => number): ReadReady[] {
    // `confirmed` is the commit rule's quorum over the rounds each voter acknowledged (the leader all of them).
    const confirmedRound = confirmed((peer) => this.roundAcked.get(peer) ?? 0);
    let count = 0;
    while (count < this.pendingReads.length && this.pendingReads[count]!.round <= confirmedRound) count++;
    return this.pendingReads.splice(0, count).map((read) => ({ readId: read.readId, readIndex: read.readIndex }));
  }

  /** Every pending read, removed: the leadership they waited on is gone. */
  takeAllReads(): number[] {
    return this.pendingReads.splice(0).map((read) => read.readId);
  }

  get followerIds(): NodeId[] {
    return [...this.matchIndexSeen.keys()];
  }
}
