/**
 * Raft Figure 3, State Machine Safety (§5.4.3): if a server has applied a log entry at a given
 * index, no other server ever applies a different entry for that index. Every commit index any
 * core announces is compared with the entries committed anywhere before. ReadIndex reads (thesis
 * §6.4) are checked in the same runs: a read's index covers every entry committed before it was
 * issued, so it is linearizable.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNoConsistencyCheck } from '../support/broken-cores.js';
import { chaosRun, describeFailures, forSeeds } from '../support/seeds.js';

test('no two nodes commit different entries at one index; reads are linearizable (300 runs)', () => {
  let reads = 0;
  const report = forSeeds(3001, 300, (seed) => {
    reads += chaosRun(seed, ['stateMachineSafety', 'readIndex'], {}, { readRate: 0.3 }).readsServed;
  });
  assert.equal(report.failures.length, 0, describeFailures(report));
  assert.ok(reads > 5_000, `only ${reads} reads served: the runs exercise too little`);
});

test('the check catches followers that skip the AppendEntries consistency check', () => {
  const report = forSeeds(3001, 100, (seed) => {
    chaosRun(seed, ['stateMachineSafety'], { makeCore: makeNoConsistencyCheck });
  });
  assert.ok(
    report.failures.some((failure) => failure.includes('state machine safety')),
    `no seed caught the missing check: ${describeFailures(report)}`,
  );
});
