/**
 * Raft Figure 3, Election Safety (§5.2): at most one leader can be elected in a given term.
 * Checked on every election of many seeded runs with partitions, loss, delay and crashes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chaosRun, describeFailures, forSeeds } from '../support/seeds.js';

test('at most one leader per term, over 300 seeded runs', () => {
  let elections = 0;
  const report = forSeeds(1, 300, (seed) => {
    elections += chaosRun(seed, ['electionSafety']).leaderOfTerm.size;
  });
  assert.equal(report.failures.length, 0, describeFailures(report));
  assert.ok(elections > 300, `only ${elections} elections: the runs exercise too little`);
});

test('the check catches a disk that forgets the vote on restart (two votes in one term)', () => {
  // With the vote lost, a voter that crashes after voting can vote again in the same term; with
  // tight election timeouts and frequent crashes some seed elects two leaders in one term.
  const report = forSeeds(1, 300, (seed) => {
    chaosRun(
      seed,
      ['electionSafety'],
      { nodeCount: 3, loseVoteOnRestart: true, electionTicksMin: 10, electionTicksMax: 11 },
      { crashRate: 0.3, restartRate: 0.6, proposeRate: 0 },
    );
  });
  assert.ok(
    report.failures.some((failure) => failure.includes('election safety')),
    `no seed caught the double vote: ${describeFailures(report)}`,
  );
});
