/**
 * Majority arithmetic, in one place. A quorum is any set of more than half the voters (Raft §5.2);
 * the commit index and ReadIndex confirmation both ask "what value has a majority reached?".
 */

import { assert } from '../errors.js';

/** The smallest number of voters that is a majority of `voterCount`. */
export function majorityOf(voterCount: number): number {
  assert(voterCount >= 1, `a group needs at least one voter, got ${voterCount}`);
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest value that at least `majority` of `values` have reached: sort descending and take
 * the majority-th. With values = match indexes, that is the highest index stored on a majority.
 */
export function quorumValue(values: readonly number[], majority: number): number {
  assert(values.length >= majority, `${values.length} values cannot make a majority of ${majority}`);
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[majority - 1]!;
}
