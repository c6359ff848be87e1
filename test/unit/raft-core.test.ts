/**
 * Unit tests of `RaftCore`: one input, then the exact `Ready` it produced. Elections with pre-vote,
 * the vote rules, leader start, the commit rule, AppendEntries on the follower side, check-quorum
 * and ReadIndex. Election timeouts are pinned by a fixed `Rng` so tick counts are exact.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore } from '../../src/core/raft-core.js';
import type { AppendEntriesHeader, CoreMessage, NodeId, Ready, Rng, VoteRequest } from '../../src/core/types.js';
import { termRunsOf } from '../support/core-cluster.js';
import { termMax } from '../../src/limits.js';

/** Always draws the largest timeout, so the stickiness window (min) ends before the timeout (max). */
const maxRng: Rng = { intBetween: (_min, max) => max };
const three = ['n1', 'n2', 'n3'];

function makeCore(options: {
  id?: NodeId; voters?: NodeId[]; term?: number; votedFor?: NodeId | null; log?: number[]; min?: number; max?: number; voteRequestsBeforePersist?: boolean;
} = {}): RaftCore {
  const log = options.log ?? [];
  return new RaftCore(
    {
      id: options.id ?? 'n1', voters: options.voters ?? three, electionTicksMin: options.min ?? 5, electionTicksMax: options.max ?? 10, rng: maxRng,
      ...(options.voteRequestsBeforePersist === undefined ? {} : { voteRequestsBeforePersist: options.voteRequestsBeforePersist }),
    },
    { hardState: { term: options.term ?? 0, votedFor: options.votedFor ?? null }, termRuns: termRunsOf(log), lastIndex: log.length },
  );
}

function ready(partial: Partial<Ready>): Ready {
  return {
    hardState: null,
    messages: [],
    messagesAfterPersist: [],
    roleChange: null,
    leaderStart: null,
    commitIndex: null,
    heartbeatRound: null,
    readsReady: [],
    configuration: null,
    configurationAppend: null,
    readsFailed: [],
    ...partial,
  };
}

function ticks(core: RaftCore, count: number): void {
  for (let i = 0; i < count; i++) core.tick();
}

function voteRequest(candidateId: NodeId, term: number, lastIndex: number, lastTerm: number, preVote = false, transfer = false): VoteRequest {
  return { type: 'voteRequest', preVote, term, candidateId, lastIndex, lastTerm, transfer };
}

function granted(term: number, preVote = false): CoreMessage {
  return { type: 'voteResponse', preVote, term, granted: true };
}

function header(partial: Partial<AppendEntriesHeader>): AppendEntriesHeader {
  return { term: 1, leaderId: 'n2', prevIndex: 0, prevTerm: 0, leaderCommit: 0, entryTerms: [], ...partial };
}

/** n1 of three, elected in `term + 1` over a log of `log`, its first Ready drained. */
function makeLeader(term: number, log: number[]): RaftCore {
  const core = makeCore({ term, log });
  core.campaign();
  core.step('n2', granted(term + 1, true));
  core.step('n2', granted(term + 1));
  assert.equal(core.role, 'leader');
  core.ready();
  return core;
}

// ---- elections ----

test('election timeout: a follower becomes pre-candidate and asks for pre-votes at term + 1', () => {
  const core = makeCore({ term: 1, log: [1, 1] });
  ticks(core, 9);
  assert.equal(core.hasReady(), false);
  core.tick();
  const request = voteRequest('n1', 2, 2, 1, true);
  assert.deepEqual(core.ready(), ready({
    roleChange: { role: 'preCandidate', term: 1, leaderId: null },
    messages: [{ to: 'n2', message: request }, { to: 'n3', message: request }],
  }));
  assert.equal(core.term, 1, 'a pre-vote does not change the term');
  assert.equal(core.votedFor, null);
});

/** n1 campaigns from term 1 and wins n3's pre-vote: the real election of term 2 starts. */
function preVoteWon(core: RaftCore): void {
  core.campaign();
  core.ready();
  core.step('n3', granted(2, true));
}

test('a pre-vote majority starts the real election: hard state, then vote requests after persist', () => {
  const core = makeCore({ term: 1, log: [1, 1] });
  preVoteWon(core);
  const request = voteRequest('n1', 2, 2, 1);
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 2, votedFor: 'n1' },
    roleChange: { role: 'candidate', term: 2, leaderId: null },
    messagesAfterPersist: [{ to: 'n2', message: request }, { to: 'n3', message: request }],
  }));
});

test('a vote majority makes a leader: no-op at lastIndex + 1 and leaderStart', () => {
  const core = makeCore({ term: 1, log: [1, 1] });
  core.campaign();
  core.step('n3', granted(2, true));
  core.ready();
  core.step('n2', granted(2));
  assert.deepEqual(core.ready(), ready({
    roleChange: { role: 'leader', term: 2, leaderId: 'n1' },
    leaderStart: { term: 2, noopIndex: 3, commitIndex: 0, followers: ['n2', 'n3'] },
  }));
  assert.equal(core.lastIndex, 3);
  assert.equal(core.termAt(3), 2);
  assert.equal(core.leaderId, 'n1');
});

test('vote requests before persist: they leave at once, and the candidate wins only once its own vote is durable', () => {
  const core = makeCore({ term: 1, log: [1, 1], voteRequestsBeforePersist: true });
  preVoteWon(core);
  const request = voteRequest('n1', 2, 2, 1);
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 2, votedFor: 'n1' },
    roleChange: { role: 'candidate', term: 2, leaderId: null },
    messages: [{ to: 'n2', message: request }, { to: 'n3', message: request }],
  }));
  // One other vote and the self-vote make a majority, but the self-vote is not yet on disk: no leader.
  core.step('n2', granted(2));
  assert.equal(core.role, 'candidate');
  assert.equal(core.hasReady(), false);
  core.onHardStateDurable(1);
  assert.equal(core.role, 'candidate', 'an older term being durable says nothing of this one');
  core.onHardStateDurable(2);
  assert.equal(core.role, 'leader');
  assert.deepEqual(core.ready().leaderStart, { term: 2, noopIndex: 3, commitIndex: 0, followers: ['n2', 'n3'] });
  // One refusal while the self-vote is pending does not make the candidate give up: it still counts as a yes to come.
  const other = makeCore({ term: 1, log: [1], voteRequestsBeforePersist: true });
  preVoteWon(other);
  other.step('n2', { type: 'voteResponse', preVote: false, term: 2, granted: false });
  assert.equal(other.role, 'candidate');
  other.step('n3', granted(2));
  assert.equal(other.role, 'candidate');
  other.onHardStateDurable(2);
  assert.equal(other.role, 'leader');
  // Even when the others alone make the majority: restarted without its term and vote, the
  // candidate could vote for another in the same term, which could then win too.
  const five = makeCore({ voters: ['n1', 'n2', 'n3', 'n4', 'n5'], term: 1, log: [1], voteRequestsBeforePersist: true });
  five.campaign();
  five.step('n2', granted(2, true));
  five.step('n3', granted(2, true));
  for (const peer of ['n2', 'n3']) five.step(peer, granted(2));
  assert.equal(five.role, 'candidate');
  five.step('n4', granted(2));
  assert.equal(five.role, 'candidate');
  five.onHardStateDurable(2);
  assert.equal(five.role, 'leader');
});

test('a pre-vote majority of rejections sends the pre-candidate back to follower', () => {
  const core = makeCore({ term: 1 });
  core.campaign();
  core.ready();
  core.step('n2', { type: 'voteResponse', preVote: true, term: 1, granted: false });
  core.step('n3', { type: 'voteResponse', preVote: true, term: 1, granted: false });
  assert.deepEqual(core.ready(), ready({ roleChange: { role: 'follower', term: 1, leaderId: null } }));
});

test('a rejected pre-vote with a higher term makes the pre-candidate follow that term', () => {
  const core = makeCore({ term: 1 });
  core.campaign();
  core.ready();
  core.step('n2', { type: 'voteResponse', preVote: true, term: 4, granted: false });
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 4, votedFor: null },
    roleChange: { role: 'follower', term: 4, leaderId: null },
  }));
});

test('a single voter becomes leader on campaign, with no messages, and commits its no-op once synced', () => {
  const core = makeCore({ voters: ['n1'] });
  core.campaign();
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 1, votedFor: 'n1' },
    roleChange: { role: 'leader', term: 1, leaderId: 'n1' },
    leaderStart: { term: 1, noopIndex: 1, commitIndex: 0, followers: [] },
  }));
  core.onLocalSynced(1);
  assert.deepEqual(core.ready(), ready({ commitIndex: 1 }));
  assert.deepEqual(core.readIndex(5), { ok: true, readIndex: 1 });
  assert.deepEqual(core.ready(), ready({ readsReady: [{ readId: 5, readIndex: 1 }] }));
});

// ---- vote granting ----

test('a vote is granted to an up-to-date candidate, persisted before the reply', () => {
  const core = makeCore({ term: 1, log: [1] });
  core.step('n2', voteRequest('n2', 2, 1, 1));
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 2, votedFor: 'n2' },
    roleChange: { role: 'follower', term: 2, leaderId: null },
    messagesAfterPersist: [{ to: 'n2', message: granted(2) }],
  }));
});

test('a vote is refused to a candidate whose log is behind (§5.4.1), though its term is adopted', () => {
  const core = makeCore({ term: 2, log: [1, 2] });
  // Longer, but its last term is older.
  core.step('n2', voteRequest('n2', 3, 5, 1));
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 3, votedFor: null },
    roleChange: { role: 'follower', term: 3, leaderId: null },
    messages: [{ to: 'n2', message: { type: 'voteResponse', preVote: false, term: 3, granted: false } }],
  }));
  // Same last term, shorter.
  core.step('n3', voteRequest('n3', 3, 1, 2));
  assert.deepEqual(core.ready(), ready({
    messages: [{ to: 'n3', message: { type: 'voteResponse', preVote: false, term: 3, granted: false } }],
  }));
});

test('one vote per term: a second candidate is refused, the same one granted again', () => {
  const core = makeCore({ term: 1 });
  core.step('n2', voteRequest('n2', 2, 0, 0));
  core.ready();
  core.step('n3', voteRequest('n3', 2, 0, 0));
  assert.deepEqual(core.ready(), ready({
    messages: [{ to: 'n3', message: { type: 'voteResponse', preVote: false, term: 2, granted: false } }],
  }));
  core.step('n2', voteRequest('n2', 2, 0, 0));
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 2, votedFor: 'n2' },
    messagesAfterPersist: [{ to: 'n2', message: granted(2) }],
  }));
});

test('a restarted node keeps its vote of the term', () => {
  const core = makeCore({ term: 2, votedFor: 'n2' });
  core.step('n3', voteRequest('n3', 2, 0, 0));
  assert.deepEqual(core.ready(), ready({
    messages: [{ to: 'n3', message: { type: 'voteResponse', preVote: false, term: 2, granted: false } }],
  }));
  assert.equal(core.votedFor, 'n2');
});

test('a pre-vote is granted without changing the responder’s term or vote', () => {
  const core = makeCore({ term: 3, votedFor: 'n3', log: [1, 3] });
  core.step('n2', voteRequest('n2', 4, 2, 3, true));
  assert.deepEqual(core.ready(), ready({
    messages: [{ to: 'n2', message: { type: 'voteResponse', preVote: true, term: 4, granted: true } }],
  }));
  assert.equal(core.term, 3);
  assert.equal(core.votedFor, 'n3');
  // Not for a term that is not above ours, nor for a log behind ours.
  core.step('n2', voteRequest('n2', 3, 2, 3, true));
  core.step('n2', voteRequest('n2', 4, 1, 1, true));
  const refusal = { type: 'voteResponse', preVote: true, term: 3, granted: false } as const;
  assert.deepEqual(core.ready(), ready({ messages: [{ to: 'n2', message: refusal }, { to: 'n2', message: refusal }] }));
});

test('stickiness: while a leader is heard from, a vote request is ignored and a pre-vote refused', () => {
  const core = makeCore({ term: 1 });
  core.handleAppendEntries(header({ term: 1, leaderId: 'n2' }));
  core.ready();
  ticks(core, 4);
  core.step('n3', voteRequest('n3', 2, 0, 0));
  assert.equal(core.hasReady(), false, 'ignored altogether');
  assert.equal(core.term, 1, 'not even the term is adopted');
  core.step('n3', voteRequest('n3', 2, 0, 0, true));
  assert.deepEqual(core.ready(), ready({
    messages: [{ to: 'n3', message: { type: 'voteResponse', preVote: true, term: 1, granted: false } }],
  }));
  // electionTicksMin (5) ticks without the leader: the lease is over, the vote is granted.
  core.tick();
  core.step('n3', voteRequest('n3', 2, 0, 0));
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 2, votedFor: 'n3' },
    roleChange: { role: 'follower', term: 2, leaderId: null },
    messagesAfterPersist: [{ to: 'n3', message: granted(2) }],
  }));
});

test('a leader ignores a vote request of a higher term while it holds its lease', () => {
  const core = makeLeader(1, []);
  core.step('n3', voteRequest('n3', 5, 9, 1));
  assert.equal(core.hasReady(), false);
  assert.equal(core.role, 'leader');
});

// ---- leader: commit ----

test('commit counts only entries of the current term (§5.4.2); a match the appender withdraws stops counting', () => {
  const core = makeLeader(2, [1, 1, 2]);
  assert.equal(core.term, 3);
  assert.equal(core.lastIndex, 4);
  core.onLocalSynced(4);
  core.onMatch('n2', 3);
  assert.equal(core.hasReady(), false, 'index 3 is on a majority but of term 2: not committed');
  assert.equal(core.commitIndex, 0);
  core.onMatch('n2', 4);
  assert.deepEqual(core.ready(), ready({ commitIndex: 4 }));
  const proposal = core.propose(3);
  assert.deepEqual(proposal, { ok: true, firstIndex: 5, term: 3 });
  core.onMatch('n3', 7);
  assert.equal(core.hasReady(), false, "the leader's own log is synced only through 4");
  core.onLocalSynced(6);
  assert.deepEqual(core.ready(), ready({ commitIndex: 6 }));
  const more = core.propose(2);
  assert.deepEqual(more, { ok: true, firstIndex: 8, term: 3 });
  core.onMatch('n2', 9);
  assert.deepEqual(core.ready(), ready({ commitIndex: 7 }), 'n2 at 9 and n3 at 7');
  core.onMatch('n2', 0); // n2 came back without the log it acknowledged (appender-actor.ts)
  core.onLocalSynced(9);
  assert.equal(core.hasReady(), false, "n2's withdrawn match no longer makes 9 a majority with the leader's own");
  assert.equal(core.commitIndex, 7, 'and the commit index never goes back');
  core.onMatch('n3', 8);
  assert.deepEqual(core.ready(), ready({ commitIndex: 8 }));
});

test('a node whose term is at the ceiling never campaigns (no next term exists), and says so', () => {
  const core = makeCore({ term: termMax, log: [1] });
  assert.equal(core.termCeilingReached, true);
  ticks(core, 50);
  assert.equal(core.hasReady(), false, 'no pre-vote, no term change');
  assert.equal(core.role, 'follower');
  const below = makeCore({ term: termMax - 1, log: [1] });
  assert.equal(below.termCeilingReached, false);
  ticks(below, 10);
  assert.equal(below.role, 'preCandidate', 'one below the ceiling can still campaign for the ceiling');
});

test('propose on a follower answers notLeader with the known leader', () => {
  const core = makeCore({ term: 1 });
  core.handleAppendEntries(header({ term: 1, leaderId: 'n3' }));
  assert.deepEqual(core.propose(1), { ok: false, reason: 'notLeader', leaderId: 'n3' });
});

test('a higher term seen by the appender makes the leader step down and fail pending reads', () => {
  const core = makeLeader(0, []);
  core.onLocalSynced(1);
  core.onMatch('n2', 1);
  core.ready();
  core.readIndex(1);
  core.ready();
  core.onHigherTerm(3, 'n3');
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 3, votedFor: null },
    roleChange: { role: 'follower', term: 3, leaderId: 'n3' },
    readsFailed: [1],
  }));
});

// ---- leader: check-quorum ----

test('check-quorum: a leader without a majority in contact for electionTicksMin ticks steps down', () => {
  const core = makeLeader(0, []);
  ticks(core, 4);
  assert.equal(core.hasReady(), false);
  core.tick();
  assert.deepEqual(core.ready(), ready({ roleChange: { role: 'follower', term: 1, leaderId: null } }));
});

test('check-quorum: one follower in contact each window keeps a leader of three', () => {
  const core = makeLeader(0, []);
  for (let window = 0; window < 4; window++) {
    core.onPeerContact(window % 2 === 0 ? 'n2' : 'n3');
    ticks(core, 5);
  }
  assert.equal(core.role, 'leader');
  assert.equal(core.hasReady(), false);
  ticks(core, 5);
  assert.equal(core.role, 'follower');
});

// ---- follower: AppendEntries (§5.3) ----

test('AppendEntries of a stale term is rejected with the current term, nothing changes', () => {
  const core = makeCore({ term: 3, log: [1] });
  assert.deepEqual(core.handleAppendEntries(header({ term: 2, prevIndex: 1, prevTerm: 1 })), {
    kind: 'reject',
    reply: { term: 3, success: false, matchIndex: 0, nextIndexHint: 0 },
  });
  assert.equal(core.hasReady(), false);
});

test('AppendEntries of a higher term: the term is adopted and the sender followed', () => {
  const core = makeCore({ term: 1 });
  const decision = core.handleAppendEntries(header({ term: 2, leaderId: 'n2', entryTerms: [2] }));
  assert.deepEqual(decision, {
    kind: 'accept',
    truncateFrom: null,
    appendFrom: 0,
    reply: { term: 2, success: true, matchIndex: 1, nextIndexHint: 2 },
  });
  assert.deepEqual(core.ready(), ready({
    hardState: { term: 2, votedFor: null },
    roleChange: { role: 'follower', term: 2, leaderId: 'n2' },
  }));
});

test('AppendEntries beyond the log is rejected with a hint of lastIndex + 1', () => {
  const core = makeCore({ term: 1, log: [1, 1] });
  assert.deepEqual(core.handleAppendEntries(header({ prevIndex: 5, prevTerm: 1 })), {
    kind: 'reject',
    reply: { term: 1, success: false, matchIndex: 0, nextIndexHint: 3 },
  });
});

test('AppendEntries with a conflicting prevTerm hints the first index of that term, not below commit + 1', () => {
  const core = makeCore({ term: 3, log: [1, 1, 2, 2, 2] });
  assert.deepEqual(core.handleAppendEntries(header({ term: 3, prevIndex: 5, prevTerm: 3 })), {
    kind: 'reject',
    reply: { term: 3, success: false, matchIndex: 0, nextIndexHint: 3 },
  });
  // Commit through 3, then the same conflict: the hint stays above the commit index.
  core.handleAppendEntries(header({ term: 3, prevIndex: 3, prevTerm: 2, leaderCommit: 4 }));
  assert.equal(core.commitIndex, 3);
  assert.deepEqual(core.handleAppendEntries(header({ term: 3, prevIndex: 5, prevTerm: 3 })).reply.nextIndexHint, 4);
});

test('AppendEntries truncates from the first conflicting entry and appends the rest', () => {
  const core = makeCore({ term: 3, log: [1, 1, 2, 2] });
  assert.deepEqual(core.handleAppendEntries(header({ term: 3, prevIndex: 2, prevTerm: 1, entryTerms: [2, 3, 3] })), {
    kind: 'accept',
    truncateFrom: 4,
    appendFrom: 1,
    reply: { term: 3, success: true, matchIndex: 5, nextIndexHint: 6 },
  });
  assert.deepEqual(core.termRuns(), [{ firstIndex: 1, term: 1 }, { firstIndex: 3, term: 2 }, { firstIndex: 4, term: 3 }]);
  assert.equal(core.lastIndex, 5);
});

test('AppendEntries skips entries already present and never cuts the entries after them', () => {
  const core = makeCore({ term: 2, log: [1, 1, 2, 2] });
  assert.deepEqual(core.handleAppendEntries(header({ term: 2, prevIndex: 1, prevTerm: 1, entryTerms: [1, 2] })), {
    kind: 'accept',
    truncateFrom: null,
    appendFrom: 2,
    reply: { term: 2, success: true, matchIndex: 3, nextIndexHint: 4 },
  });
  assert.equal(core.lastIndex, 4, 'a delayed request does not truncate a longer matching log');
  assert.deepEqual(core.handleAppendEntries(header({ term: 2, prevIndex: 3, prevTerm: 2, entryTerms: [2, 2, 2] })), {
    kind: 'accept',
    truncateFrom: null,
    appendFrom: 1,
    reply: { term: 2, success: true, matchIndex: 6, nextIndexHint: 7 },
  });
  assert.equal(core.lastIndex, 6);
});

test('AppendEntries commits min(leaderCommit, last index it matched)', () => {
  const core = makeCore({ term: 1, log: [1, 1, 1, 1] });
  core.handleAppendEntries(header({ prevIndex: 1, prevTerm: 1, entryTerms: [1], leaderCommit: 10 }));
  assert.deepEqual(core.ready(), ready({ roleChange: { role: 'follower', term: 1, leaderId: 'n2' }, commitIndex: 2 }));
  core.handleAppendEntries(header({ prevIndex: 4, prevTerm: 1, leaderCommit: 3 }));
  assert.deepEqual(core.ready(), ready({ commitIndex: 3 }));
  core.handleAppendEntries(header({ prevIndex: 4, prevTerm: 1, leaderCommit: 1 }));
  assert.equal(core.hasReady(), false, 'the commit index never goes back');
});

test('AppendEntries that would truncate a committed entry breaks an invariant', () => {
  const core = makeCore({ term: 2, log: [1, 1] });
  core.handleAppendEntries(header({ term: 2, prevIndex: 2, prevTerm: 1, leaderCommit: 2 }));
  assert.throws(() => core.handleAppendEntries(header({ term: 2, prevIndex: 1, prevTerm: 1, entryTerms: [2] })), /invariant broken: truncating committed entry 2/);
});

test('a candidate receiving AppendEntries of its term becomes follower of the sender', () => {
  const core = makeCore({ term: 1 });
  core.campaign();
  core.step('n2', granted(2, true));
  core.ready();
  core.handleAppendEntries(header({ term: 2, leaderId: 'n3' }));
  assert.deepEqual(core.ready(), ready({ roleChange: { role: 'follower', term: 2, leaderId: 'n3' } }));
});

// ---- ReadIndex (thesis §6.4) ----

test('readIndex: notLeader on a follower, leaderNotReady before the leader commits in its term', () => {
  const follower = makeCore({ term: 1 });
  follower.handleAppendEntries(header({ term: 1, leaderId: 'n2' }));
  assert.deepEqual(follower.readIndex(1), { ok: false, reason: 'notLeader', leaderId: 'n2' });
  const leader = makeLeader(1, [1]);
  assert.deepEqual(leader.readIndex(1), { ok: false, reason: 'leaderNotReady' });
  assert.equal(leader.hasReady(), false);
});

test('readIndex: a read is ready once a majority acknowledged its heartbeat round', () => {
  const core = makeLeader(1, [1]);
  core.onLocalSynced(2);
  core.onMatch('n2', 2);
  assert.deepEqual(core.ready(), ready({ commitIndex: 2 }));

  assert.deepEqual(core.readIndex(7), { ok: true, readIndex: 2 });
  assert.deepEqual(core.readIndex(8), { ok: true, readIndex: 2 }); // before the drain: shares round 1
  assert.deepEqual(core.ready(), ready({ heartbeatRound: 1 }));
  assert.deepEqual(core.readIndex(9), { ok: true, readIndex: 2 }); // round 1 already went out: it waits for the next
  assert.equal(core.hasReady(), false, 'one read round outstanding at a time');

  core.onRoundAck('n3', 1);
  // Round 1 confirmed: its reads are ready, and the next round starts for read 9.
  assert.deepEqual(core.ready(), ready({ readsReady: [{ readId: 7, readIndex: 2 }, { readId: 8, readIndex: 2 }], heartbeatRound: 2 }));
  core.onRoundAck('n2', 1);
  assert.equal(core.hasReady(), false, 'round 2 not yet acknowledged by anyone');
  core.onRoundAck('n2', 2);
  assert.deepEqual(core.ready(), ready({ readsReady: [{ readId: 9, readIndex: 2 }] }));
});

test('readIndex: pending reads fail when check-quorum deposes the leader', () => {
  const core = makeLeader(1, [1]);
  core.onLocalSynced(2);
  core.onMatch('n2', 2);
  core.ready();
  core.readIndex(4);
  core.readIndex(5);
  ticks(core, 5);
  assert.deepEqual(core.ready(), ready({
    roleChange: { role: 'follower', term: 2, leaderId: null },
    readsFailed: [4, 5],
  }));
});
