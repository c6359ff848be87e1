/**
 * What the client does with each error, and how long it waits before it tries again. Kept apart
 * from the connection handling so the rules read in one place (Ratis: `RetryPolicy` and the
 * client's handling of `NotLeaderException`).
 */
import type { RaftlineError } from '../errors.js';

/**
 * - `redirect`: this server is not the leader; try the suggested one, or the next peer.
 * - `backOff`: the leader is there but cannot take the call now; wait and resend the same callId.
 * - `final`: the answer to this call; retrying cannot change it.
 */
export type ErrorDisposition = 'redirect' | 'backOff' | 'final';

export function dispositionOf(error: RaftlineError): ErrorDisposition {
  switch (error.code) {
    case 'NOT_LEADER':
      return 'redirect';
    case 'LEADER_NOT_READY':
    case 'RESOURCE_UNAVAILABLE':
    case 'TRANSFER_IN_PROGRESS':
      return 'backOff';
    default:
      return 'final';
  }
}

export interface BackOff {
  delayMsMin: number;
  delayMsMax: number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): the ceiling doubles from
 * delayMsMin up to delayMsMax, and the delay is drawn from the upper half of it ("equal
 * jitter"), so clients that failed together do not come back together, yet each still waits
 * longer as failures repeat. `random` is injectable for tests.
 */
export function backOffDelayMs(policy: BackOff, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.delayMsMax, policy.delayMsMin * 2 ** Math.min(attempt, 30));
  const jittered = ceiling / 2 + (random() * ceiling) / 2;
  return Math.round(Math.min(policy.delayMsMax, Math.max(policy.delayMsMin, jittered)));
}
