/**
 * Leadership transfer, step-down and paused elections in the consensus core (thesis §3.10), on
 * the paper tests' harness: the leader stops appending, waits for the target to match its log,
 * sends TimeoutNow, and the target wins the next term at once, with voters that still hear from
 * the old leader granting it. A transfer that cannot finish is given up after its timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore } from '../../src/core/raft-core.js';
import { CoreCluster } from '../support/core-cluster.js';
import { chaosRun } from '../support/seeds.js';

function settled(seed: number): { cluster: CoreCluster; leader: string } {
  const cluster = new CoreCluster({ seed, nodeCount: 3, dropRate: 0, electionTicksMin: 10, electionTicksMax: 20 });
  const leader = cluster.stabilize();
  return { cluster, leader: leader.id };
}

function tickUntil(cluster: CoreCluster, ticks: number, done: () => boolean, sync: string[] = []): number {
  for (let tick = 1; tick <= ticks; tick++) {
    cluster.tick();
    for (const id of sync) cluster.syncLocal(id);
    if (done()) return tick;
  }
  return -1;
}

test('a transfer to a caught-up follower: it leads the next term within a few ticks, well inside an election timeout', () => {
  const { cluster, leader } = settled(11);
  const term = cluster.node(leader).core!.term;
  const target = cluster.voters.find((id) => id !== leader)!;
  const started = cluster.transfer(leader, target);
  assert.deepEqual(started, { ok: true, target });
  assert.equal(cluster.node(leader).core!.transferTarget, target);
  // No write while it hands over: the target must catch up with a log that stops growing.
  assert.equal(cluster.propose(leader), false);
  const ticks = tickUntil(cluster, 10, () => cluster.node(target).core!.role === 'leader', [target]);
  assert.ok(ticks > 0 && ticks < 10, `target led after ${ticks} ticks (an election timeout is at least 10)`);
  assert.equal(cluster.node(target).core!.term, term + 1, 'one term, no pre-vote or repeated election');
  assert.equal(cluster.node(leader).core!.role, 'follower');
  assert.equal(cluster.node(leader).core!.transferTarget, null);
  assert.ok(cluster.propose(target, 2), 'the new leader takes writes');
});

test('the leader sends TimeoutNow only once the target holds its whole log', () => {
  const { cluster, leader } = settled(12);
  const [lagging, other] = cluster.voters.filter((id) => id !== leader) as [string, string];
  // The target is cut off while entries are written: it lags behind.
  cluster.partition([[leader, other], [lagging]]);
  for (let i = 0; i < 5; i++) {
    assert.ok(cluster.propose(leader, 3));
    cluster.tick();
    cluster.syncLocal(leader);
  }
  const term = cluster.node(leader).core!.term;
  assert.equal(cluster.transfer(leader, lagging, 60)?.ok, true);
  // While it cannot catch up, nothing happens: the leader stays, the target stays a follower.
  tickUntil(cluster, 8, () => false, [leader]);
  assert.equal(cluster.node(leader).core!.role, 'leader');
  assert.equal(cluster.node(lagging).core!.term, term);
  cluster.heal();
  const ticks = tickUntil(cluster, 40, () => cluster.node(lagging).core!.role === 'leader', [lagging]);
  assert.ok(ticks > 0, 'the target took over once it caught up');
  assert.equal(cluster.node(lagging).core!.lastIndex >= 16, true);
  cluster.checkLogMatching();
});

test('a transfer that cannot finish is given up after its timeout, and the leader takes writes again', () => {
  const { cluster, leader } = settled(13);
  const target = cluster.voters.find((id) => id !== leader)!;
  cluster.crash(target);
  assert.equal(cluster.transfer(leader, target, 5)?.ok, true);
  assert.equal(cluster.propose(leader), false);
  tickUntil(cluster, 5, () => false, [leader]);
  assert.equal(cluster.node(leader).core!.role, 'leader');
  assert.equal(cluster.node(leader).core!.transferTarget, null, 'given up after 5 ticks');
  assert.ok(cluster.propose(leader), 'writes are taken again');
});

test('refusals: not the leader, a target that is not a voter, a second transfer while one runs', () => {
  const { cluster, leader } = settled(14);
  const follower = cluster.voters.find((id) => id !== leader)!;
  assert.deepEqual(cluster.transfer(follower, leader), { ok: false, reason: 'notLeader', leaderId: leader });
  assert.deepEqual(cluster.transfer(leader, 'n9'), { ok: false, reason: 'notVoter', target: 'n9' });
  cluster.crash(follower);
  assert.equal(cluster.transfer(leader, follower)?.ok, true);
  const other = cluster.voters.find((id) => id !== leader && id !== follower)!;
  assert.deepEqual(cluster.transfer(leader, other), { ok: false, reason: 'inProgress', target: follower });
});

test('a step-down hands over to the follower with the highest match', () => {
  const { cluster, leader } = settled(15);
  const [behind, ahead] = cluster.voters.filter((id) => id !== leader) as [string, string];
  cluster.partition([[leader, ahead], [behind]]);
  assert.ok(cluster.propose(leader, 4));
  // Messages take up to a few ticks each way here.
  assert.ok(tickUntil(cluster, 20, () => cluster.node(leader).core!.commitIndex === cluster.node(leader).core!.lastIndex, [leader]) > 0);
  cluster.heal();
  const started = cluster.transfer(leader, null);
  assert.deepEqual(started, { ok: true, target: ahead });
  assert.ok(tickUntil(cluster, 10, () => cluster.node(ahead).core!.role === 'leader', [ahead]) > 0);
});

test('without a transfer, a follower that hears from its leader ignores a candidate (leader stickiness stays)', () => {
  const { cluster, leader } = settled(16);
  const [a, b] = cluster.voters.filter((id) => id !== leader) as [string, string];
  const term = cluster.node(leader).core!.term;
  const core = cluster.node(b).core!;
  core.step(a, { type: 'voteRequest', preVote: false, term: term + 1, candidateId: a, lastIndex: core.lastIndex, lastTerm: core.lastTerm, transfer: false });
  assert.equal(core.term, term, 'an ordinary candidate is ignored while the leader is heard from');
  core.step(a, { type: 'voteRequest', preVote: false, term: term + 1, candidateId: a, lastIndex: core.lastIndex, lastTerm: core.lastTerm, transfer: true });
  assert.equal(core.term, term + 1, 'a handed-over candidate is heard');
  assert.equal(core.votedFor, a);
});

test('TimeoutNow counts only from the leader of the current term', () => {
  const { cluster, leader } = settled(17);
  const [a, b] = cluster.voters.filter((id) => id !== leader) as [string, string];
  const core = cluster.node(a).core!;
  const term = core.term;
  core.step(b, { type: 'timeoutNow', term });
  core.step(leader, { type: 'timeoutNow', term: term - 1 });
  assert.equal(core.role, 'follower');
  assert.equal(core.term, term);
  core.step(leader, { type: 'timeoutNow', term });
  assert.equal(core.role, 'candidate');
  assert.equal(core.term, term + 1);
});

test('paused elections: a paused follower never campaigns nor takes a handed-over leadership; resumed, it does', () => {
  const { cluster, leader } = settled(18);
  const target = cluster.voters.find((id) => id !== leader)!;
  cluster.setPaused(target, true);
  assert.equal(cluster.node(target).core!.electionsPaused, true);
  const term = cluster.node(leader).core!.term;
  assert.equal(cluster.transfer(leader, target, 8)?.ok, true);
  tickUntil(cluster, 8, () => false, [leader]);
  assert.equal(cluster.node(target).core!.term, term, 'the paused target ignored TimeoutNow');
  assert.equal(cluster.node(leader).core!.role, 'leader');
  // With the leader gone, the paused node still never campaigns; the other one does.
  cluster.crash(leader);
  const other = cluster.voters.find((id) => id !== leader && id !== target)!;
  cluster.setPaused(other, true);
  tickUntil(cluster, 100, () => false);
  assert.equal(cluster.node(target).core!.role, 'follower');
  assert.equal(cluster.node(other).core!.role, 'follower');
  assert.equal(cluster.node(target).core!.term, term, 'no election at all while both are paused');
  cluster.setPaused(other, false);
  assert.ok(tickUntil(cluster, 100, () => cluster.node(other).core!.role === 'leader', [other]) > 0, 'resumed, it campaigns and wins');
});

test('a node paused mid-campaign gives it up: pre-votes and votes that arrive later carry it nowhere', () => {
  const rng = { intBetween: (_min: number, max: number): number => max };
  for (const stage of ['preCandidate', 'candidate'] as const) {
    const core = new RaftCore({ id: 'n1', voters: ['n1', 'n2', 'n3'], electionTicksMin: 5, electionTicksMax: 10, rng },
      { hardState: { term: 1, votedFor: null }, termRuns: [], lastIndex: 0 });
    for (let tick = 0; tick < 10; tick++) core.tick();
    assert.equal(core.role, 'preCandidate');
    if (stage === 'candidate') core.step('n2', { type: 'voteResponse', preVote: true, term: 2, granted: true });
    assert.equal(core.role, stage);
    const term = core.term;
    core.setElectionsPaused(true);
    assert.equal(core.role, 'follower', `paused as ${stage}, it gave the campaign up`);
    core.step('n2', { type: 'voteResponse', preVote: true, term: term + 1, granted: true });
    core.step('n3', { type: 'voteResponse', preVote: false, term, granted: true });
    assert.equal(core.role, 'follower', `paused as ${stage}`);
    assert.equal(core.term, term, `paused as ${stage}`);
  }
});

test('chaos with transfers and pauses keeps every safety property (seeds)', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const cluster = chaosRun(seed, ['electionSafety', 'logMatching', 'leaderCompleteness', 'stateMachineSafety', 'readIndex'], {}, {
      transferRate: 0.05, pauseRate: 0.02,
    });
    assert.ok(cluster.committedTerms.length > 1, `seed ${seed} committed nothing`);
  }
});
