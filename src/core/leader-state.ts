/**
 * What a leader knows for one term only: the match index the appender reported for each
 * follower, which followers replied during the current check-quorum window, and the ReadIndex
 * bookkeeping (pending reads and the heartbeat round each follower has acknowledged). A new
 * `LeaderState` is made at each election win, so nothing leaks from one term into the next
 * (a match index learned in an earlier term may describe a log that has since been truncated).
 */

import { assert } from '../errors.js';
import { quorumValue } from './quorum.js';
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

  constructor(private readonly followers: readonly NodeId[]) {
    for (const follower of followers) {
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

  /** Closes a check-quorum window: true if a majority (this leader included) was in contact. */
  closeContactWindow(majority: number): boolean {
    const inContact = this.contactedInWindow.size + 1;
    this.contactedInWindow.clear();
    this.checkQuorumElapsedTicks = 0;
    return inContact >= majority;
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
  takeConfirmedReads(majority: number): ReadReady[] {
    // The leader acknowledges every round itself, so it is the first vote of the majority.
    const confirmedRound = quorumValue([Number.MAX_SAFE_INTEGER, ...this.roundAcked.values()], majority);
    let count = 0;
    while (count < this.pendingReads.length && this.pendingReads[count]!.round <= confirmedRound) count++;
    return this.pendingReads.splice(0, count).map((read) => ({ readId: read.readId, readIndex: read.readIndex }));
  }

  /** Every pending read, removed: the leadership they waited on is gone. */
  takeAllReads(): number[] {
    return this.pendingReads.splice(0).map((read) => read.readId);
  }

  get followerIds(): readonly NodeId[] {
    return this.followers;
  }
}
