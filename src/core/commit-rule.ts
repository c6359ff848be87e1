/**
 * The commit rule, in one place: whichever thread counts acknowledgements (the consensus core for
 * itself, a leader's appender where they arrive) calls this one pure function with the
 * configuration and the match indexes it holds. Before majorities depend on a changing
 * configuration, nothing else may decide what a majority is.
 *
 * The rule (Raft §5.3, §5.4.2, Figure 8): the highest index durable on a majority of the voters,
 * the leader's own durable index counting as its match; while a configuration is joint (§6), on a
 * majority of each of its two voter sets. It is committed only if its entry is of the leader's
 * current term: an earlier term's entry is never committed by counting replicas, but by an entry
 * of the current term after it.
 */
import { majorityOf, quorumValue } from './quorum.js';
import type { NodeId } from './types.js';

/** Who counts toward a majority: the voters, and while a change is joint the outgoing voters too. */
export interface QuorumConfiguration {
  voters: readonly NodeId[];
  /** While joint (C_old,new): the old configuration's voters, whose majority must agree as well. */
  outgoing?: readonly NodeId[];
}

/**
 * True when a majority of every voter set says yes (`agrees`): an election won, a check-quorum
 * window with a majority in contact, a read confirmed on a single voter. No voter, no majority.
 */
export function hasQuorum(configuration: QuorumConfiguration, agrees: (voter: NodeId) => boolean): boolean {
  const ofSet = (voters: readonly NodeId[]): boolean => voters.length > 0 && voters.filter(agrees).length >= majorityOf(voters.length);
  return ofSet(configuration.voters) && (configuration.outgoing === undefined || ofSet(configuration.outgoing));
}

/** The highest index a majority of every voter set holds, given each voter's match. */
export function quorumIndex(configuration: QuorumConfiguration, matchOf: (voter: NodeId) => number): number {
  const ofSet = (voters: readonly NodeId[]): number => quorumValue(voters.map(matchOf), majorityOf(voters.length));
  const index = ofSet(configuration.voters);
  return configuration.outgoing === undefined ? index : Math.min(index, ofSet(configuration.outgoing));
}

/**
 * The commit index after the matches given: the quorum index when it is past `commitIndex` and its
 * entry is of `currentTerm`, `commitIndex` otherwise (a commit index never goes back).
 */
export function nextCommitIndex(
  configuration: QuorumConfiguration, matchOf: (voter: NodeId) => number, currentTerm: number, commitIndex: number,
  termAt: (index: number) => number | undefined,
): number {
  const index = quorumIndex(configuration, matchOf);
  return index > commitIndex && termAt(index) === currentTerm ? index : commitIndex;
}
