/**
 * Tests of the simulator itself: a run replays exactly from its seed, the virtual disk keeps what
 * a real one keeps across a crash, and the checkers catch deliberately broken parts (a core
 * missing a rule of the paper or of leadership transfer, a disk whose fsync lies) within a
 * bounded number of seeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSimConfig, runSimulation, type SimConfig, type SimResult } from '../../src/sim/simulation.js';
import { SimDisk } from '../../src/sim/sim-disk.js';
import { SimScheduler } from '../../src/sim/scheduler.js';
import { logMatchingProblem } from '../../src/sim/checkers.js';
import { SegmentedLog } from '../../src/log/segmented-log.js';
import { makeBlindVoter, makeNoConsistencyCheck, makeWritesDuringTransfer } from '../support/broken-cores.js';
import { makeHastySessions, makeRevivingSessions } from '../support/broken-sessions.js';
import { makeForgetfulSnapshots } from '../support/broken-ledgers.js';

test('the same seed replays the same run, step for step', async () => {
  const first = await runSimulation({ ...defaultSimConfig, seed: 4242 });
  const second = await runSimulation({ ...defaultSimConfig, seed: 4242 });
  const other = await runSimulation({ ...defaultSimConfig, seed: 4243 });
  assert.equal(first.ok, true);
  assert.equal(second.traceHash, first.traceHash);
  assert.equal(second.steps, first.steps);
  assert.deepEqual(second.journal, first.journal);
  assert.equal(second.acknowledged, first.acknowledged);
  assert.notEqual(other.traceHash, first.traceHash);
});

/**
 * Runs seeds from 1 until one fails a checker (not merely an exception); returns that failure,
 * or null after `seedsMax`.
 */
async function firstFailure(config: Partial<SimConfig>, seedsMax: number): Promise<SimResult | null> {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const result = await runSimulation({ ...defaultSimConfig, ...config, seed });
    if (!result.ok && result.violations.some((violation) => violation.rule !== 'exception' && violation.rule !== 'runaway')) return result;
  }
  return null;
}

test('a core that accepts AppendEntries without the consistency check is caught within 40 seeds', async () => {
  const failure = await firstFailure({ makeCore: makeNoConsistencyCheck }, 40);
  assert.ok(failure !== null, 'no seed caught the missing consistency check');
  assert.ok(failure.violations.some((violation) => ['logMatching', 'stateMachineSafety', 'leaderCompleteness'].includes(violation.rule)),
    JSON.stringify(failure.violations));
});

test('a core that votes without the up-to-date check is caught within 40 seeds', async () => {
  const failure = await firstFailure({ makeCore: makeBlindVoter }, 40);
  assert.ok(failure !== null, 'no seed caught the blind voter');
  assert.ok(failure.violations.some((violation) => ['leaderCompleteness', 'stateMachineSafety', 'logMatching'].includes(violation.rule)),
    JSON.stringify(failure.violations));
});

test('a core that takes writes while it hands leadership over is caught within 40 seeds', async () => {
  const failure = await firstFailure({ makeCore: makeWritesDuringTransfer }, 40);
  assert.ok(failure !== null, 'no seed caught the writes during a transfer');
  assert.ok(failure.violations.some((violation) => violation.rule === 'writeDuringTransfer'), JSON.stringify(failure.violations));
});

test('a disk whose fsync makes nothing durable loses acknowledged writes, and a seed shows it within 40', async () => {
  const failure = await firstFailure({ lyingDisk: true }, 40);
  assert.ok(failure !== null, 'no seed caught the lying disk');
});

test('updaters that apply a write of a session they do not hold (reviving a forgotten one) are caught applying a late copy twice within 40 seeds', async () => {
  const failure = await firstFailure({ makeSessionTable: makeRevivingSessions }, 40);
  assert.ok(failure !== null, 'no seed caught the revived sessions');
  assert.ok(failure.violations.some((violation) => violation.rule === 'exactlyOnce'), JSON.stringify(failure.violations));
});

test('updaters that forget sessions before the bound are caught answering SESSION_EXPIRED early within 40 seeds', async () => {
  const failure = await firstFailure({ makeSessionTable: makeHastySessions }, 40);
  assert.ok(failure !== null, 'no seed caught the hasty expiry');
  assert.ok(failure.violations.some((violation) => violation.rule === 'sessionExpiredEarly'), JSON.stringify(failure.violations));
});

test('a state machine whose snapshots leave out the newest value is caught loading one (installed or at a restart) within 20 seeds', async () => {
  const failure = await firstFailure({ makeLedger: makeForgetfulSnapshots }, 20);
  assert.ok(failure !== null, 'no seed caught the forgetful snapshots');
  assert.ok(failure.violations.some((violation) => ['snapshotInstall', 'snapshotRestart'].includes(violation.rule)), JSON.stringify(failure.violations));
});

test('lease reads whose drift bound is too small for the clocks are caught serving a stale read within 40 seeds', async () => {
  // The leader's clock runs at a quarter of real time while it is cut off: with no drift allowed
  // its 900 ms lease lasts 3.6 s of real time, far past the voters' stickiness.
  const failure = await firstFailure({ readMode: 'lease', leaseDriftMs: 0, clockFaults: 'beyondDrift', readRatio: 0.5 }, 40);
  assert.ok(failure !== null, 'no seed caught the stale lease read');
  assert.ok(failure.violations.some((violation) => violation.rule === 'linearizableRead'), JSON.stringify(failure.violations));
});

test('under the same clock fault, a drift bound that covers it, or reads by heartbeat round, serve no stale read', async () => {
  let leaseReads = 0;
  for (let seed = 1; seed <= 12; seed++) {
    // A 200 ms lease: 800 ms of real time at a quarter rate, within the voters' 900 ms.
    const covered = await runSimulation({ ...defaultSimConfig, seed, readMode: 'lease', leaseDriftMs: 700, clockFaults: 'beyondDrift', readRatio: 0.5 });
    assert.ok(covered.ok, `lease seed ${seed}: ${JSON.stringify(covered.violations)}`);
    leaseReads += covered.leaseReads;
    const rounds = await runSimulation({ ...defaultSimConfig, seed, readMode: 'linearizable', clockFaults: 'beyondDrift', readRatio: 0.5 });
    assert.ok(rounds.ok, `ReadIndex seed ${seed}: ${JSON.stringify(rounds.violations)}`);
    assert.equal(rounds.leaseReads, 0);
  }
  assert.ok(leaseReads > 50, `only ${leaseReads} lease reads`);
});

test('virtual disk: a crash keeps synced data and names, and at most a prefix of what was not synced', () => {
  const scheduler = new SimScheduler(7);
  let tornSeen = false;
  let keptSeen = false;
  for (let round = 0; round < 200; round++) {
    const disk = new SimDisk();
    disk.mkdirSync('/d');
    const fd = disk.openSync('/d/f', 'wx+');
    disk.writeSync(fd, new Uint8Array([1, 2, 3, 4]), 0, 4, 0);
    disk.fsyncSync(fd);
    const dirFd = disk.openSync('/d', 'r');
    disk.fsyncSync(dirFd);
    disk.writeSync(fd, new Uint8Array([5, 6, 7, 8, 9, 10]), 0, 6, 4);
    disk.renameSync('/d/f', '/d/g');
    disk.crash(scheduler, 0.3, 0.5);
    const names = disk.readdirSync('/d');
    assert.equal(names.length, 1, `one name survives: ${names}`);
    const bytes = [...disk.readFileSync(`/d/${names[0]}`)];
    assert.deepEqual(bytes.slice(0, 4), [1, 2, 3, 4], 'synced bytes survive');
    assert.deepEqual(bytes.slice(4), [5, 6, 7, 8, 9, 10].slice(0, bytes.length - 4), 'only a prefix of the unsynced write');
    if (bytes.length > 4 && bytes.length < 10) tornSeen = true;
    if (bytes.length === 10) keptSeen = true;
  }
  assert.ok(tornSeen && keptSeen, 'crashes both tear and keep unsynced writes');
});

test('virtual disk: the segmented log recovers from a torn tail left by a crash', () => {
  const scheduler = new SimScheduler(11);
  let recoveredShorter = 0;
  for (let round = 0; round < 100; round++) {
    const disk = new SimDisk();
    const log = SegmentedLog.open('/log', { segmentSizeBytesMax: 1024, fileSystem: disk });
    for (let index = 1; index <= 20; index++) log.append([{ index, term: 1, payload: new Uint8Array(40).fill(index) }]);
    log.sync();
    log.append([21, 22, 23].map((index) => ({ index, term: 2, payload: new Uint8Array(40).fill(index) })));
    disk.crash(scheduler, 0, 1);
    const reopened = SegmentedLog.open('/log', { segmentSizeBytesMax: 1024, fileSystem: disk });
    assert.ok(reopened.lastIndex >= 20 && reopened.lastIndex <= 23, `last index ${reopened.lastIndex}`);
    if (reopened.lastIndex < 23) recoveredShorter++;
    const records = reopened.read(1, 100, 1 << 20);
    records.forEach((record, i) => assert.equal(record.payload[0], i + 1));
  }
  assert.ok(recoveredShorter > 0, 'some crash tore the unsynced batch');
});

test('log matching check: equal logs match, a differing prefix under a common entry does not', () => {
  assert.equal(logMatchingProblem([{ firstIndex: 1, term: 1 }, { firstIndex: 4, term: 2 }], 6,
    [{ firstIndex: 1, term: 1 }, { firstIndex: 4, term: 2 }, { firstIndex: 6, term: 3 }], 7), null);
  // Divergent suffixes are allowed (the follower's will be replaced).
  assert.equal(logMatchingProblem([{ firstIndex: 1, term: 1 }, { firstIndex: 3, term: 2 }], 5,
    [{ firstIndex: 1, term: 1 }, { firstIndex: 3, term: 3 }], 5), null);
  // Index 5 has term 3 in both, yet index 2 differs: log matching is broken.
  assert.notEqual(logMatchingProblem([{ firstIndex: 1, term: 1 }, { firstIndex: 5, term: 3 }], 5,
    [{ firstIndex: 1, term: 1 }, { firstIndex: 2, term: 2 }, { firstIndex: 5, term: 3 }], 5), null);
});
