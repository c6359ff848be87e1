/**
 * Raft Figure 3, Leader Completeness (§5.4): if an entry is committed in a term, it is present in
 * the logs of the leaders of all later terms. Every new leader's log is compared, at its election,
 * with every entry committed anywhere before it; the liveness phase then checks that none of them
 * is lost once the faults stop.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBlindVoter } from '../support/broken-cores.js';
import { chaosRun, describeFailures, forSeeds } from '../support/seeds.js';

test('every committed entry is in the log of every later leader, over 300 seeded runs', () => {
  let committed = 0;
  const report = forSeeds(2001, 300, (seed) => {
    const cluster = chaosRun(seed, ['leaderCompleteness'], {}, { crashRate: 0.03 });
    // After the liveness phase every node holds every entry ever committed.
    for (const node of cluster.nodes) {
      for (let index = 1; index < cluster.committedTerms.length; index++) {
        if (node.log[index - 1] !== cluster.committedTerms[index]) {
          cluster.fail(`committed entry ${index} lost at ${node.id}`);
        }
      }
    }
    committed += cluster.committedTerms.length - 1;
  });
  assert.equal(report.failures.length, 0, describeFailures(report));
  assert.ok(committed > 10_000, `only ${committed} entries committed: the runs exercise too little`);
});

test('the check catches voters that ignore the up-to-date rule of §5.4.1', () => {
  const report = forSeeds(2001, 100, (seed) => {
    chaosRun(seed, ['leaderCompleteness'], { makeCore: makeBlindVoter }, { crashRate: 0.03 });
  });
  assert.ok(
    report.failures.some((failure) => failure.includes('leader completeness')),
    `no seed caught the blind voters: ${describeFailures(report)}`,
  );
});
