/**
 * Linearizable reads in the core: reads share heartbeat rounds (every read until a round is
 * handed out joins it; the reads that arrive while it is in flight share the next one, at most
 * one outstanding), and the leader lease (opt-in): reads served without a round while a majority
 * acknowledged a round started within the lease, never once it lapsed, while a transfer is under
 * way, with elections paused or after stepping down; and the voters' side the lease relies on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore } from '../../src/core/raft-core.js';
import type { NodeId, Rng, VoteRequest } from '../../src/core/types.js';
import { termRunsOf } from '../support/core-cluster.js';

const maxRng: Rng = { intBetween: (_min, max) => max };
const three = ['n1', 'n2', 'n3'];

/** A clock the test moves by hand. */
class Clock {
  ms = 1000;
  readonly now = (): number => this.ms;
}

function makeCore(options: { id?: NodeId; term?: number; log?: number[]; leaseMs?: number; clock?: Clock } = {}): RaftCore {
  const log = options.log ?? [];
  return new RaftCore(
    {
      id: options.id ?? 'n1', voters: three, electionTicksMin: 5, electionTicksMax: 10, rng: maxRng,
      ...(options.leaseMs === undefined ? {} : { readLeaseMs: options.leaseMs, monotonicMs: (options.clock ?? new Clock()).now }),
    },
    { hardState: { term: options.term ?? 0, votedFor: null }, termRuns: termRunsOf(log), lastIndex: log.length },
  );
}

/** n1 of three, leader of term 2 with its no-op (index 2) committed, its Ready drained. */
function makeLeader(options: { leaseMs?: number; clock?: Clock } = {}): RaftCore {
  const core = makeCore({ term: 1, log: [1], ...options });
  core.campaign();
  core.step('n2', { type: 'voteResponse', preVote: true, term: 2, granted: true });
  core.step('n2', { type: 'voteResponse', preVote: false, term: 2, granted: true });
  assert.equal(core.role, 'leader');
  core.onLocalSynced(2);
  core.onMatch('n2', 2);
  assert.equal(core.commitIndex, 2);
  core.ready();
  return core;
}

/** A leader with a 100 ms lease, its first read's round acknowledged: the lease holds. */
function leaderHoldingLease(): RaftCore {
  const core = makeLeader({ leaseMs: 100, clock: new Clock() });
  core.readIndex(1);
  core.ready();
  core.onRoundAck('n2', 1);
  core.ready();
  assert.ok(core.leaseRemainingMs() > 0);
  return core;
}

function voteRequest(candidateId: NodeId, term: number, preVote: boolean): VoteRequest {
  return { type: 'voteRequest', preVote, term, candidateId, lastIndex: 10, lastTerm: 9, transfer: false };
}

test('a burst of 256 reads in one turn starts one heartbeat round, and one majority acknowledgement answers them all', () => {
  const core = makeLeader();
  for (let readId = 1; readId <= 256; readId++) assert.deepEqual(core.readIndex(readId), { ok: true, readIndex: 2 });
  const first = core.ready();
  assert.equal(first.heartbeatRound, 1, 'one round for the burst');
  assert.equal(core.readCounters.rounds, 1);
  core.onRoundAck('n2', 1);
  const confirmed = core.ready();
  assert.equal(confirmed.readsReady.length, 256);
  assert.equal(confirmed.heartbeatRound, null, 'no read waits: no next round');
  assert.deepEqual(core.readCounters, { rounds: 1, roundReads: 256, leaseReads: 0, leaseFallbacks: 0 });
});

test('reads arriving while a round is in flight share the next round, started when the one in flight is confirmed', () => {
  const core = makeLeader();
  core.readIndex(1);
  assert.equal(core.ready().heartbeatRound, 1);
  // Three more bursts while round 1 is out: no new round.
  for (let readId = 2; readId <= 100; readId++) {
    core.readIndex(readId);
    assert.equal(core.hasReady(), false, `read ${readId} starts no round while one is in flight`);
  }
  // An acknowledgement of round 1 says nothing about reads that arrived after it was sent.
  core.onRoundAck('n2', 1);
  const after = core.ready();
  assert.deepEqual(after.readsReady, [{ readId: 1, readIndex: 2 }]);
  assert.equal(after.heartbeatRound, 2, 'the waiting reads get round 2');
  core.onRoundAck('n3', 1);
  assert.equal(core.hasReady(), false, 'a second acknowledgement of round 1 confirms nothing more');
  core.onRoundAck('n3', 2);
  assert.deepEqual(core.ready().readsReady.map((read) => read.readId), Array.from({ length: 99 }, (_, i) => i + 2));
  assert.equal(core.readCounters.rounds, 2);
});

test('a round that does not come back within a tick gives the waiting reads a new one (liveness)', () => {
  const core = makeLeader();
  core.readIndex(1);
  assert.equal(core.ready().heartbeatRound, 1);
  core.readIndex(2);
  core.tick();
  assert.equal(core.ready().heartbeatRound, null, 'one tick: still waiting for round 1');
  core.tick();
  assert.equal(core.ready().heartbeatRound, 2, 'the second tick starts round 2 for read 2');
  // A late acknowledgement of round 1 still confirms read 1 only.
  core.onRoundAck('n2', 1);
  assert.deepEqual(core.ready().readsReady, [{ readId: 1, readIndex: 2 }]);
  core.onRoundAck('n2', 2);
  assert.deepEqual(core.ready().readsReady, [{ readId: 2, readIndex: 2 }]);
});

test('lease: runs from when the confirming round started, serves reads without a round, and lapses at once', () => {
  const clock = new Clock();
  const core = makeLeader({ leaseMs: 100, clock });
  assert.equal(core.leaseRemainingMs(), 0, 'a new leader holds no lease');
  assert.deepEqual(core.readIndex(1), { ok: true, readIndex: 2 });
  assert.equal(core.ready().heartbeatRound, 1, 'no lease: a round');
  const startedMs = clock.ms;
  clock.ms += 90; // the acknowledgement comes late: the lease still runs from the round's start
  core.onRoundAck('n2', 1);
  core.ready();
  assert.equal(core.leaseRemainingMs(), 10);
  clock.ms = startedMs + 99;
  assert.deepEqual(core.readIndex(2), { ok: true, readIndex: 2, lease: true });
  assert.equal(core.hasReady(), false, 'a lease read sends nothing');
  clock.ms = startedMs + 100;
  assert.equal(core.leaseRemainingMs(), 0);
  assert.deepEqual(core.readIndex(3), { ok: true, readIndex: 2 }, 'lapsed: a round again');
  const fallback = core.ready();
  assert.deepEqual(fallback.readsReady, []);
  assert.equal(fallback.heartbeatRound, 2);
  assert.deepEqual(core.readCounters, { rounds: 2, roundReads: 2, leaseReads: 1, leaseFallbacks: 2 });
});

test('lease: renewed by a round at each tick when none is in flight', () => {
  const clock = new Clock();
  const core = makeLeader({ leaseMs: 100, clock });
  core.tick();
  assert.equal(core.ready().heartbeatRound, 1);
  core.tick();
  assert.equal(core.ready().heartbeatRound, null, 'round 1 is in flight');
  clock.ms += 5;
  core.onRoundAck('n3', 1);
  assert.equal(core.leaseRemainingMs(), 95);
  clock.ms += 50;
  core.tick();
  assert.equal(core.ready().heartbeatRound, 2);
  clock.ms += 5;
  core.onRoundAck('n2', 2);
  assert.equal(core.leaseRemainingMs(), 95);
});

test('lease: none while a transfer is under way, nor for the rest of the term once TimeoutNow went out', () => {
  const core = leaderHoldingLease();
  // n3 is behind (match 0): the transfer waits for it, and the lease is withheld meanwhile.
  assert.deepEqual(core.transferLeadership('n3', 3), { ok: true, target: 'n3' });
  assert.equal(core.leaseRemainingMs(), 0);
  assert.deepEqual(core.readIndex(2), { ok: true, readIndex: 2 }, 'a round, not the lease');
  for (let i = 0; i < 3; i++) core.tick();
  assert.equal(core.transferTarget, null, 'the transfer timed out before TimeoutNow');
  core.ready();
  core.onRoundAck('n2', core.readCounters.rounds);
  core.ready();
  assert.ok(core.leaseRemainingMs() > 0, 'no TimeoutNow went out: the lease comes back with a new round');
  // Now n3 catches up: TimeoutNow goes out, and even once the transfer is given up no lease holds in this term.
  core.onMatch('n3', 2);
  assert.deepEqual(core.transferLeadership('n3', 3), { ok: true, target: 'n3' });
  assert.equal(core.ready().messages.filter((out) => out.message.type === 'timeoutNow').length, 1);
  for (let i = 0; i < 3; i++) core.tick();
  assert.equal(core.transferTarget, null);
  core.ready();
  core.onRoundAck('n2', core.readCounters.rounds);
  core.onRoundAck('n3', core.readCounters.rounds);
  core.ready();
  assert.equal(core.leaseRemainingMs(), 0);
  assert.deepEqual(core.readIndex(3), { ok: true, readIndex: 2 });
});

test('lease: none with elections paused, and none once stepped down', () => {
  const core = leaderHoldingLease();
  core.setElectionsPaused(true);
  assert.equal(core.leaseRemainingMs(), 0);
  assert.deepEqual(core.readIndex(2), { ok: true, readIndex: 2 });
  assert.deepEqual(core.ready().readsReady, [], 'paused: the read waits for a round');
  core.setElectionsPaused(false);
  assert.ok(core.leaseRemainingMs() > 0);
  core.onHigherTerm(5, null);
  assert.equal(core.role, 'follower');
  assert.equal(core.leaseRemainingMs(), 0);
  assert.deepEqual(core.readIndex(3), { ok: false, reason: 'notLeader', leaderId: null });
});

test('lease: the voters keep their side: a server with a lease refuses votes after it starts and after hearing a leader, even one it forgot', () => {
  const voter = makeCore({ id: 'n2', term: 1, log: [1], leaseMs: 100 });
  const answer = (): boolean | null => {
    const message = voter.ready().messages[0]?.message;
    return message?.type === 'voteResponse' ? message.granted : null;
  };
  for (let i = 0; i < 4; i++) {
    voter.step('n3', voteRequest('n3', 2, true));
    assert.equal(answer(), false, `refused ${i} ticks after its start (within electionTicksMin)`);
    voter.tick();
  }
  voter.tick();
  voter.step('n3', voteRequest('n3', 2, true));
  assert.equal(answer(), true, 'granted after');

  // Heard from leader n1, then a late vote response of a higher term makes it forget n1: still refused.
  voter.handleAppendEntries({ term: 1, leaderId: 'n1', prevIndex: 1, prevTerm: 1, leaderCommit: 1, entryTerms: [] });
  voter.step('n1', { type: 'voteResponse', preVote: false, term: 3, granted: false });
  voter.ready();
  assert.equal(voter.leaderId, null);
  voter.step('n3', voteRequest('n3', 4, false));
  assert.equal(answer(), null, 'a vote request within the window is ignored');
  assert.equal(voter.term, 3);
  assert.equal(voter.votedFor, null);

  // Without a lease the same server grants at once after its start (the behaviour before leases).
  const plain = makeCore({ id: 'n2', term: 1, log: [1] });
  plain.step('n3', voteRequest('n3', 2, true));
  const plainAnswer = plain.ready().messages[0]?.message;
  assert.ok(plainAnswer?.type === 'voteResponse' && plainAnswer.granted);
});
