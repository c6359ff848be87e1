/**
 * Deliberately broken cores, each missing one rule of the paper, so the paper tests can show that
 * their checks fail when the rule is gone (a check that cannot fail proves nothing).
 */

import { RaftCore } from '../../src/core/raft-core.js';
import type { AppendDecision, AppendEntriesHeader, CoreConfig, CoreMessage, NodeId, RestoredState } from '../../src/core/types.js';

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

export const makeBlindVoter = (config: CoreConfig, restored: RestoredState): RaftCore => new BlindVoterCore(config, restored);
export const makeNoConsistencyCheck = (config: CoreConfig, restored: RestoredState): RaftCore =>
  new NoConsistencyCheckCore(config, restored);
