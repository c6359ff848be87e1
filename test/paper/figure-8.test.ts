/**
 * Raft §5.4.2 and Figure 8: a leader cannot conclude that an entry from an earlier term is
 * committed once it is stored on a majority; only entries of its own term are committed by
 * counting replicas. The scripted test replays the figure with five cores (with this engine's
 * no-op entries at leader start, which the figure predates); a core that committed by counting
 * would fail its `commitIndex === 0` assertion. The seeded run then replicates one entry per
 * request, which makes such interleavings common, and checks that no committed entry is lost.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore } from '../../src/core/raft-core.js';
import { SeededRng } from '../../src/core/rng.js';
import type { AppendEntriesHeader, HardState, NodeId, OutMessage, Ready } from '../../src/core/types.js';
import { termRunsOf } from '../support/core-cluster.js';
import { chaosRun, describeFailures, forSeeds } from '../support/seeds.js';

const voters = ['s1', 's2', 's3', 's4', 's5'];

function core(id: NodeId, hardState: HardState, log: number[]): RaftCore {
  const config = { id, voters, electionTicksMin: 10, electionTicksMax: 10, rng: new SeededRng(1) };
  return new RaftCore(config, { hardState, termRuns: termRunsOf(log), lastIndex: log.length });
}

/** Runs an election of `candidate` by hand: its (pre-)vote requests to `electorate`, the replies back. */
function elect(candidate: RaftCore, electorate: RaftCore[]): Ready[] {
  const readies: Ready[] = [];
  candidate.campaign();
  for (let round = 0; round < 2 && candidate.hasReady(); round++) {
    const ready = candidate.ready();
    readies.push(ready);
    const requests: OutMessage[] = [...ready.messages, ...ready.messagesAfterPersist];
    for (const voter of electorate) {
      const request = requests.find((message) => message.to === voter.id);
      if (request === undefined) continue;
      voter.step(candidate.id, request.message);
      const reply = voter.ready();
      for (const out of [...reply.messages, ...reply.messagesAfterPersist]) candidate.step(voter.id, out.message);
    }
  }
  if (candidate.hasReady()) readies.push(candidate.ready());
  return readies;
}

function append(leader: RaftCore, follower: RaftCore, prevIndex: number, entryTerms: number[]) {
  const header: AppendEntriesHeader = {
    term: leader.term,
    leaderId: leader.id,
    prevIndex,
    prevTerm: leader.termAt(prevIndex)!,
    leaderCommit: leader.commitIndex,
    entryTerms,
  };
  const decision = follower.handleAppendEntries(header);
  follower.ready();
  return decision;
}

/** Lets `nodes` forget their leader: the stickiness window (electionTicksMin) passes. */
function passLeaderLease(nodes: RaftCore[]): void {
  for (const node of nodes) {
    for (let tick = 0; tick < 10; tick++) node.tick();
    node.ready();
  }
}

test('Figure 8 (c)-(d): an entry of term 2 on a majority is not committed by the leader of term 4, and may be replaced', () => {
  // (a)-(b) have happened: s1 led term 2 and put entry 2 (term 2) on s2; s5 led term 3 and wrote
  // its own entry 2 (term 3), then crashed. s3 and s4 saw term 3.
  const s1 = core('s1', { term: 3, votedFor: null }, [1, 2]);
  const s2 = core('s2', { term: 2, votedFor: 's1' }, [1, 2]);
  const s3 = core('s3', { term: 3, votedFor: 's5' }, [1]);
  const s4 = core('s4', { term: 3, votedFor: 's5' }, [1]);

  // (c) s1 is elected in term 4 by s1, s2, s3 and appends its no-op at index 3.
  elect(s1, [s2, s3]);
  assert.equal(s1.role, 'leader');
  assert.equal(s1.term, 4);
  assert.equal(s1.lastIndex, 3);
  assert.equal(s1.termAt(3), 4);

  // s1 replicates entry 2 (term 2), one entry per request, to s2 and s3: a majority holds it.
  assert.equal(append(s1, s2, 1, [2]).kind, 'accept');
  assert.equal(append(s1, s3, 1, [2]).kind, 'accept');
  s1.onLocalSynced(3);
  s1.onMatch('s2', 2);
  s1.onMatch('s3', 2);
  assert.equal(s1.commitIndex, 0, 'an earlier term entry must not be committed by counting replicas');
  assert.equal(s1.ready().commitIndex, null);
  assert.deepEqual(s1.readIndex(1), { ok: false, reason: 'leaderNotReady' });

  // (d) s1 crashes before its no-op reaches anyone. s5 restarts (term 3, entry 2 of term 3) and,
  // once the others stop hearing from s1, wins term 5 with s2, s3 and s4: its last term 3 beats 2.
  const s5 = core('s5', { term: 3, votedFor: 's5' }, [1, 3]);
  passLeaderLease([s2, s3, s4]);
  elect(s5, [s2, s3, s4]);
  if (s5.role !== 'leader') elect(s5, [s2, s3, s4]); // the first try may only have learned term 4
  assert.equal(s5.role, 'leader');
  assert.equal(s5.termAt(2), 3);

  // s5 overwrites entry 2 on s3: legal, because it was never committed.
  const decision = append(s5, s3, 1, [3, s5.term]);
  assert.deepEqual(decision, {
    kind: 'accept',
    truncateFrom: 2,
    appendFrom: 0,
    reply: { term: s5.term, success: true, matchIndex: 3, nextIndexHint: 4 },
  });
  assert.equal(s3.termAt(2), 3);
});

test('Figure 8 (e): once an entry of its own term is on a majority, it and entry 2 commit and s5 cannot win', () => {
  const s1 = core('s1', { term: 3, votedFor: null }, [1, 2]);
  const s2 = core('s2', { term: 2, votedFor: 's1' }, [1, 2]);
  const s3 = core('s3', { term: 3, votedFor: 's5' }, [1]);
  const s4 = core('s4', { term: 3, votedFor: 's5' }, [1]);
  elect(s1, [s2, s3]);
  assert.equal(s1.role, 'leader');

  assert.equal(append(s1, s2, 1, [2, 4]).kind, 'accept');
  assert.equal(append(s1, s3, 1, [2, 4]).kind, 'accept');
  s1.onLocalSynced(3);
  s1.onMatch('s2', 3);
  s1.onMatch('s3', 3);
  assert.equal(s1.commitIndex, 3, 'the no-op of term 4 commits, and entry 2 with it');
  assert.equal(s1.ready().commitIndex, 3);

  // s1 crashes; s5 cannot gather a majority: s2 and s3 hold a log ending in term 4.
  const s5 = core('s5', { term: 3, votedFor: 's5' }, [1, 3]);
  passLeaderLease([s2, s3, s4]);
  elect(s5, [s2, s3, s4]);
  elect(s5, [s2, s3, s4]);
  assert.notEqual(s5.role, 'leader');
  assert.equal(s2.termAt(2), 2);
  assert.equal(s3.termAt(2), 2);
});

// Random runs rarely build the three-leader interleaving of the figure (the no-op at leader start
// narrows the window in which an old entry is on a majority without an entry of the new term), so
// the counting rule is pinned by the scripted tests above; these runs guard the surrounding code.
test('seeded runs with one entry per AppendEntries lose no committed entry (500 runs)', () => {
  const report = forSeeds(4001, 500, (seed) => {
    const cluster = chaosRun(
      seed,
      ['stateMachineSafety', 'leaderCompleteness'],
      { entriesPerAppendMax: 1, dropRate: 0.2 },
      { crashRate: 0.05, partitionRate: 0.05 },
    );
    for (const node of cluster.nodes) {
      for (let index = 1; index < cluster.committedTerms.length; index++) {
        if (node.log[index - 1] !== cluster.committedTerms[index]) cluster.fail(`committed entry ${index} lost at ${node.id}`);
      }
    }
  });
  assert.equal(report.failures.length, 0, describeFailures(report));
});
