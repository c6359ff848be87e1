/**
 * Tests of the paper tests' harness itself: a seed replays exactly, and the liveness phase
 * converges, so a failing seed printed by a paper test can be debugged by running it again.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreCluster } from '../support/core-cluster.js';
import { chaosRun } from '../support/seeds.js';

function trace(seed: number): string {
  const cluster = chaosRun(seed, ['electionSafety', 'logMatching', 'leaderCompleteness', 'stateMachineSafety', 'readIndex']);
  return JSON.stringify({
    time: cluster.time,
    leaders: [...cluster.leaderOfTerm],
    committed: cluster.committedTerms,
    logs: cluster.nodes.map((node) => node.log),
    hardStates: cluster.nodes.map((node) => node.hardState),
    reads: cluster.readsServed,
  });
}

test('one seed, one run: two runs of a seed are identical', () => {
  for (const seed of [1, 2, 77]) assert.equal(trace(seed), trace(seed), `seed ${seed} did not replay`);
  assert.notEqual(trace(1), trace(3));
});

test('a healthy cluster elects one leader and replicates to all', () => {
  const cluster = new CoreCluster({ seed: 5, nodeCount: 3, dropRate: 0 });
  const leader = cluster.stabilize();
  assert.ok(cluster.propose(leader.id, 4));
  for (let tick = 0; tick < 30; tick++) {
    cluster.tick();
    cluster.syncLocal(leader.id);
  }
  for (const node of cluster.nodes) {
    assert.deepEqual(node.log, leader.log, `${node.id} differs from the leader`);
    assert.equal(node.core!.commitIndex, leader.log.length);
  }
});
