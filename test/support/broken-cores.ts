/**
 * Deliberately broken cores, each missing one rule of the paper, so the paper tests can show that
 * their checks fail when the rule is gone (a check that cannot fail proves nothing).
 */

import { RaftCore } from '../../src/core/raft-core.js';
import type { AppendDecision, AppendEntriesHeader, CoreConfig, CoreMessage, NodeId, ProposeResult, RestoredState } from '../../src/core/types.js';
import type { Transfer } from '../../src/core/leader-state.js';

/** Votes without the up-to-date check of §5.4.1: every candidate's log looks newest. */
export class BlindVoterCore extends RaftCore {
  override step(from: NodeId, message: CoreMessage): void {
    const blinded = message.type === 'voteRequest' ? { ...message, lastTerm: Number.MAX_SAFE_INTEGER } : message;
    super.step(from, blinded);
  }
}

/** Accepts AppendEntries without the consistency check of §5.3 (any prevTerm matches). */
export class NoConsistencyCheckCore extends RaftCore {
  override handleAppendEntries(header: AppendEntriesHeader): AppendDecision {
    const localPrevTerm = this.termAt(header.prevIndex);
    return super.handleAppendEntries(localPrevTerm === undefined ? header : { ...header, prevTerm: localPrevTerm });
  }
}

/**
 * Takes writes while it hands leadership over (thesis §3.10: the leader must stop, so that its
 * target catches up with a log that stops growing): the transfer is set aside for each propose.
 * The core keeps its leader state private; this double reaches it by name.
 */
export class WritesDuringTransferCore extends RaftCore {
  override propose(count: number): ProposeResult {
    const leader = (this as unknown as { leaderState: { transfer: Transfer | null } | null }).leaderState;
    const transfer = leader?.transfer ?? null;
    if (leader === null || transfer === null) return super.propose(count);
    leader.transfer = null;
    try {
      return super.propose(count);
    } finally {
      leader.transfer = transfer;
    }
  }
}

export const makeBlindVoter = (config: CoreConfig, restored: RestoredState): RaftCore => new BlindVoterCore(config, restored);
export const makeNoConsistencyCheck = (config: CoreConfig, restored: RestoredState): RaftCore =>
  new NoConsistencyCheckCore(config, restored);
export const makeWritesDuringTransfer = (config: CoreConfig, restored: RestoredState): RaftCore =>
  new WritesDuringTransferCore(config, restored);
