/**
 * The one commit rule (src/core/commit-rule.ts) that the core and a leader's appender both call:
 * majorities of simple and joint configurations, the current-term condition (Raft §5.4.2), and a
 * commit index that never goes back; checked against a brute-force reading of the rule over
 * random matches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextCommitIndex, quorumIndex, type QuorumConfiguration } from '../../src/core/commit-rule.js';
import { SeededRng } from '../../src/core/rng.js';

const matches = (values: Record<string, number>) => (voter: string): number => values[voter] ?? 0;

test('simple configurations: the highest index a majority holds', () => {
  assert.equal(quorumIndex({ voters: ['a', 'b', 'c'] }, matches({ a: 5, b: 3, c: 1 })), 3);
  assert.equal(quorumIndex({ voters: ['a'] }, matches({ a: 9 })), 9);
  assert.equal(quorumIndex({ voters: ['a', 'b', 'c', 'd', 'e'] }, matches({ a: 9, b: 9, c: 4, d: 2, e: 0 })), 4);
  assert.equal(quorumIndex({ voters: ['a', 'b', 'c', 'd'] }, matches({ a: 9, b: 8, c: 4, d: 2 })), 4, 'four voters need three');
});

test('a joint configuration needs a majority of each voter set (§6)', () => {
  const joint: QuorumConfiguration = { voters: ['a', 'b', 'c'], outgoing: ['c', 'd', 'e'] };
  // New set: 7 on a majority (a, b); old set: only 2 on a majority (c, d).
  assert.equal(quorumIndex(joint, matches({ a: 7, b: 7, c: 2, d: 2, e: 0 })), 2);
  assert.equal(quorumIndex(joint, matches({ a: 7, b: 7, c: 7, d: 6, e: 0 })), 6);
});

test('only an entry of the current term commits by counting, and the commit index never goes back', () => {
  const config: QuorumConfiguration = { voters: ['a', 'b', 'c'] };
  const termAt = (index: number): number => (index <= 4 ? 2 : 3);
  assert.equal(nextCommitIndex(config, matches({ a: 6, b: 4, c: 4 }), 3, 0, termAt), 0, 'index 4 is of term 2, not 3 (Figure 8)');
  assert.equal(nextCommitIndex(config, matches({ a: 6, b: 5, c: 4 }), 3, 0, termAt), 5);
  assert.equal(nextCommitIndex(config, matches({ a: 6, b: 5, c: 4 }), 3, 6, termAt), 6, 'never below the commit index');
  assert.equal(nextCommitIndex(config, matches({ a: 6, b: 5, c: 4 }), 3, 0, () => undefined), 0, 'an unknown term commits nothing');
});

test('random matches: the rule agrees with its brute-force reading', () => {
  const rng = new SeededRng(15);
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  for (let run = 0; run < 2000; run++) {
    const size = rng.intBetween(1, 5);
    const voters = ids.slice(0, size);
    const joint = rng.intBetween(0, 2) === 0;
    const outgoing = joint ? ids.slice(rng.intBetween(0, 3), rng.intBetween(4, 7)) : undefined;
    const config: QuorumConfiguration = outgoing === undefined ? { voters } : { voters, outgoing };
    const values = Object.fromEntries(ids.map((id) => [id, rng.intBetween(0, 20)]));
    const termStart = rng.intBetween(0, 20);
    const termAt = (index: number): number => (index >= termStart ? 5 : 4);
    const commitIndex = rng.intBetween(0, 10);
    const holds = (set: readonly string[], index: number): boolean =>
      set.filter((id) => values[id]! >= index).length > set.length / 2;
    let expected = commitIndex;
    for (let index = 20; index > commitIndex; index--) {
      if (holds(voters, index) && (outgoing === undefined || holds(outgoing, index))) {
        if (termAt(index) === 5) expected = index;
        break;
      }
    }
    assert.equal(nextCommitIndex(config, matches(values), 5, commitIndex, termAt), expected, JSON.stringify({ config, values, termStart, commitIndex }));
  }
});
