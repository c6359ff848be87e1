/**
 * Membership changes in the consensus core (Raft §6, thesis §4), on the paper tests' harness:
 * learners that receive the log but never count, joint consensus (a decision needs a majority of
 * the old and of the new voters, C_new appended by the leader once C_old,new commits), a leader
 * that leaves once it is no longer a voter, configurations in force as soon as appended and
 * reverted by a truncation, one change at a time; and seeds of random changes amid faults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreCluster } from '../support/core-cluster.js';
import { chaosRun } from '../support/seeds.js';

const ids = (members: readonly { id: string }[]): string[] => members.map((member) => member.id).sort();

function grown(seed: number, nodeCount = 5): { cluster: CoreCluster; leader: string } {
  const cluster = new CoreCluster({ seed, nodeCount, initialVoters: 3, dropRate: 0, delayTicksMax: 1 });
  const leader = cluster.stabilize().id;
  return { cluster, leader };
}

function settle(cluster: CoreCluster, leader: string, ticks = 60): void {
  for (let tick = 0; tick < ticks; tick++) {
    cluster.tick();
    for (const node of cluster.leaders()) cluster.syncLocal(node.id);
  }
  void leader;
}

test('a learner receives the log but never counts toward a commit, and never campaigns', () => {
  const { cluster, leader } = grown(21);
  assert.ok(cluster.proposeConfiguration(leader, ['n1', 'n2', 'n3'], ['n4']));
  settle(cluster, leader);
  const learner = cluster.node('n4');
  assert.equal(learner.log.length, cluster.node(leader).log.length, 'the learner holds the log');
  // With one voter follower down, the leader and the learner are no majority of the three voters.
  const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
  const other = ['n1', 'n2', 'n3'].find((id) => id !== leader && id !== follower)!;
  cluster.crash(follower);
  cluster.crash(other);
  const commit = cluster.node(leader).core!.commitIndex;
  assert.ok(cluster.propose(leader, 3));
  settle(cluster, leader, 8);
  assert.equal(cluster.node(leader).core!.commitIndex, commit, 'a learner\'s match never commits');
  // Alone with the learner, the leader steps down (check-quorum) and the learner never campaigns.
  settle(cluster, leader, 200);
  assert.equal(learner.core!.role, 'follower');
  assert.equal(learner.core!.term, cluster.node(leader).core!.term);
});

test('joint consensus: voters added through C_old,new, then C_new appended by the leader', () => {
  const { cluster, leader } = grown(22);
  assert.ok(cluster.proposeConfiguration(leader, ['n1', 'n2', 'n3'], ['n4', 'n5']));
  settle(cluster, leader);
  assert.ok(cluster.proposeConfiguration(leader, ['n1', 'n2', 'n3', 'n4', 'n5'], []));
  const joint = cluster.node(leader).core!.configuration.configuration;
  assert.deepEqual(ids(joint.outgoing ?? []), ['n1', 'n2', 'n3'], 'C_old,new is joint');
  settle(cluster, leader);
  for (const node of cluster.nodes) {
    const configuration = node.core!.configuration.configuration;
    assert.equal(configuration.outgoing, null, `${node.id}: C_new in force`);
    assert.deepEqual(ids(configuration.voters), ['n1', 'n2', 'n3', 'n4', 'n5']);
  }
  assert.equal(cluster.configurationChanges, 3, 'learners, C_old,new, C_new');
  // Five voters now: three of them make a majority, two do not.
  const others = ['n1', 'n2', 'n3', 'n4', 'n5'].filter((id) => id !== leader);
  cluster.crash(others[0]!);
  cluster.crash(others[1]!);
  const commit = cluster.node(leader).core!.commitIndex;
  assert.ok(cluster.propose(leader));
  settle(cluster, leader, 10);
  assert.ok(cluster.node(leader).core!.commitIndex > commit, 'three of five commit');
  cluster.crash(others[2]!);
  const stuck = cluster.node(leader).core!.commitIndex;
  assert.ok(cluster.propose(leader));
  settle(cluster, leader, 8);
  assert.equal(cluster.node(leader).core!.commitIndex, stuck, 'two of five do not');
});

test('while joint, a majority of the new voters alone commits nothing', () => {
  const { cluster, leader } = grown(23);
  assert.ok(cluster.proposeConfiguration(leader, ['n1', 'n2', 'n3'], ['n4', 'n5']));
  settle(cluster, leader);
  // Old voters n1..n3 with the leader among them; new voters: the leader and n4, n5.
  const oldOthers = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
  cluster.partition([[leader, 'n4', 'n5'], oldOthers]);
  assert.ok(cluster.proposeConfiguration(leader, [leader, 'n4', 'n5'], []));
  const commit = cluster.node(leader).core!.commitIndex;
  settle(cluster, leader, 8);
  assert.equal(cluster.node(leader).core!.commitIndex, commit, 'the old voters\' majority is missing');
  assert.notEqual(cluster.node(leader).core!.configuration.configuration.outgoing, null, 'still joint');
  cluster.heal();
  settle(cluster, leader, 60);
  const leaderNow = cluster.leaders()[0]!;
  assert.deepEqual(ids(leaderNow.core!.configuration.configuration.voters), ids([{ id: leader }, { id: 'n4' }, { id: 'n5' }]));
  assert.equal(leaderNow.core!.configuration.configuration.outgoing, null);
});

test('a leader removed from the voters leads the change to its end, then steps down; the rest elect a leader', () => {
  const { cluster, leader } = grown(24, 3);
  const rest = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
  assert.ok(cluster.proposeConfiguration(leader, rest, []));
  settle(cluster, leader, 40);
  assert.notEqual(cluster.node(leader).core!.role, 'leader', 'it stepped down');
  settle(cluster, leader, 200);
  const next = cluster.leaders();
  assert.equal(next.length, 1);
  assert.ok(rest.includes(next[0]!.id), `${next[0]!.id} leads, one of the remaining voters`);
  assert.ok(cluster.propose(next[0]!.id), 'the two voters take writes');
});

test('one change at a time: a proposal while one is under way, or during a transfer, is refused', () => {
  const { cluster, leader } = grown(25);
  const core = cluster.node(leader).core!;
  const members = (list: string[]): { id: string; address: string }[] => list.map((id) => ({ id, address: id }));
  assert.ok(cluster.proposeConfiguration(leader, ['n1', 'n2', 'n3'], ['n4']));
  const second = core.proposeConfiguration({ voters: members(['n1', 'n2', 'n3']), learners: members(['n5']), outgoing: null });
  assert.equal(second.ok, false);
  assert.equal(!second.ok && second.reason, 'inProgress');
  settle(cluster, leader);
  const target = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
  cluster.crash(target);
  assert.equal(cluster.transfer(leader, target, 50)?.ok, true);
  const during = core.proposeConfiguration({ voters: members(['n1', 'n2', 'n3']), learners: [], outgoing: null });
  assert.equal(!during.ok && during.reason, 'transferring');
});

test('a configuration is in force once appended, and a truncation of its entry reverts it', () => {
  const { cluster, leader } = grown(26);
  const followers = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
  // The leader appends a change that reaches one follower only, then is cut off.
  cluster.partition([[leader, followers[0]!], [followers[1]!, 'n4', 'n5']]);
  assert.ok(cluster.proposeConfiguration(leader, ['n1', 'n2', 'n3'], ['n4']));
  assert.deepEqual(ids(cluster.node(leader).core!.configuration.configuration.learners), ['n4'], 'in force on the leader at once');
  settle(cluster, leader, 3);
  cluster.crash(leader);
  cluster.partition([[followers[0]!, followers[1]!, 'n4', 'n5'], [leader]]);
  // Whoever wins, the entry is either kept (and committed by the new leader) or overwritten.
  settle(cluster, leader, 300);
  const newLeader = cluster.leaders()[0]!;
  assert.ok(cluster.propose(newLeader.id, 2));
  settle(cluster, leader, 40);
  for (const id of followers) {
    const node = cluster.node(id);
    const hasEntry = [...node.configs.values()].some((configuration) => configuration.learners.length > 0);
    assert.equal(node.core!.configuration.configuration.learners.length > 0, hasEntry, `${id}: the configuration follows its log`);
  }
  cluster.checkLogMatching();
});

test('random membership changes amid faults keep every safety property (seeds)', () => {
  let changes = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const cluster = chaosRun(seed, ['electionSafety', 'logMatching', 'leaderCompleteness', 'stateMachineSafety', 'readIndex'],
      { nodeCount: 5, initialVoters: 3 }, { membershipRate: 0.04, transferRate: 0.01 });
    changes += cluster.configurationChanges;
    assert.ok(cluster.committedTerms.length > 1, `seed ${seed} committed nothing`);
  }
  assert.ok(changes > 40, `only ${changes} changes over 40 seeds`);
});
