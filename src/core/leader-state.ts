/**
 * What a leader knows for one term only: the match index the appender reported for each
 * follower, which followers replied during the current check-quorum window, and the ReadIndex
 * bookkeeping (pending reads, the rounds in flight and the heartbeat round each follower has
 * acknowledged) with the leader lease it confirms. A new
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

/** A heartbeat round started and not yet confirmed: when it started (the core's clock, ms). */
interface RoundStarted {
  round: number;
  startedMs: number;
}

export class LeaderState {
  private readonly matchIndexSeen = new Map<NodeId, number>();
  private readonly roundAcked = new Map<NodeId, number>();
  private readonly contactedInWindow = new Set<NodeId>();
  private readonly pendingReads: PendingRead[] = [];
  /**
   * Reads that arrived while a round was in flight: they wait for the next round, which starts
   * when the one in flight is confirmed (or at a tick, if it is slow). A round sent before a
   * read arrived may have been acknowledged before it too, which proves nothing about the read.
   */
  private readsForNextRound: { readId: number; readIndex: number }[] = [];
  /** The rounds started and not yet confirmed by a majority, oldest first. */
  private readonly roundsStarted: RoundStarted[] = [];
  /** Ticks since the newest round started (while one is in flight). */
  roundAgeTicks = 0;
  /**
   * The start of the leader lease (ms, the core's clock): when the newest round a majority
   * acknowledged was started, which is before any follower heard it. -Infinity: no lease.
   */
  leaseStartMs = Number.NEGATIVE_INFINITY;
  /**
   * A TimeoutNow went out in this term: its receiver may campaign at any time (the message may be
   * late), with votes that leader stickiness does not refuse, so no lease holds for the rest of it.
   */
  leaseBroken = false;
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

  /** A read that must wait for the next round (one is in flight). */
  addReadForNextRound(readId: number, readIndex: number): void {
    this.readsForNextRound.push({ readId, readIndex });
  }

  get readsWaitingForRound(): number {
    return this.readsForNextRound.length;
  }

  /** A round in flight: started, not yet confirmed by a majority. */
  get roundInFlight(): boolean {
    return this.roundsStarted.length > 0;
  }

  /** Round `round` starts at `nowMs`: the reads waiting for a next round are its. Returns how many. */
  startRound(round: number, nowMs: number): number {
    // The same round, not yet handed out, keeps its first start (the earlier, the safer for the lease).
    if (this.roundsStarted.at(-1)?.round !== round) this.roundsStarted.push({ round, startedMs: nowMs });
    this.roundAgeTicks = 0;
    const waiting = this.readsForNextRound;
    this.readsForNextRound = [];
    for (const read of waiting) this.pendingReads.push({ ...read, round });
    return waiting.length;
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
    // The lease runs from the start of the newest confirmed round.
    let done = 0;
    while (done < this.roundsStarted.length && this.roundsStarted[done]!.round <= confirmedRound) done++;
    if (done > 0) {
      this.leaseStartMs = Math.max(this.leaseStartMs, this.roundsStarted[done - 1]!.startedMs);
      this.roundsStarted.splice(0, done);
    }
    let count = 0;
    while (count < this.pendingReads.length && this.pendingReads[count]!.round <= confirmedRound) count++;
    return this.pendingReads.splice(0, count).map((read) => ({ readId: read.readId, readIndex: read.readIndex }));
  }

  /** Every pending read, removed: the leadership they waited on is gone. */
  takeAllReads(): number[] {
    const waiting = this.readsForNextRound;
    this.readsForNextRound = [];
    return [...this.pendingReads.splice(0), ...waiting].map((read) => read.readId);
  }

  get followerIds(): NodeId[] {
    return [...this.matchIndexSeen.keys()];
  }
}
