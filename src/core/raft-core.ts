/**
 * The consensus core: role, term, vote, commit index and the log's terms of one Raft node, as a
 * pure state machine in the manner of etcd-io/raft. Inputs are ticks, vote messages, AppendEntries
 * headers and the appender's reports; outputs accumulate in a `Ready` that the shell drains. The
 * core performs no I/O and draws randomness only from the injected `Rng`, so a seed replays a run.
 *
 * What lives where: leader-only, per-term bookkeeping (match indexes, check-quorum contacts,
 * ReadIndex rounds) in `leader-state.ts`; the follower's consistency check and truncation in
 * `log-matching.ts`; the log's terms in `term-runs.ts`; majority arithmetic
 * in `quorum.ts`; effect accumulation in `ready-builder.ts`.
 *
 * Check-quorum window: `electionTicksMin`. A leader that has not heard from a majority within
 * that many ticks steps down, so a leader cut off in a minority gives up within (min, 2·min] ticks,
 * about when the majority side's followers start to time out, and it stops answering clients as
 * leader instead of letting their requests hang. The same `electionTicksMin` is the window of
 * leader stickiness on the voter side, so both sides agree on what "recently heard" means.
 */

import { assert } from '../errors.js';
import { termMax } from '../limits.js';
import { LeaderState } from './leader-state.js';
import { matchAndAppend } from './log-matching.js';
import { hasQuorum, nextCommitIndex, quorumIndex, type QuorumConfiguration } from './commit-rule.js';
import {
  ConfigurationLog, isVoterIn, membersOf, quorumOf, sameConfiguration, type ConfigurationAt, type GroupConfiguration,
} from './configuration.js';
import { ReadyBuilder } from './ready-builder.js';
import { TermLog } from './term-runs.js';
import type {
  AppendDecision,
  AppendEntriesHeader,
  ConfigurationProposal,
  CoreConfig,
  CoreMessage,
  InstallDecision,
  NodeId,
  ProposeResult,
  ReadCounters,
  ReadIndexResult,
  Ready,
  TimeoutNow,
  TransferStart,
  RestoredState,
  Role,
  RoleChange,
  TermRun,
  VoteRequest,
  VoteResponse,
} from './types.js';

export class RaftCore {
  private readonly config: CoreConfig;
  /** The configurations of the log (configuration.ts); the latest is in force. */
  private readonly configurations: ConfigurationLog;
  /** Derived from the configuration in force (applyConfiguration): the other voters (and outgoing voters while joint), every other member, whether this node votes. */
  private electors: NodeId[] = [];
  private others: NodeId[] = [];
  private isVoter = false;
  /** The voters as the commit rule counts them (commit-rule.ts). */
  private quorum: QuorumConfiguration = { voters: [] };
  private readonly log: TermLog;
  private readonly out = new ReadyBuilder();

  private currentTerm: number;
  private votedForId: NodeId | null;
  private currentRole: Role = 'follower';
  private leaderIdKnown: NodeId | null = null;
  /** Invariant: committedIndex <= log.lastIndex, and it never decreases. */
  private committedIndex = 0;
  /** Durable through this index on this node (the log actor's report); <= log.lastIndex. */
  private localSyncedIndex: number;

  private electionElapsedTicks = 0;
  private electionTimeoutTicks: number;
  /** Ticks since an AppendEntries from the current leader: the leader stickiness clock (thesis §4.2.3). */
  private leaderContactAgoTicks = Number.POSITIVE_INFINITY;

  /** Votes of the current (pre-)campaign: voter -> granted. */
  private readonly votes = new Map<NodeId, boolean>();
  /** Present only while leader; made anew for each term. */
  private leaderState: LeaderState | null = null;
  /** Heartbeat rounds only grow over this core's life, so a stale acknowledgement never confirms a newer round. */
  private lastHeartbeatRound = 0;
  /** The last role change put in a Ready, to announce only real changes. */
  private announced: RoleChange;
  /** Elections paused on this node (maintenance): it never campaigns, nor takes a handed-over leadership. */
  private paused = false;
  /** The term of the last election this node started because its leader handed over (TimeoutNow). */
  private handedOverTerm = 0;
  /** False while this candidate's own term and vote are not yet durable (voteRequestsBeforePersist). */
  private ownVoteDurable = true;
  /** Ticks since this core started (a server with a lease refuses votes for a while after it starts). */
  private ticksSinceStart = 0;
  private readonly reads: ReadCounters = { rounds: 0, roundReads: 0, leaseReads: 0, leaseFallbacks: 0 };

  constructor(config: CoreConfig, restored: RestoredState) {
    assert(
      Number.isInteger(config.electionTicksMin) && config.electionTicksMin >= 1 && config.electionTicksMax >= config.electionTicksMin,
      `bad election ticks [${config.electionTicksMin}, ${config.electionTicksMax}]`,
    );
    assert(new Set(config.voters).size === config.voters.length, 'voters must be distinct');
    assert(restored.configurations === undefined || restored.configurations.length > 0, 'restored configurations are given with the one in force at the start');
    assert(restored.hardState.term >= 0 && restored.hardState.term <= termMax, `bad restored term ${restored.hardState.term}`);
    assert(restored.termRuns.length > 0 || restored.lastIndex === 0, 'a non-empty log needs term runs (a snapshot\'s own when the log holds none after it)');
    assert(config.readLeaseMs === undefined || config.readLeaseMs === 0 || (config.readLeaseMs > 0 && config.monotonicMs !== undefined),
      `a read lease of ${config.readLeaseMs} ms needs a monotonic clock`);
    this.config = config;
    // Without recovered configurations, the start-up voters (addresses are the shell's business then).
    this.configurations = new ConfigurationLog(restored.configurations ?? [{
      index: 0, configuration: { voters: config.voters.map((id) => ({ id, address: '' })), learners: [], outgoing: null },
    }]);
    this.applyConfiguration();
    // The shell recovered this configuration itself: nothing to announce.
    this.out.configuration = null;
    this.log = new TermLog(restored.termRuns, restored.lastIndex);
    assert(this.log.lastTerm <= restored.hardState.term, `log term ${this.log.lastTerm} beyond term ${restored.hardState.term}`);
    this.currentTerm = restored.hardState.term;
    this.votedForId = restored.hardState.votedFor;
    const snapshot = restored.snapshot ?? null;
    if (snapshot !== null) {
      // A snapshot holds committed entries only: its index is committed here from the start.
      assert(this.log.termAt(snapshot.index) === snapshot.term,
        `log does not hold the snapshot's last entry (${snapshot.index}, term ${snapshot.term})`);
      this.committedIndex = snapshot.index;
    }
    // The recovered log is on disk already.
    this.localSyncedIndex = restored.lastIndex;
    this.electionTimeoutTicks = this.drawElectionTimeout();
    this.announced = { role: 'follower', term: this.currentTerm, leaderId: null };
  }

  get id(): NodeId { return this.config.id; }
  get role(): Role { return this.currentRole; }
  get term(): number { return this.currentTerm; }
  get votedFor(): NodeId | null { return this.votedForId; }
  get leaderId(): NodeId | null { return this.leaderIdKnown; }
  get commitIndex(): number { return this.committedIndex; }
  get lastIndex(): number { return this.log.lastIndex; }
  get lastTerm(): number { return this.log.lastTerm; }
  termAt(index: number): number | undefined { return this.log.termAt(index); }
  /** The first index whose term this node knows (after a snapshot, its index; term-runs.ts). */
  get firstKnownIndex(): number { return this.log.firstKnownIndex; }
  /** The log's terms as runs (for checks and for the shell's recovery cross-check). */
  termRuns(): TermRun[] { return this.log.runs(); }
  /** The configuration in force (the latest in the log, committed or not: Raft §6), and its index. */
  get configuration(): ConfigurationAt { return this.configurations.latest; }
  /** The configuration in force at `index` (for a snapshot through it). */
  configurationAt(index: number): ConfigurationAt { return this.configurations.at(index); }
  /** A change is under way: the configuration in force is not committed yet, or it is joint. */
  get configurationChanging(): boolean {
    const latest = this.configurations.latest;
    return latest.index > this.committedIndex || latest.configuration.outgoing !== null;
  }

  // ---- configuration (Raft §6) ----

  /** Derives who votes and who is replicated to from the configuration in force; announces a change. */
  private applyConfiguration(): void {
    const latest = this.configurations.latest;
    const configuration = latest.configuration;
    const self = this.config.id;
    this.quorum = quorumOf(configuration);
    this.isVoter = isVoterIn(configuration, self);
    this.others = membersOf(configuration).map((member) => member.id).filter((id) => id !== self);
    this.electors = this.others.filter((id) => isVoterIn(configuration, id));
    if (this.leaderState !== null) {
      this.leaderState.setFollowers(this.others);
      // The lease was confirmed by a majority of the configuration before: it starts over.
      this.leaderState.leaseStartMs = Number.NEGATIVE_INFINITY;
    }
    this.out.configuration = latest;
  }

  /**
   * Appends a configuration entry (the leader only): it is in force from now on, here and, once
   * replicated, on each follower. Refused while another change is under way (the configuration in
   * force is uncommitted or joint) and during a leadership transfer. A change of voters must come
   * as C_old,new (`outgoing` set): the leader appends C_new itself once that commits.
   */
  proposeConfiguration(configuration: GroupConfiguration): ConfigurationProposal {
    if (this.currentRole !== 'leader') return { ok: false, reason: 'notLeader', leaderId: this.leaderIdKnown };
    const leader = this.requireLeaderState();
    if (this.configurationChanging) return { ok: false, reason: 'inProgress', index: this.configurations.latest.index };
    if (leader.transfer !== null) return { ok: false, reason: 'transferring', index: this.configurations.latest.index };
    const index = this.log.lastIndex + 1;
    this.log.appendRun(index, 1, this.currentTerm);
    this.configurations.append({ index, configuration });
    this.applyConfiguration();
    return { ok: true, index, term: this.currentTerm };
  }

  /** Once C_old,new commits the leader appends C_new; once a C_new that leaves it out commits, it steps down. */
  private followConfiguration(): void {
    this.configurations.compactTo(this.committedIndex);
    const latest = this.configurations.latest;
    if (this.currentRole !== 'leader' || latest.index > this.committedIndex) return;
    const configuration = latest.configuration;
    if (configuration.outgoing !== null) {
      const next: GroupConfiguration = { voters: configuration.voters, learners: configuration.learners, outgoing: null };
      const index = this.log.lastIndex + 1;
      this.log.appendRun(index, 1, this.currentTerm);
      this.configurations.append({ index, configuration: next });
      this.applyConfiguration();
      this.out.configurationAppend = { index, term: this.currentTerm, configuration: next };
    } else if (!this.isVoter && this.requireLeaderState().transfer === null) {
      // Removed: it led the group through the change, and leaves (thesis §4.2.2), handing over to
      // the most caught-up voter so that no election timeout passes without a leader.
      const handover = this.transferLeadership(null, this.config.electionTicksMin);
      if (!handover.ok) this.becomeFollower(this.currentTerm, null);
    }
  }

  // ---- time ----

  /** One tick of logical time: election timeout for followers and candidates, check-quorum for leaders. */
  tick(): void {
    this.leaderContactAgoTicks++;
    this.ticksSinceStart++;
    if (this.currentRole === 'leader') {
      this.tickLeader();
      return;
    }
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.electionTimeoutTicks) {
      if (this.isVoter && !this.paused) this.campaign();
      else this.resetElectionTimer();
    }
  }

  private tickLeader(): void {
    const leader = this.requireLeaderState();
    this.tickReadRounds(leader);
    const transfer = leader.transfer;
    // A transfer that outlasts its time is given up: the leader takes writes again (thesis §3.10).
    if (transfer !== null && ++transfer.elapsedTicks >= transfer.timeoutTicks) {
      leader.transfer = null;
      // A leader that is no longer a voter only waited to hand over: it leaves anyway.
      if (!this.isVoter) {
        this.becomeFollower(this.currentTerm, null);
        return;
      }
    }
    leader.checkQuorumElapsedTicks++;
    if (leader.checkQuorumElapsedTicks < this.config.electionTicksMin) return;
    // Check-quorum (thesis §6.2): a leader that cannot reach a majority steps down, so clients
    // go looking for the real leader and stale reads cannot be served here.
    const self = this.config.id;
    if (!leader.closeContactWindow((contacted) => hasQuorum(this.quorum, (voter) => voter === self || contacted.has(voter)))) {
      this.becomeFollower(this.currentTerm, null);
    }
  }

  // ---- elections (§5.2, pre-vote thesis §9.6) ----

  /**
   * Starts an election now, pre-vote first. A leader or a non-voter does nothing, and so does a
   * node whose term has reached the ceiling (limits.ts, termMax): no next term exists that its
   * peers would accept, so it waits as a follower and says so (`termCeilingReached`).
   */
  campaign(): void {
    if (this.currentRole === 'leader' || !this.isVoter) return;
    if (this.currentTerm >= termMax) {
      this.resetElectionTimer();
      return;
    }
    this.becomePreCandidate();
  }

  /**
   * Pauses or resumes elections on this node (maintenance): while paused it never campaigns. A
   * campaign under way is given up (the node waits as a follower of its term): else the pre-votes
   * or votes still to come would carry it into an election, or win one.
   */
  setElectionsPaused(paused: boolean): void {
    this.paused = paused;
    if (paused && (this.currentRole === 'preCandidate' || this.currentRole === 'candidate')) this.becomeFollower(this.currentTerm, null);
    if (!paused) this.resetElectionTimer();
  }

  get electionsPaused(): boolean {
    return this.paused;
  }

  /** True when this node's term is at the ceiling: it cannot campaign (see `campaign`). */
  get termCeilingReached(): boolean {
    return this.currentTerm >= termMax;
  }

  /** A vote request or response from another node. */
  step(from: NodeId, message: CoreMessage): void {
    if (from === this.config.id || !this.others.includes(from)) return;
    if (message.type === 'voteRequest') this.handleVoteRequest(from, message);
    else if (message.type === 'voteResponse') this.handleVoteResponse(from, message);
    else this.handleTimeoutNow(from, message);
  }

  private becomePreCandidate(): void {
    // The pre-candidate keeps its term and vote: a node that cannot win does not disturb the
    // group by bumping terms (thesis §9.6).
    this.setRole('preCandidate', null);
    this.resetElectionTimer();
    this.votes.clear();
    this.votes.set(this.config.id, true);
    if (this.votesWon()) {
      this.startElection();
      return;
    }
    const request = this.voteRequest(true, this.currentTerm + 1);
    for (const peer of this.electors) this.out.messages.push({ to: peer, message: request });
  }

  /** `transfer`: the leader handed leadership to this node (TimeoutNow); its vote requests say so. */
  private startElection(transfer = false): void {
    this.currentTerm++;
    this.votedForId = this.config.id;
    this.persistHardState();
    this.setRole('candidate', null);
    this.resetElectionTimer();
    // A self-vote counts only once durable, or a restart could vote twice in the term and two
    // leaders win it (§5.2, Figure 2 "persistent state"). Either the requests wait for the
    // persist, or they leave now and the win waits for it (onHardStateDurable).
    const early = this.config.voteRequestsBeforePersist === true;
    this.ownVoteDurable = !early;
    this.votes.clear();
    this.votes.set(this.config.id, true);
    if (this.votesWon()) {
      this.becomeLeader();
      return;
    }
    const request = this.voteRequest(false, this.currentTerm, transfer);
    for (const peer of this.electors) (early ? this.out.messages : this.out.messagesAfterPersist).push({ to: peer, message: request });
  }

  /**
   * The hard state of `term` (this node's term and vote) is durable. A candidate of that term
   * that sent its vote requests before (`voteRequestsBeforePersist`) now counts its own vote.
   */
  onHardStateDurable(term: number): void {
    if (this.currentRole !== 'candidate' || this.currentTerm !== term || this.ownVoteDurable) return;
    this.ownVoteDurable = true;
    if (this.votesWon()) this.becomeLeader();
  }

  private voteRequest(preVote: boolean, term: number, transfer = false): VoteRequest {
    return {
      type: 'voteRequest', preVote, term, candidateId: this.config.id, lastIndex: this.log.lastIndex, lastTerm: this.log.lastTerm, transfer,
    };
  }

  /**
   * The leader of this term hands leadership to this node, whose log it has seen catch up with
   * its own: an election starts now, without a pre-vote (thesis §3.10). Ignored from anyone but
   * the leader this node follows in this term, and while elections are paused here.
   */
  private handleTimeoutNow(from: NodeId, message: TimeoutNow): void {
    if (message.term !== this.currentTerm || this.currentRole !== 'follower' || this.leaderIdKnown !== from) return;
    if (!this.isVoter || this.paused || this.currentTerm >= termMax) return;
    this.startElection(true);
    this.handedOverTerm = this.currentTerm;
  }

  /** Ticks since this node last heard from the leader it follows (Infinity before any). */
  get leaderSilentTicks(): number {
    return this.leaderContactAgoTicks;
  }

  /**
   * True while this node campaigns because its leader handed over to it: it is about to lead
   * (its old leader has stopped taking writes), so a client should retry here in a moment rather
   * than look elsewhere.
   */
  get takingOver(): boolean {
    return this.currentRole === 'candidate' && this.handedOverTerm === this.currentTerm;
  }

  private handleVoteRequest(from: NodeId, request: VoteRequest): void {
    const inLease = this.inLeaderLease();
    const upToDate = this.isUpToDate(request.lastIndex, request.lastTerm);
    if (request.preVote) {
      // A pre-vote changes nothing here; it only says whether a real vote would be granted.
      const granted = request.term > this.currentTerm && !inLease && upToDate;
      const response: VoteResponse = { type: 'voteResponse', preVote: true, term: granted ? request.term : this.currentTerm, granted };
      this.out.messages.push({ to: from, message: response });
      return;
    }
    if (request.term > this.currentTerm) {
      // Leader stickiness (thesis §4.2.3, etcd's inLease): while a leader is heard from, a
      // disruptive candidate is ignored altogether, its term not even adopted; unless the leader
      // itself handed over to it (a transfer, thesis §3.10).
      if (inLease && !request.transfer) return;
      this.becomeFollower(request.term, null);
    }
    const granted =
      request.term === this.currentTerm &&
      (this.votedForId === null || this.votedForId === request.candidateId) &&
      upToDate;
    const response: VoteResponse = { type: 'voteResponse', preVote: false, term: this.currentTerm, granted };
    if (granted) {
      this.votedForId = request.candidateId;
      this.persistHardState();
      this.resetElectionTimer();
      // A granted vote must survive a crash before the candidate learns of it (§5.2).
      this.out.messagesAfterPersist.push({ to: from, message: response });
    } else {
      this.out.messages.push({ to: from, message: response });
    }
  }

  private handleVoteResponse(from: NodeId, response: VoteResponse): void {
    // A granted pre-vote carries the proposed term, not the responder's: it is no news of a
    // higher term. Any other response with a higher term is (§5.1).
    if (response.term > this.currentTerm && !(response.preVote && response.granted)) {
      this.becomeFollower(response.term, null);
      return;
    }
    const counting =
      (this.currentRole === 'preCandidate' && response.preVote && (!response.granted || response.term === this.currentTerm + 1)) ||
      (this.currentRole === 'candidate' && !response.preVote && response.term === this.currentTerm);
    if (!counting) return;
    this.votes.set(from, response.granted);
    if (this.votesWon()) {
      if (this.currentRole === 'preCandidate') this.startElection();
      else this.becomeLeader();
    } else if (!hasQuorum(this.quorum, (voter) => this.votes.get(voter) !== false)) {
      // Enough said no that no majority can say yes: wait as a follower for the next timeout.
      this.becomeFollower(this.currentTerm, null);
    }
  }

  /** A majority of every voter set granted (while joint, of the old and the new voters: §6). */
  private votesWon(): boolean {
    // A candidate whose own term and vote are not durable yet cannot lead, even on the others'
    // votes alone: restarted without them, it could vote for another candidate of the same term.
    if (this.currentRole === 'candidate' && !this.ownVoteDurable) return false;
    return hasQuorum(this.quorum, (voter) => this.votes.get(voter) === true);
  }

  /** §5.4.1: the candidate's log is at least as up-to-date as ours (last term, then length). */
  private isUpToDate(lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.log.lastTerm || (lastTerm === this.log.lastTerm && lastIndex >= this.log.lastIndex);
  }

  /**
   * True while a current leader is known to be alive: this node itself, or one heard from within
   * `electionTicksMin` ticks. A leader's read lease counts on every voter that acknowledged it
   * keeping this promise for that long, so a server with a lease keeps it even when a higher
   * term made it forget which leader that was (a late vote response), and across a restart: it
   * refuses votes for that long after it starts (it may have acknowledged a leader just before
   * it stopped).
   */
  private inLeaderLease(): boolean {
    if (this.currentRole === 'leader') return true;
    const window = this.config.electionTicksMin;
    if (this.leaseConfigured) return this.ticksSinceStart < window || this.leaderContactAgoTicks < window;
    return this.leaderIdKnown !== null && this.leaderContactAgoTicks < window;
  }

  // ---- role transitions ----

  private becomeLeader(): void {
    assert(this.currentRole === 'candidate', `leader from ${this.currentRole}`);
    this.setRole('leader', this.config.id);
    this.leaderState = new LeaderState(this.others);
    // A no-op entry of the new term (§8, thesis §6.4): committing it commits every earlier entry
    // (§5.4.2) and tells the leader its commit index is current, which ReadIndex needs.
    const noopIndex = this.log.lastIndex + 1;
    this.log.appendRun(noopIndex, 1, this.currentTerm);
    this.out.leaderStart = { term: this.currentTerm, noopIndex, commitIndex: this.committedIndex, followers: [...this.others] };
  }

  private becomeFollower(term: number, leaderId: NodeId | null): void {
    assert(term >= this.currentTerm, `follower of term ${term} below ${this.currentTerm}`);
    if (term > this.currentTerm) {
      this.currentTerm = term;
      this.votedForId = null;
      this.persistHardState();
    }
    if (this.leaderState !== null) {
      // Reads waiting for this leadership cannot be confirmed any more (thesis §6.4).
      this.out.readsFailed.push(...this.leaderState.takeAllReads());
      this.out.heartbeatRound = null;
      this.leaderState = null;
    }
    this.setRole('follower', leaderId);
    this.resetElectionTimer();
  }

  private setRole(role: Role, leaderId: NodeId | null): void {
    this.currentRole = role;
    this.leaderIdKnown = leaderId;
    // The Ready carries the latest (role, term, leader); a change of term alone is announced too.
    const last = this.announced;
    if (last.role !== role || last.term !== this.currentTerm || last.leaderId !== leaderId) {
      this.announced = { role, term: this.currentTerm, leaderId };
      this.out.roleChange = this.announced;
    }
  }

  private persistHardState(): void {
    this.out.hardState = { term: this.currentTerm, votedFor: this.votedForId };
  }

  private resetElectionTimer(): void {
    this.electionElapsedTicks = 0;
    this.electionTimeoutTicks = this.drawElectionTimeout();
  }

  private drawElectionTimeout(): number {
    return this.config.rng.intBetween(this.config.electionTicksMin, this.config.electionTicksMax);
  }

  // ---- follower side of replication (§5.3) ----

  /** Decides an AppendEntries request: reject, or which suffix to truncate and which entries to append. */
  handleAppendEntries(header: AppendEntriesHeader): AppendDecision {
    if (!this.hearLeader(header.term, header.leaderId)) {
      // A stale leader: our term in the reply makes it step down (§5.1).
      return { kind: 'reject', reply: { term: this.currentTerm, success: false, matchIndex: 0, nextIndexHint: 0 } };
    }
    const match = matchAndAppend(this.log, this.committedIndex, header);
    if (match.kind === 'reject') {
      return { kind: 'reject', reply: { term: this.currentTerm, success: false, matchIndex: 0, nextIndexHint: match.nextIndexHint } };
    }
    const { truncateFrom, appendFrom, matchIndex } = match;
    if (truncateFrom !== null) this.localSyncedIndex = Math.min(this.localSyncedIndex, truncateFrom - 1);
    let configurationChanged = truncateFrom !== null && this.configurations.truncateFrom(truncateFrom);
    for (const { offset, configuration } of header.configurations ?? []) {
      if (offset < appendFrom) continue;
      this.configurations.append({ index: header.prevIndex + 1 + offset, configuration });
      configurationChanged = true;
    }
    if (configurationChanged) this.applyConfiguration();
    // Only what this request proved to match may be committed here (§5.3, Figure 2 step 5).
    this.advanceCommit(Math.min(header.leaderCommit, matchIndex));
    return { kind: 'accept', truncateFrom, appendFrom, reply: { term: this.currentTerm, success: true, matchIndex, nextIndexHint: matchIndex + 1 } };
  }

  /**
   * A message from `leaderId` as leader of `term`: false for a stale leader; otherwise this node
   * follows it and its election timer starts over (§5.2).
   */
  private hearLeader(term: number, leaderId: NodeId): boolean {
    if (term < this.currentTerm) return false;
    assert(
      !(this.currentRole === 'leader' && term === this.currentTerm),
      `two leaders in term ${term}: ${this.config.id} and ${leaderId} (election safety, §5.2)`,
    );
    if (term > this.currentTerm || this.currentRole !== 'follower' || this.leaderIdKnown !== leaderId) {
      this.becomeFollower(term, leaderId);
    } else {
      this.resetElectionTimer();
    }
    this.leaderContactAgoTicks = 0;
    return true;
  }

  // ---- follower side of snapshot installs (§7) ----

  /** A chunk of the leader's snapshot: taken from the current leader (which it makes this node follow), refused from a stale one. */
  handleInstallSnapshot(term: number, leaderId: NodeId): InstallDecision {
    return { ok: this.hearLeader(term, leaderId), term: this.currentTerm };
  }

  /**
   * A snapshot through `index` (of `term`) is installed and durable. If the log holds that entry
   * with that term, the log goes on after it (§7: a suffix consistent with the snapshot is kept);
   * otherwise the log restarts after the snapshot, and the shell must reset its log the same way
   * before it acknowledges. Either way everything through `index` is committed.
   */
  onSnapshotInstalled(index: number, term: number, configuration?: GroupConfiguration): { keepLog: boolean } {
    if (this.log.termAt(index) === term) {
      if (configuration !== undefined) this.configurations.rebase(index, configuration);
      this.advanceCommit(index);
      return { keepLog: true };
    }
    assert(index > this.committedIndex, `snapshot (${index}, term ${term}) contradicts committed entries (commit ${this.committedIndex})`);
    this.log.resetTo(index, term);
    if (configuration !== undefined) {
      const before = this.configurations.latest.configuration;
      this.configurations.resetTo(index, configuration);
      if (!sameConfiguration(before, configuration)) this.applyConfiguration();
    }
    this.localSyncedIndex = index;
    this.advanceCommit(index);
    return { keepLog: false };
  }

  // ---- leader side: propose, commit, check-quorum ----

  /** Reserves `count` new indexes in the current term; the shell appends the entries there. */
  propose(count: number): ProposeResult {
    assert(Number.isInteger(count) && count >= 1, `bad propose count ${count}`);
    if (this.currentRole !== 'leader') return { ok: false, reason: 'notLeader', leaderId: this.leaderIdKnown };
    const transfer = this.requireLeaderState().transfer;
    // The target must catch up with a log that stops growing (thesis §3.10).
    if (transfer !== null) return { ok: false, reason: 'transferring', target: transfer.target };
    const firstIndex = this.log.lastIndex + 1;
    this.log.appendRun(firstIndex, count, this.currentTerm);
    return { ok: true, firstIndex, term: this.currentTerm };
  }

  /**
   * This node's log is durable through `index`. The shell reports in log order, after the
   * truncations and appends the core ordered, so the index never describes a replaced suffix.
   */
  onLocalSynced(index: number): void {
    assert(index <= this.log.lastIndex, `synced ${index} beyond last index ${this.log.lastIndex}`);
    if (index <= this.localSyncedIndex) return;
    this.localSyncedIndex = index;
    if (this.currentRole === 'leader') this.maybeCommit();
  }

  /** The appender's report of a follower's durable match index, from a reply of the current term. */
  onMatch(peer: NodeId, matchIndex: number): void {
    const leader = this.leaderState;
    if (leader === null || !leader.isFollower(peer)) return;
    assert(matchIndex <= this.log.lastIndex, `${peer} matches ${matchIndex} beyond last index ${this.log.lastIndex}`);
    if (leader.recordMatch(peer, matchIndex)) {
      this.maybeCommit();
      this.maybeHandOver();
    }
  }

  // ---- leadership transfer (thesis §3.10) ----

  /**
   * Starts handing leadership to `target`, or to the follower with the highest match when null
   * (a step-down that leaves no gap for an election timeout). The leader appends nothing more;
   * once the target's match reaches the log's end it sends TimeoutNow, and the target's election
   * deposes this leader. After `timeoutTicks` without that, the transfer is given up.
   */
  transferLeadership(target: NodeId | null, timeoutTicks: number): TransferStart {
    assert(Number.isInteger(timeoutTicks) && timeoutTicks >= 1, `bad transfer timeout ${timeoutTicks}`);
    if (this.currentRole !== 'leader') return { ok: false, reason: 'notLeader', leaderId: this.leaderIdKnown };
    const leader = this.requireLeaderState();
    if (leader.transfer !== null) return { ok: false, reason: 'inProgress', target: leader.transfer.target };
    let chosen = target;
    if (chosen === null) {
      for (const peer of this.electors) if (chosen === null || leader.matchOf(peer) > leader.matchOf(chosen)) chosen = peer;
      if (chosen === null) return { ok: false, reason: 'noFollower', target: null };
    } else if (!this.electors.includes(chosen)) {
      return { ok: false, reason: 'notVoter', target: chosen };
    }
    leader.transfer = { target: chosen, elapsedTicks: 0, timeoutTicks, timeoutNowSent: false };
    this.maybeHandOver();
    return { ok: true, target: chosen };
  }

  /** The transfer under way on this leader, if any: its target. */
  get transferTarget(): NodeId | null {
    return this.leaderState?.transfer?.target ?? null;
  }

  /** Sends TimeoutNow once the transfer's target holds everything this leader's log holds. */
  private maybeHandOver(): void {
    const transfer = this.leaderState?.transfer;
    if (transfer === undefined || transfer === null || transfer.timeoutNowSent) return;
    const leader = this.requireLeaderState();
    if (leader.matchOf(transfer.target) < this.log.lastIndex) return;
    transfer.timeoutNowSent = true;
    leader.leaseBroken = true;
    this.out.messages.push({ to: transfer.target, message: { type: 'timeoutNow', term: this.currentTerm } });
  }

  /** Any reply of the current term from a follower: it counts toward check-quorum. */
  onPeerContact(peer: NodeId): void {
    const leader = this.leaderState;
    if (leader === null || !leader.isFollower(peer)) return;
    leader.recordContact(peer);
  }

  /** A reply carried a higher term: a newer leader may exist, step down (§5.1). */
  onHigherTerm(term: number, leaderId: NodeId | null): void {
    if (term > this.currentTerm) this.becomeFollower(term, leaderId);
  }

  /** The commit rule (commit-rule.ts), with this node's synced index as its own match. */
  private maybeCommit(): void {
    const leader = this.requireLeaderState();
    const self = this.config.id;
    const next = nextCommitIndex(this.quorum, (voter) => (voter === self ? this.localSyncedIndex : leader.matchOf(voter)),
      this.currentTerm, this.committedIndex, (index) => this.log.termAt(index));
    this.advanceCommit(next);
  }

  private advanceCommit(index: number): void {
    if (index <= this.committedIndex) return;
    assert(index <= this.log.lastIndex, `commit ${index} beyond last index ${this.log.lastIndex}`);
    this.committedIndex = index;
    this.out.commitIndex = index;
    this.followConfiguration();
  }

  // ---- ReadIndex (thesis §6.4) and the leader lease ----

  /**
   * Registers a linearizable read. Its read index is the commit index now; it becomes ready once a
   * majority acknowledged a heartbeat round started after this call, which proves no newer leader
   * had committed anything when the read arrived. Reads share rounds: every read until the round
   * is handed to the appender joins it, and the reads that arrive while it is in flight wait for
   * the next one, which starts when it is confirmed (or at a tick, if it is slow): at most one
   * read round is outstanding, however many reads arrive.
   *
   * With a lease (CoreConfig.readLeaseMs) that holds, the read is confirmed at once, without a
   * round: the result says so, with its read index.
   */
  readIndex(readId: number): ReadIndexResult {
    if (this.currentRole !== 'leader') return { ok: false, reason: 'notLeader', leaderId: this.leaderIdKnown };
    // Until an entry of its own term commits, a new leader does not know the commit index (§6.4 step 1).
    if (this.log.termAt(this.committedIndex) !== this.currentTerm) return { ok: false, reason: 'leaderNotReady' };
    const self = this.config.id;
    const readIndex = this.committedIndex;
    if (hasQuorum(this.quorum, (voter) => voter === self)) {
      this.out.readsReady.push({ readId, readIndex });
      return { ok: true, readIndex };
    }
    const leader = this.requireLeaderState();
    if (this.leaseConfigured) {
      if (this.leaseRemainingMs() > 0) {
        this.reads.leaseReads++;
        return { ok: true, readIndex, lease: true };
      }
      this.reads.leaseFallbacks++;
    }
    // A round not yet handed to the appender is sent after this read arrived: the read joins it.
    const unsent = this.out.heartbeatRound;
    if (unsent !== null) {
      leader.addRead(readId, readIndex, unsent);
      this.reads.roundReads++;
      return { ok: true, readIndex };
    }
    leader.addReadForNextRound(readId, readIndex);
    if (!leader.roundInFlight) this.startReadRound(leader);
    return { ok: true, readIndex };
  }

  /** Starts a heartbeat round now (or takes the one not yet handed out): the reads waiting for a next round are its. */
  private startReadRound(leader: LeaderState): void {
    let round = this.out.heartbeatRound;
    if (round === null) {
      round = ++this.lastHeartbeatRound;
      this.out.heartbeatRound = round;
      this.reads.rounds++;
    }
    this.reads.roundReads += leader.startRound(round, this.nowMs());
  }

  /**
   * At each leader tick: a round in flight for more than a tick (a follower slow or cut off) no
   * longer holds back the reads waiting for the next one; with a lease, a round renews it when
   * none is in flight.
   */
  private tickReadRounds(leader: LeaderState): void {
    if (leader.roundInFlight) {
      leader.roundAgeTicks++;
      if (leader.roundAgeTicks >= 2 && (leader.readsWaitingForRound > 0 || this.leaseConfigured)) this.startReadRound(leader);
    } else if (leader.readsWaitingForRound > 0 || this.leaseConfigured) {
      this.startReadRound(leader);
    }
  }

  /** A follower acknowledged heartbeat round `round` (or a later one) in the current term. */
  onRoundAck(peer: NodeId, round: number): void {
    const leader = this.leaderState;
    if (leader === null || !leader.isFollower(peer)) return;
    assert(round <= this.lastHeartbeatRound, `ack of round ${round}, never started (last ${this.lastHeartbeatRound})`);
    leader.recordContact(peer);
    leader.recordRoundAck(peer, round);
    const self = this.config.id;
    this.out.readsReady.push(...leader.takeConfirmedReads((roundOf) => quorumIndex(this.quorum, (voter) => (voter === self ? Number.MAX_SAFE_INTEGER : roundOf(voter)))));
    if (!leader.roundInFlight && leader.readsWaitingForRound > 0) this.startReadRound(leader);
  }

  /** Whether this core was given a read lease (it may still not hold one). */
  get leaseConfigured(): boolean {
    return (this.config.readLeaseMs ?? 0) > 0;
  }

  /**
   * How long this leader's lease still holds, in ms; 0 when it holds none: not the leader, no
   * round confirmed within the lease, a transfer under way (or TimeoutNow sent in this term:
   * its receiver campaigns with votes stickiness does not refuse), elections paused here.
   */
  leaseRemainingMs(): number {
    const leader = this.leaderState;
    const leaseMs = this.config.readLeaseMs ?? 0;
    if (leader === null || leaseMs <= 0 || leader.transfer !== null || leader.leaseBroken || this.paused) return 0;
    return Math.max(0, leader.leaseStartMs + leaseMs - this.nowMs());
  }

  /** What this core counted of its reads (ReadCounters). */
  get readCounters(): Readonly<ReadCounters> {
    return this.reads;
  }

  private nowMs(): number {
    return this.config.monotonicMs?.() ?? 0;
  }

  // ---- output ----

  hasReady(): boolean {
    return !this.out.isEmpty();
  }

  /** Drains the effects accumulated since the last call. */
  ready(): Ready {
    return this.out.take();
  }

  private requireLeaderState(): LeaderState {
    assert(this.leaderState !== null && this.currentRole === 'leader', `${this.config.id} is not leader`);
    return this.leaderState;
  }
}
