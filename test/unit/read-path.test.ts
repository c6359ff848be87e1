/**
 * The server's read path with a real consensus core: a frame of 256 linearizable reads lets the
 * core's effects out once at the end of the turn (one heartbeat round, one message to the
 * appender), the reads of the next frame wait for the next round, and the reads a round confirms
 * go to the updater as one query batch and come back as replies in the connection's reply batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore } from '../../src/core/raft-core.js';
import type { Rng } from '../../src/core/types.js';
import { RequestPath, type RequestPathHost } from '../../src/server/request-path.js';
import { StageRecorder } from '../../src/metrics/stage-recorder.js';
import { resolveLimits } from '../../src/limits.js';
import { NotLeaderError, TransferInProgressError } from '../../src/errors.js';
import { Kind } from '../../src/messages/kinds.js';
import { RequestType } from '../../src/messages/messages.js';
import { encode } from '../../src/messages/codec.js';
import type { Inbound } from '../../src/server/listener.js';
import { termRunsOf } from '../support/core-cluster.js';

const maxRng: Rng = { intBetween: (_min, max) => max };

function leader(leaseMs?: number, clock?: () => number): RaftCore {
  const core = new RaftCore(
    { id: 'n1', voters: ['n1', 'n2', 'n3'], electionTicksMin: 5, electionTicksMax: 10, rng: maxRng,
      ...(leaseMs === undefined ? {} : { readLeaseMs: leaseMs, monotonicMs: clock! }) },
    { hardState: { term: 1, votedFor: null }, termRuns: termRunsOf([1]), lastIndex: 1 },
  );
  core.campaign();
  core.step('n2', { type: 'voteResponse', preVote: true, term: 2, granted: true });
  core.step('n2', { type: 'voteResponse', preVote: false, term: 2, granted: true });
  core.onLocalSynced(2);
  core.onMatch('n2', 2);
  core.ready();
  return core;
}

function readPath(core: RaftCore) {
  const turns: (() => void)[] = [];
  const counts = { processReady: 0, appenderRounds: 0 };
  const queryBatches: { firstQueryId: number; data: Uint8Array[] }[] = [];
  const replyFrames: number[][] = [];
  const errors: string[] = [];
  let frame: number[] | null = null;
  let path: RequestPath | null = null;
  const host: RequestPathHost = {
    id: 'n1',
    limits: resolveLimits(),
    raftCore: () => core,
    notLeader: (leaderId) => new NotLeaderError('not the leader', { leaderId }),
    transferInProgress: (target) => new TransferInProgressError('transferring', { target }),
    appendEntries: () => 0,
    sendQueryBatch: (firstQueryId, data) => queryBatches.push({ firstQueryId, data }),
    sendReadIndexRequest: () => assert.fail('a leader asks no one for a read index'),
    sendReadIndexReply: () => assert.fail('no follower asked'),
    monotonicMs: () => performance.now(),
    processReady: () => {
      counts.processReady++;
      const ready = core.ready();
      if (ready.heartbeatRound !== null) counts.appenderRounds++;
      if (ready.readsReady.length > 0) path!.onReadsReady(ready.readsReady);
    },
  };
  path = new RequestPath(host, { applyTransaction: () => null, query: () => null }, new StageRecorder(false, 1), (run) => turns.push(run));
  // The state machine has applied the leader's no-op (index 2), the reads' read index.
  path.onApplied(2, [], [], [], []);
  const connection: Inbound = {
    id: 1, closed: false, receivedUs: 0, peerId: null, identity: null, messagesReceived: 1, identifyPeer: () => {}, close: () => {},
    send: () => assert.fail('batched calls are answered in the reply batch'),
    // The listener's reply batch: every reply of one turn leaves in one frame.
    replyBatched: (callId, _index, _result, error) => {
      if (error !== null) errors.push(error.code);
      if (frame === null) {
        frame = [];
        replyFrames.push(frame);
      }
      frame.push(callId);
    },
  };
  const frameOfReads = (firstCallId: number, count: number): void => {
    const callIds = Array.from({ length: count }, (_, i) => firstCallId + i);
    path!.onClientRequestBatch(connection, {
      k: Kind.ClientRequestBatch, g: 'default', clientId: 'c', firstUnacked: 1, callIds,
      types: callIds.map(() => RequestType.readOnly), data: callIds.map(() => encode('k')),
    });
  };
  const endTurn = (): void => {
    for (const run of turns.splice(0)) run();
    frame = null;
  };
  return { path, counts, queryBatches, replyFrames, errors, frameOfReads, endTurn };
}

test('a frame of 256 reads: one processReady at the end of the turn, one heartbeat round to the appender, one query batch, one reply frame', () => {
  const core = leader();
  const { path, counts, queryBatches, replyFrames, errors, frameOfReads, endTurn } = readPath(core);
  frameOfReads(1, 256);
  assert.equal(counts.processReady, 0, 'nothing leaves while the frame is handled');
  endTurn();
  assert.deepEqual(counts, { processReady: 1, appenderRounds: 1 });
  // The state machine is caught up: the query goes alongside the round, all 256 in one batch.
  assert.deepEqual(queryBatches.map((batch) => batch.data.length), [256]);
  const answers = (batch: { data: Uint8Array[] }): [Uint8Array[], null[]] => [batch.data.map(() => encode('v')), batch.data.map(() => null)];
  path.onQueryBatchResult(queryBatches[0]!.firstQueryId, ...answers(queryBatches[0]!));
  endTurn();
  assert.equal(replyFrames.length, 0, 'answers are held until the round confirms the reads');
  // The next frame arrives while round 1 is in flight: its reads wait for round 2.
  frameOfReads(1001, 256);
  endTurn();
  assert.deepEqual(counts, { processReady: 2, appenderRounds: 1 }, 'no round while one is in flight');
  assert.deepEqual(queryBatches.map((batch) => batch.data.length), [256, 256]);
  core.onRoundAck('n2', 1);
  const ready = core.ready();
  assert.equal(ready.readsReady.length, 256);
  assert.equal(ready.heartbeatRound, 2, 'round 1 confirmed: round 2 starts for the waiting reads');
  path.onReadsReady(ready.readsReady);
  endTurn();
  assert.deepEqual(replyFrames.map((frame) => frame.length), [256]);
  assert.deepEqual(replyFrames[0], Array.from({ length: 256 }, (_, i) => i + 1));
  // Leadership lost before round 2 comes back: the second frame's reads fail, and their answers, come late, are dropped.
  core.onHigherTerm(9, null);
  path.onReadsFailed(core.ready().readsFailed, new NotLeaderError('not the leader', {}));
  endTurn();
  path.onQueryBatchResult(queryBatches[1]!.firstQueryId, ...answers(queryBatches[1]!));
  endTurn();
  assert.deepEqual(replyFrames.map((frame) => frame.length), [256, 256]);
  assert.ok(errors.length === 256 && errors.every((code) => code === 'NOT_LEADER'), 'the second frame is answered NOT_LEADER only');
  assert.equal(core.readCounters.rounds, 2);
});

test('on the lease, a frame of reads is queried in one batch at the end of the turn, with no round', () => {
  let nowMs = 0;
  const core = leader(100, () => nowMs);
  const { counts, queryBatches, frameOfReads, endTurn } = readPath(core);
  // Establish the lease: a round started at 0, acknowledged at 10.
  core.tick();
  assert.equal(core.ready().heartbeatRound, 1);
  nowMs = 10;
  core.onRoundAck('n3', 1);
  core.ready();
  frameOfReads(1, 256);
  endTurn();
  assert.equal(counts.appenderRounds, 0, 'no round for lease reads');
  assert.equal(queryBatches.length, 1);
  assert.equal(queryBatches[0]!.data.length, 256);
  assert.equal(core.readCounters.leaseReads, 256);
  // Lapsed: the next frame goes by a round.
  nowMs = 100;
  frameOfReads(1001, 10);
  endTurn();
  assert.equal(counts.appenderRounds, 1, 'lapsed: a round');
  assert.deepEqual(queryBatches.map((batch) => batch.data.length), [256, 10]);
  assert.equal(core.readCounters.leaseFallbacks, 10);
});
