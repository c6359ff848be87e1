/**
 * Raft Figure 3, Log Matching (§5.3): if two logs contain an entry with the same index and term,
 * the logs are identical in all entries up through that index. Checked across every pair of
 * logs (crashed nodes' durable logs included) every few ticks of many seeded runs.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNoConsistencyCheck } from '../support/broken-cores.js';
import { chaosRun, describeFailures, forSeeds } from '../support/seeds.js';

test('logs that share an (index, term) share the prefix, over 300 seeded runs', () => {
  let entries = 0;
  const report = forSeeds(1001, 300, (seed) => {
    const cluster = chaosRun(seed, ['logMatching'], {}, { proposeRate: 0.3 });
    cluster.checkLogMatching();
    entries += cluster.proposedCount;
  });
  assert.equal(report.failures.length, 0, describeFailures(report));
  assert.ok(entries > 10_000, `only ${entries} entries proposed: the runs exercise too little`);
});

test('the check catches a follower that skips the AppendEntries consistency check', () => {
  const report = forSeeds(1001, 100, (seed) => {
    chaosRun(seed, ['logMatching'], { makeCore: makeNoConsistencyCheck }, { proposeRate: 0.3 });
  });
  assert.ok(
    report.failures.some((failure) => failure.includes('log matching')),
    `no seed caught the missing check: ${describeFailures(report)}`,
  );
});
