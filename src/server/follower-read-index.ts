/**
 * Follower reads (Raft thesis §6.4.1, Ratis's follower ReadIndex): a follower asks the leader for a
 * read index, the leader confirms its leadership with its ReadIndex machinery (a heartbeat round
 * acknowledged by a majority) and answers with the index, and the follower serves the read once
 * its own apply reaches it. The result is linearizable: the read index is at least the commit
 * index when the read arrived, and the follower's state at that index holds every write
 * acknowledged before it.
 *
 * This class holds the follower's side. Reads that arrive in one turn of the event loop share one
 * request, sent at the end of the turn; requests in flight are failed when the follower learns a
 * new term or leader (the answer of an old leader proves nothing about the new one) and when no
 * answer came within the bound (the leader died or the connection dropped).
 */
import type { NodeId } from '../core/types.js';
import { LeaderNotReadyError, type RaftlineError } from '../errors.js';

export interface FollowerReadIndexHost {
  /** This server's id, its current term and the leader it knows (null: none). */
  readonly id: string;
  term(): number;
  leaderId(): NodeId | null;
  /** Sends a ReadIndexRequest to `leaderId` on this server's connection to it. */
  sendRequest(leaderId: NodeId, term: number, requestId: number): void;
  /** Runs a callback at the end of the current turn. */
  defer(run: () => void): void;
}

interface InFlight<R> {
  term: number;
  leaderId: NodeId;
  reads: R[];
  sentMs: number;
}

export class FollowerReadIndex<R> {
  private queued: R[] = [];
  private scheduled = false;
  private readonly inFlight = new Map<number, InFlight<R>>();
  private nextRequestId = 1;
  /** Requests sent and answered (either way), for the counters. */
  sent = 0;
  answered = 0;

  /**
   * @param ready the reads of an answered request and the read index the leader gave
   * @param failed reads that cannot get a read index now (retriable: LEADER_NOT_READY)
   * @param nowMs the server's monotonic clock
   */
  constructor(
    private readonly host: FollowerReadIndexHost,
    private readonly ready: (reads: R[], readIndex: number) => void,
    private readonly failed: (reads: R[], error: RaftlineError) => void,
    private readonly nowMs: () => number,
  ) {}

  /** Reads waiting for a request or its answer. */
  get waiting(): number {
    let count = this.queued.length;
    for (const request of this.inFlight.values()) count += request.reads.length;
    return count;
  }

  /** A follower read: it goes with the turn's request. */
  add(read: R): void {
    this.queued.push(read);
    if (this.scheduled) return;
    this.scheduled = true;
    this.host.defer(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const reads = this.queued;
    this.queued = [];
    if (reads.length === 0) return;
    const leaderId = this.host.leaderId();
    const term = this.host.term();
    if (leaderId === null || leaderId === this.host.id) {
      this.failed(reads, new LeaderNotReadyError(`server ${this.host.id} knows no leader in term ${term} to ask for a read index; retry`,
        { reason: 'noLeader', server: this.host.id, term }));
      return;
    }
    const requestId = this.nextRequestId++;
    this.inFlight.set(requestId, { term, leaderId, reads, sentMs: this.nowMs() });
    this.sent++;
    this.host.sendRequest(leaderId, term, requestId);
  }

  /** The leader's answer: the reads go on with the read index, or fail with the leader's error. */
  onReply(from: NodeId, term: number, requestId: number, readIndex: number, error: RaftlineError | null): void {
    const request = this.inFlight.get(requestId);
    if (request === undefined || request.leaderId !== from) return;
    this.inFlight.delete(requestId);
    this.answered++;
    if (error === null && term === request.term && term === this.host.term()) {
      this.ready(request.reads, readIndex);
      return;
    }
    this.failed(request.reads, error ?? this.changed(request, 'termChanged'));
  }

  /** The follower learned a term or leader: requests to another leader, or of another term, fail. */
  onLeaderChange(term: number, leaderId: NodeId | null): void {
    for (const [requestId, request] of this.inFlight) {
      if (request.term === term && request.leaderId === leaderId) continue;
      this.inFlight.delete(requestId);
      this.failed(request.reads, this.changed(request, request.term === term ? 'leaderLost' : 'termChanged'));
    }
  }

  /** Requests unanswered for `waitMs`: the leader is gone or the connection dropped. */
  expire(waitMs: number): void {
    if (this.inFlight.size === 0) return;
    const nowMs = this.nowMs();
    for (const [requestId, request] of this.inFlight) {
      if (nowMs - request.sentMs < waitMs) continue;
      this.inFlight.delete(requestId);
      this.failed(request.reads, this.changed(request, 'noAnswer'));
    }
  }

  /** Every read waiting (the server closing). */
  failAll(error: RaftlineError): void {
    const reads = this.queued;
    this.queued = [];
    for (const request of this.inFlight.values()) reads.push(...request.reads);
    this.inFlight.clear();
    if (reads.length > 0) this.failed(reads, error);
  }

  private changed(request: InFlight<R>, reason: 'termChanged' | 'leaderLost' | 'noAnswer'): RaftlineError {
    const what = reason === 'noAnswer' ? 'did not answer' : reason === 'leaderLost' ? 'is no longer the leader' : 'was of an older term';
    return new LeaderNotReadyError(`the read index asked of ${request.leaderId} in term ${request.term} ${what}; retry`,
      { reason, server: this.host.id, leaderId: request.leaderId, term: request.term });
  }
}
