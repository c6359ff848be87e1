/**
 * StageRecorder joins stamps from the threads of a server into per-stage durations: one batch of
 * three writes from two chunks, with known stamps, gives exactly the durations of the stage table
 * (docs/metrics.md, "The stages of a write"), each counted once per write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StageRecorder, type ChunkSample } from '../../src/metrics/stage-recorder.js';
import type { HistogramSnapshot, StageSnapshot } from '../../src/metrics/types.js';

function sample(receivedUs: number, startUs: number, admitUs: number, preAppendUs: number, preAppendedUs: number, count: number): ChunkSample {
  return { receivedUs, startUs, admitUs, preAppendUs, preAppendedUs, count, batch: null };
}

/** The histogram holds exactly these values (below 256 µs a two-digit HDR histogram is exact). */
function assertHolds(histogram: HistogramSnapshot | undefined, values: [number, number][], label: string): void {
  assert.ok(histogram, `${label} present`);
  const count = values.reduce((sum, [, n]) => sum + n, 0);
  const mean = values.reduce((sum, [value, n]) => sum + value * n, 0) / count;
  assert.equal(histogram.count, count, `${label} count`);
  assert.ok(Math.abs(histogram.meanUs - mean) <= mean * 0.01, `${label} mean ${histogram.meanUs}, expected ${mean}`);
  const max = Math.max(...values.map(([value]) => value));
  assert.ok(histogram.maxUs >= max && histogram.maxUs <= max * 1.01, `${label} max ${histogram.maxUs}, expected ${max}`);
}

function byName(stages: StageSnapshot[]): Map<string, StageSnapshot> {
  return new Map(stages.map((stage) => [stage.name, stage]));
}

test('a leader batch: every stage from its stamps, queue and service apart, counted per write', () => {
  let clockUs = 0;
  const recorder = new StageRecorder(true, 1, () => clockUs);
  const first = sample(1000, 1010, 1030, 1040, 1100, 2);
  const second = sample(1050, 1060, 1065, 1070, 1120, 1);
  recorder.onAppendBatch(7, 10, 3, [first, second], 1200);
  // The first follower's acknowledgement makes the majority; the second's only feeds its histogram.
  recorder.onAcks([['n2', 12, 3, 1300, 1800], ['n3', 12, 3, 1250, 1950]]);
  recorder.onLogSynced([7, 1250, 1400], 1500, 1700);
  clockUs = 1900;
  recorder.onCommitted(12, 9);
  recorder.onApplyLoops([10, 12, 2100, 2300]);
  recorder.onReplied([{ index: 10, sample: first }, { index: 11, sample: first }, { index: 12, sample: second }], 2400, 2450);
  recorder.releaseApplyLoops(12);

  const stages = byName(recorder.leaderSnapshot());
  assertHolds(stages.get('receive'), [[10, 2], [10, 1]], 'receive');
  assertHolds(stages.get('startTransaction'), [[20, 2], [5, 1]], 'startTransaction');
  assertHolds(stages.get('admit'), [[10, 2], [5, 1]], 'admit');
  assertHolds(stages.get('preAppend')?.queue, [[100, 2], [80, 1]], 'preAppend queue');
  assertHolds(stages.get('preAppend')?.service, [[60, 2], [50, 1]], 'preAppend service');
  assertHolds(stages.get('preAppend'), [[160, 2], [130, 1]], 'preAppend');
  assertHolds(stages.get('logWrite')?.queue, [[50, 3]], 'logWrite queue');
  assertHolds(stages.get('logWrite')?.service, [[150, 3]], 'logWrite service');
  assertHolds(stages.get('logSync')?.queue, [[100, 3]], 'logSync queue');
  assertHolds(stages.get('logSync')?.service, [[200, 3]], 'logSync service');
  assertHolds(stages.get('replicate')?.queue, [[100, 3]], 'replicate queue');
  assertHolds(stages.get('replicate')?.service, [[500, 3]], 'replicate service');
  // Commit starts at the later of the leader's sync (1700) and the majority's ack (1800).
  assertHolds(stages.get('commit'), [[100, 3]], 'commit');
  assertHolds(stages.get('applySerial')?.queue, [[200, 3]], 'applySerial queue');
  assertHolds(stages.get('applySerial')?.service, [[200, 3]], 'applySerial service');
  assertHolds(stages.get('apply'), [[100, 3]], 'apply');
  assertHolds(stages.get('reply'), [[50, 3]], 'reply');
  assertHolds(stages.get('total'), [[1450, 2], [1400, 1]], 'total');
  assertHolds(recorder.replicateSnapshot('n2'), [[500, 3]], 'replicate to n2');
  assertHolds(recorder.replicateSnapshot('n3'), [[700, 3]], 'replicate to n3');
  const counters = recorder.countersSnapshot();
  assert.equal(counters['writesReplied'], 3);
  assert.equal(counters['entriesReplicated'], 6);
  assert.equal(counters['entriesCommitted'], 3);

  recorder.resetHistograms();
  for (const stage of recorder.leaderSnapshot()) assert.equal(stage.count, 0);
  assert.equal(recorder.countersSnapshot()['writesReplied'], 3, 'a reset keeps the counters');
});

test('log stamps after the replies still complete the batch; a batch is recorded once', () => {
  let clockUs = 0;
  const recorder = new StageRecorder(true, 1, () => clockUs);
  const only = sample(100, 110, 120, 130, 140, 1);
  recorder.onAppendBatch(3, 5, 1, [only], 150);
  recorder.onAcks([['n2', 5, 1, 160, 200]]);
  clockUs = 220;
  recorder.onCommitted(5, 4);
  recorder.onApplyLoops([5, 5, 230, 240]);
  recorder.onReplied([{ index: 5, sample: only }], 250, 260);
  assert.equal(byName(recorder.leaderSnapshot()).get('logSync')!.count, 0, 'waiting for the log stamps');
  assert.equal(byName(recorder.leaderSnapshot()).get('total')!.count, 1);
  // The leader synced after the commit (two others made the majority): commit counts from the ack.
  recorder.onLogSynced([3, 160, 170], 180, 225);
  recorder.onLogSynced([3, 160, 170], 180, 225);
  const stages = byName(recorder.leaderSnapshot());
  assertHolds(stages.get('logSync'), [[55, 1]], 'logSync');
  assertHolds(stages.get('commit'), [[20, 1]], 'commit');
  assert.equal(stages.get('receive')!.count, 1);
});

test('a commit the appender decided: stamped when decided, acknowledgements after the replies, the batch recorded whole', () => {
  let clockUs = 0;
  const recorder = new StageRecorder(true, 1, () => clockUs);
  const only = sample(100, 110, 120, 130, 140, 2);
  recorder.onAppendBatch(4, 20, 2, [only], 150);
  recorder.onLogSynced([4, 160, 170], 180, 200);
  // The core hears of the commit a hop after the appender decided it: counted, not stamped.
  clockUs = 400;
  recorder.onCommitted(21, 19, false);
  // The appender's stamp comes with the applies it allowed, before their replies.
  recorder.stampCommitted(21, 260);
  recorder.onApplyLoops([20, 21, 280, 300]);
  recorder.onReplied([{ index: 20, sample: only }, { index: 21, sample: only }], 320, 330);
  assert.equal(byName(recorder.leaderSnapshot()).get('replicate')!.count, 0, 'waiting for the acknowledgements');
  assert.equal(byName(recorder.leaderSnapshot()).get('receive')!.count, 0, 'nothing of the batch recorded before it is whole');
  recorder.onAcks([['n2', 21, 2, 170, 250]]);
  const stages = byName(recorder.leaderSnapshot());
  assertHolds(stages.get('replicate')?.queue, [[20, 2]], 'replicate queue');
  assertHolds(stages.get('replicate')?.service, [[80, 2]], 'replicate service');
  // From the later of the sync (200) and the majority's acknowledgement (250) to the decision (260).
  assertHolds(stages.get('commit'), [[10, 2]], 'commit');
  assertHolds(stages.get('applySerial')?.queue, [[20, 2]], 'applySerial queue');
  assertHolds(stages.get('total'), [[230, 2]], 'total');
  assert.equal(stages.get('receive')!.count, 2);
  assert.equal(recorder.countersSnapshot()['entriesCommitted'], 2);
  recorder.onAcks([['n3', 21, 2, 175, 270]]);
  assert.equal(byName(recorder.leaderSnapshot()).get('commit')!.count, 2, 'recorded once');
});

test('a follower append: receive, logSync (queue, service) and acknowledge', () => {
  let clockUs = 0;
  const recorder = new StageRecorder(true, 1, () => clockUs);
  recorder.onFollowerAppend(9, 4, 1000, 1020);
  clockUs = 1300;
  recorder.onLogSynced([9, 1050, 1100], 1150, 1250);
  const stages = byName(recorder.followerSnapshot());
  assertHolds(stages.get('receive'), [[20, 4]], 'receive');
  assertHolds(stages.get('logSync')?.queue, [[30, 4]], 'logSync queue');
  assertHolds(stages.get('logSync')?.service, [[200, 4]], 'logSync service');
  assertHolds(stages.get('acknowledge'), [[50, 4]], 'acknowledge');
  assert.equal(recorder.countersSnapshot()['entriesReceived'], 4);
});

test('profiling off: counters move, nothing is kept or recorded', () => {
  const recorder = new StageRecorder(false, 1, () => 1);
  recorder.onAppendBatch(1, 1, 2, [], 0);
  recorder.onAcks([['n2', 2, 2, 0, 0]]);
  recorder.onCommitted(2, 0);
  recorder.onReplied([{ index: 1, sample: null }, { index: 2, sample: null }], 0, 0);
  recorder.onFollowerAppend(2, 5, 0, 0);
  recorder.onLogSynced([], 0, 0);
  for (const stage of [...recorder.leaderSnapshot(), ...recorder.followerSnapshot()]) assert.equal(stage.count, 0);
  assert.equal(recorder.replicateSnapshot('n2').count, 0);
  const counters = recorder.countersSnapshot();
  assert.deepEqual([counters['appendBatches'], counters['entriesAppended'], counters['entriesReplicated'], counters['entriesCommitted'],
    counters['writesReplied'], counters['entriesReceived'], counters['logSyncs']], [1, 2, 2, 2, 2, 5, 1]);
});
