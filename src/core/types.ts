/**
 * The consensus core's contract: what goes in, what comes out. The core is pure and deterministic
 * (no timers, clock, randomness of its own, promises or I/O): time arrives as `tick()`,
 * randomness from an injected seeded `Rng`, and every decision leaves as data in a `Ready`.
 *
 * Division of labour: the core owns role, term, vote, commit index and a view of the
 * log's terms. Entry payloads never enter the core; the shell moves bytes. The appender actor owns
 * per-follower replication progress and reports matches, higher terms, contact and read rounds to
 * the core, which decides commit, step-down and linearizable reads.
 */

import type { ConfigurationAt, GroupConfiguration } from './configuration.js';

export type NodeId = string;

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Term and vote: durable before any reply that depends on them (Raft §5.1, Figure 2). */
export interface HardState {
  term: number;
  votedFor: NodeId | null;
}

/** A seeded generator; the only source of randomness in the core. */
export interface Rng {
  /** An integer in [min, max], both inclusive. */
  intBetween(min: number, max: number): number;
}

export interface CoreConfig {
  id: NodeId;
  /** Every voter of the group, this node included. */
  voters: readonly NodeId[];
  /** Election timeout is drawn from [electionTicksMin, electionTicksMax] at each reset. */
  electionTicksMin: number;
  electionTicksMax: number;
  rng: Rng;
  /**
   * A candidate's vote requests leave at once, while its new term and self-vote are still being
   * persisted, and it counts its own vote (so may win) only once `onHardStateDurable` says they
   * are durable: the persist overlaps the voters' instead of preceding it. Without it (the
   * default) the requests wait in `messagesAfterPersist`.
   */
  voteRequestsBeforePersist?: boolean;
  /**
   * Leader lease for reads (opt-in; absent or 0: off): a leader serves a linearizable read
   * without a heartbeat round while less than this many ms (on `monotonicMs`) have passed since
   * the start of the newest round a majority acknowledged. It relies on leader stickiness on
   * the voters (a voter that heard from a leader within `electionTicksMin` ticks refuses votes),
   * so the shell sets it below that window by the clock drift it allows. A server with a lease
   * also refuses votes for `electionTicksMin` ticks after it starts: a follower restarted at once
   * would otherwise forget the leader it just acknowledged.
   */
  readLeaseMs?: number;
  /** The node's monotonic clock in ms; needed with `readLeaseMs`. */
  monotonicMs?: () => number;
}

/** What a core counted of its linearizable reads since it started. */
export interface ReadCounters {
  /** Heartbeat rounds started for reads or to renew the lease. */
  rounds: number;
  /** Reads confirmed by a round (their sum over rounds; reads per round = this / rounds). */
  roundReads: number;
  /** Reads served on the lease, without a round. */
  leaseReads: number;
  /** Reads on a server with a lease that found it lapsed (or withheld) and went by a round. */
  leaseFallbacks: number;
}

/** What the log held at start (recovered by the log actor). */
export interface RestoredState {
  hardState: HardState;
  /** Term of each entry as runs: entries [runs[i].firstIndex, runs[i+1].firstIndex) have runs[i].term. */
  termRuns: readonly TermRun[];
  /** Index of the last entry in the log; 0 when empty (the snapshot's index when the log holds none after it). */
  lastIndex: number;
  /**
   * The snapshot the log continues, if any: everything through its index is committed. The term
   * runs then start at or before its index (the log actor adds a run for it when the log starts after it).
   */
  snapshot?: { index: number; term: number } | null;
  /**
   * The configuration in force at the log's committed start (index 0: the start-up one; or the
   * snapshot's, at its index), then every configuration entry of the log after it, in index
   * order. Absent: `CoreConfig.voters`, with no addresses.
   */
  configurations?: readonly ConfigurationAt[];
}

export interface TermRun {
  firstIndex: number;
  term: number;
}

// ---- Messages between cores (the shell carries them; AppendEntries comes from the appender) ----

export interface VoteRequest {
  type: 'voteRequest';
  /** True for a pre-vote (Raft thesis §9.6): no term change, no vote recorded. */
  preVote: boolean;
  /** For a pre-vote: the term the candidate would campaign in (its term + 1). */
  term: number;
  candidateId: NodeId;
  lastIndex: number;
  lastTerm: number;
  /**
   * The candidate campaigns because the leader handed over leadership (TimeoutNow, thesis §3.10):
   * a voter grants it even while it hears from that leader (leader stickiness would refuse).
   */
  transfer: boolean;
}

export interface VoteResponse {
  type: 'voteResponse';
  preVote: boolean;
  /** The responder's term; for a granted pre-vote, the request's term. */
  term: number;
  granted: boolean;
}

/**
 * A leader hands over leadership (thesis §3.10): the receiver, caught up with the leader's log,
 * starts an election at once, without a pre-vote. Only the leader of `term` sends it.
 */
export interface TimeoutNow {
  type: 'timeoutNow';
  term: number;
}

export type CoreMessage = VoteRequest | VoteResponse | TimeoutNow;

export interface OutMessage {
  to: NodeId;
  message: CoreMessage;
}

/** The header of an AppendEntries request; payloads stay with the shell. */
export interface AppendEntriesHeader {
  term: number;
  leaderId: NodeId;
  prevIndex: number;
  prevTerm: number;
  leaderCommit: number;
  /** Term of each entry carried, for indexes prevIndex + 1 ... prevIndex + entryTerms.length. */
  entryTerms: readonly number[];
  /** The configuration entries among them: position in the request, and the configuration. */
  configurations?: readonly { offset: number; configuration: GroupConfiguration }[];
}

export interface AppendEntriesReply {
  term: number;
  success: boolean;
  /** On success: the last index this request made match (prevIndex + entries). */
  matchIndex: number;
  /** On reject: where the leader should try next (back-off hint). */
  nextIndexHint: number;
}

/**
 * The core's decision on an AppendEntries request. On `accept`, the shell truncates its log from
 * `truncateFrom` (when not null), appends the request's entries from position `appendFrom` on
 * (index prevIndex + 1 + appendFrom ...), and sends `reply` only once the log is synced through
 * `reply.matchIndex` and any `Ready.hardState` of the same step is durable.
 */
export type AppendDecision =
  | { kind: 'reject'; reply: AppendEntriesReply }
  | { kind: 'accept'; truncateFrom: number | null; appendFrom: number; reply: AppendEntriesReply };

/** Sent to the appender when this node becomes leader. */
export interface LeaderStart {
  term: number;
  /** Index of the no-op entry of this term; the shell appends it (Raft §8, thesis §6.4). */
  noopIndex: number;
  commitIndex: number;
  followers: readonly NodeId[];
}

export interface RoleChange {
  role: Role;
  term: number;
  leaderId: NodeId | null;
}

export interface ReadReady {
  readId: number;
  /** The read may be served once the state machine has applied through this index. */
  readIndex: number;
}

/**
 * Everything one or more inputs produced, drained by `RaftCore.ready()`.
 * Order of effects for the shell: persist `hardState` (and the appends it ordered) first; send
 * `messages` at once; send `messagesAfterPersist` only after the persist is durable.
 */
export interface Ready {
  hardState: HardState | null;
  messages: OutMessage[];
  messagesAfterPersist: OutMessage[];
  roleChange: RoleChange | null;
  leaderStart: LeaderStart | null;
  /** A new commit index (increases only). */
  commitIndex: number | null;
  /** The appender should run a heartbeat round with this number at once (ReadIndex, §6.4). */
  heartbeatRound: number | null;
  readsReady: ReadReady[];
  /** Reads that can no longer be served here (lost leadership); reply NotLeader. */
  readsFailed: number[];
  /** The configuration in force changed (an entry appended or truncated, a snapshot installed). */
  configuration: ConfigurationAt | null;
  /**
   * The leader appended a configuration entry of its own accord (C_new once C_old,new committed):
   * the shell writes and replicates it like any entry, at this index and term.
   */
  configurationAppend: { index: number; term: number; configuration: GroupConfiguration } | null;
}

/** The core's decision on an InstallSnapshot chunk: go on (the sender leads this term), or refuse a stale leader. */
export type InstallDecision = { ok: true; term: number } | { ok: false; term: number };

/** A configuration change proposed on the leader: appended at `index`, or why not. */
export type ConfigurationProposal =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: 'notLeader'; leaderId: NodeId | null }
  | { ok: false; reason: 'inProgress' | 'transferring'; index: number };

export type ProposeResult =
  | { ok: true; firstIndex: number; term: number }
  | { ok: false; reason: 'notLeader'; leaderId: NodeId | null }
  /** A leadership transfer is under way: the leader appends nothing until it ends (thesis §3.10). */
  | { ok: false; reason: 'transferring'; target: NodeId };

/** The start of a leadership transfer, or why none started. */
export type TransferStart =
  | { ok: true; target: NodeId }
  | { ok: false; reason: 'notLeader'; leaderId: NodeId | null }
  | { ok: false; reason: 'notVoter' | 'noFollower'; target: NodeId | null }
  | { ok: false; reason: 'inProgress'; target: NodeId };

export type ReadIndexResult =
  /**
   * Registered with read index `readIndex` (the commit index now): confirmed by a heartbeat round
   * (its ReadReady comes in a later Ready; a single voter's, in this one), or, with `lease`, on
   * the leader lease at once (no ReadReady follows). Either way it is answered from a state that
   * applied through `readIndex`.
   */
  | { ok: true; readIndex: number; lease?: true }
  | { ok: false; reason: 'notLeader'; leaderId: NodeId | null }
  | { ok: false; reason: 'leaderNotReady' };
