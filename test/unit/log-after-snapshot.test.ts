/**
 * The log's side of snapshots, below the actors: the term view of a log that starts after a
 * snapshot (TermLog), the follower's consistency check on such a log (matchAndAppend skips what a
 * snapshot covers), the core's decisions on an installed snapshot, and the segmented log's purge
 * and reset (which file names survive a reopen, and what a reopened log holds).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TermLog } from '../../src/core/term-runs.js';
import { matchAndAppend } from '../../src/core/log-matching.js';
import { RaftCore } from '../../src/core/raft-core.js';
import type { AppendEntriesHeader, Rng } from '../../src/core/types.js';
import { SegmentedLog, type LogEntryRecord } from '../../src/log/segmented-log.js';
import { withTempDir } from '../support/temp-dir.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { LogActor } from '../../src/actors/log-actor.js';
import { ActorLink } from '../../src/shell/actor-link.js';
import { SnapshotStore } from '../../src/snapshot/snapshot-store.js';
import { SnapshotCorruptionError } from '../../src/errors.js';

async function withTempDirAsync(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-'));
  try {
    await body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const maxRng: Rng = { intBetween: (_min, max) => max };

function header(partial: Partial<AppendEntriesHeader>): AppendEntriesHeader {
  return { term: 3, leaderId: 'n2', prevIndex: 0, prevTerm: 0, leaderCommit: 0, entryTerms: [], ...partial };
}

test('a log that starts after a snapshot knows the snapshot\'s term and nothing before it', () => {
  const log = new TermLog([{ firstIndex: 100, term: 2 }], 100);
  assert.equal(log.firstKnownIndex, 100);
  assert.equal(log.termAt(100), 2);
  assert.equal(log.termAt(99), undefined);
  assert.equal(log.termAt(0), 0);
  assert.equal(log.lastTerm, 2);
  log.append(101, [2, 3]);
  assert.deepEqual(log.runs(), [{ firstIndex: 100, term: 2 }, { firstIndex: 102, term: 3 }]);
  log.resetTo(500, 4);
  assert.deepEqual(log.runs(), [{ firstIndex: 500, term: 4 }]);
  assert.equal(log.lastIndex, 500);
  assert.equal(log.firstKnownIndex, 500);
  assert.equal(new TermLog().firstKnownIndex, 1);
});

test('a request that begins inside the snapshot is matched from the snapshot on', () => {
  // Snapshot at 10 (term 2), entries 11..12 of term 2 after it.
  const log = new TermLog([{ firstIndex: 10, term: 2 }], 12);
  // prev 7, entries 8..14: 8..10 lie in the snapshot, 11..12 are held, 13..14 are new.
  const match = matchAndAppend(log, 10, header({ prevIndex: 7, prevTerm: 2, entryTerms: [2, 2, 2, 2, 2, 3, 3] }));
  assert.deepEqual(match, { kind: 'accept', truncateFrom: null, appendFrom: 5, matchIndex: 14 });
  assert.equal(log.lastIndex, 14);
  assert.equal(log.termAt(13), 3);
});

test('a request wholly inside the snapshot is acknowledged and changes nothing', () => {
  const log = new TermLog([{ firstIndex: 10, term: 2 }], 10);
  const match = matchAndAppend(log, 10, header({ prevIndex: 3, prevTerm: 1, entryTerms: [1, 2, 2] }));
  assert.deepEqual(match, { kind: 'accept', truncateFrom: null, appendFrom: 3, matchIndex: 6 });
  assert.equal(log.lastIndex, 10);
});

test('a conflicting suffix after the snapshot is truncated as usual, never the snapshot', () => {
  const log = new TermLog([{ firstIndex: 10, term: 2 }], 13);
  const match = matchAndAppend(log, 10, header({ prevIndex: 9, prevTerm: 2, entryTerms: [2, 2, 4] }));
  assert.deepEqual(match, { kind: 'accept', truncateFrom: 12, appendFrom: 2, matchIndex: 12 });
  assert.equal(log.termAt(12), 4);
  assert.equal(log.lastIndex, 12);
});

function follower(termRuns: { firstIndex: number; term: number }[], lastIndex: number, snapshot: { index: number; term: number } | null, term = 3): RaftCore {
  return new RaftCore({ id: 'n1', voters: ['n1', 'n2', 'n3'], electionTicksMin: 5, electionTicksMax: 10, rng: maxRng },
    { hardState: { term, votedFor: null }, termRuns, lastIndex, snapshot });
}

test('a restarted core counts its snapshot as committed', () => {
  const core = follower([{ firstIndex: 50, term: 2 }], 55, { index: 50, term: 2 });
  assert.equal(core.commitIndex, 50);
  assert.equal(core.firstKnownIndex, 50);
  assert.throws(() => follower([{ firstIndex: 51, term: 2 }], 55, { index: 50, term: 2 }), /does not hold the snapshot/);
});

test('install: a stale leader is refused with this term; the current one is followed', () => {
  const core = follower([{ firstIndex: 1, term: 1 }], 5, null, 4);
  assert.deepEqual(core.handleInstallSnapshot(3, 'n2'), { ok: false, term: 4 });
  assert.deepEqual(core.handleInstallSnapshot(5, 'n2'), { ok: true, term: 5 });
  assert.equal(core.leaderId, 'n2');
  assert.equal(core.role, 'follower');
});

test('install: a log holding the snapshot\'s last entry with its term is kept (§7)', () => {
  const core = follower([{ firstIndex: 1, term: 1 }, { firstIndex: 8, term: 2 }], 12, null);
  assert.deepEqual(core.onSnapshotInstalled(9, 2), { keepLog: true });
  assert.equal(core.commitIndex, 9);
  assert.equal(core.lastIndex, 12);
  assert.equal(core.termAt(11), 2);
});

test('install: a log that ends before the snapshot, or disagrees with it, restarts after it', () => {
  const short = follower([{ firstIndex: 1, term: 1 }], 4, null);
  assert.deepEqual(short.onSnapshotInstalled(20, 2), { keepLog: false });
  assert.equal(short.lastIndex, 20);
  assert.equal(short.commitIndex, 20);
  assert.equal(short.lastTerm, 2);
  assert.equal(short.termAt(19), undefined);
  const other = follower([{ firstIndex: 1, term: 1 }], 30, null);
  assert.deepEqual(other.onSnapshotInstalled(20, 2), { keepLog: false });
  assert.equal(other.lastIndex, 20);
  assert.equal(other.ready().commitIndex, 20);
});

function entries(from: number, to: number, term: number): LogEntryRecord[] {
  const out: LogEntryRecord[] = [];
  for (let index = from; index <= to; index++) out.push({ index, term, payload: new Uint8Array(60).fill(index & 0xff) });
  return out;
}

test('purge removes closed segments wholly at or below the point, oldest first, and a reopen starts there', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: 1024 });
    for (let index = 1; index <= 200; index += 10) log.append(entries(index, index + 9, 1));
    log.sync();
    const before = fs.readdirSync(dir).filter((name) => name.startsWith('log_')).length;
    const bytesBefore = log.bytes;
    const removed = log.purgeTo(120);
    assert.ok(removed > 0, 'something was purged');
    assert.ok(log.firstIndex <= 121 && log.firstIndex > 1, `first index ${log.firstIndex}`);
    assert.equal(log.firstIndex - 1, removed);
    assert.ok(log.bytes < bytesBefore);
    assert.ok(fs.readdirSync(dir).filter((name) => name.startsWith('log_')).length < before);
    assert.equal(log.purgeTo(10_000) > 0, true, 'every closed segment can go');
    assert.equal(log.lastIndex, 200, 'the open segment stays');
    const firstIndex = log.firstIndex;
    log.close();
    const reopened = SegmentedLog.open(dir, { segmentSizeBytesMax: 1024 });
    assert.equal(reopened.firstIndex, firstIndex);
    assert.equal(reopened.lastIndex, 200);
    if (firstIndex <= 200) assert.equal(reopened.read(firstIndex, 1, 1 << 20)[0]!.index, firstIndex);
    assert.equal(reopened.termAt(firstIndex - 1), undefined);
    reopened.append(entries(201, 201, 2));
    assert.equal(reopened.termAt(201), 2);
    reopened.close();
  });
});

test('reset drops every entry and restarts after the snapshot, durably', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: 1024 });
    for (let index = 1; index <= 60; index += 10) log.append(entries(index, index + 9, 1));
    log.sync();
    log.resetAfter(500, 3);
    assert.equal(log.firstIndex, 501);
    assert.equal(log.lastIndex, 500);
    assert.equal(log.syncedIndex, 500);
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.startsWith('log_')), ['log_inprogress_501']);
    log.append(entries(501, 503, 4));
    log.sync();
    log.close();
    const reopened = SegmentedLog.open(dir, { segmentSizeBytesMax: 1024 });
    assert.equal(reopened.firstIndex, 501);
    assert.equal(reopened.lastIndex, 503);
    assert.deepEqual(reopened.termRuns(), [{ firstIndex: 501, term: 4 }]);
    reopened.close();
  });
});

/** A log actor over `dir` (its group folder), its links to nowhere. */
function logActor(dir: string): { actor: LogActor; close(): void } {
  const channels = [new MessageChannel(), new MessageChannel(), new MessageChannel()];
  const actor = new LogActor({ dir, segmentBytesMax: 1024 }, {
    main: new ActorLink(channels[0]!.port2), updater: new ActorLink(channels[1]!.port1), appender: new ActorLink(channels[2]!.port2),
  });
  return { actor, close: () => { for (const channel of channels) { channel.port1.close(); channel.port2.close(); } } };
}

test('a log that starts after index 1 with no snapshot to cover the start is refused at start, naming the folder', async () => {
  await withTempDirAsync(async (dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: 1024 });
    for (let index = 1; index <= 100; index += 10) log.append(entries(index, index + 9, 1));
    log.sync();
    assert.ok(log.purgeTo(50) > 0);
    log.close();
    const { actor, close } = logActor(dir);
    try {
      await assert.rejects(actor.start(), (error: unknown) => error instanceof SnapshotCorruptionError && /starts at index \d+/.test(error.message)
        && error.code === 'SNAPSHOT_CORRUPTION');
    } finally {
      close();
    }
  });
});

test('at start a log that ends before the newest snapshot restarts after it; one that holds it is kept', async () => {
  await withTempDirAsync(async (dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: 1024 });
    log.append(entries(1, 30, 1));
    log.sync();
    log.close();
    const store = new SnapshotStore(path.join(dir, 'sm'));
    store.recover();
    const job = store.beginWrite({ index: 20, term: 1, configuration: { voters: ['n1'] } }, [{ name: 'state', chunks: [new Uint8Array([1, 2, 3])] }]);
    while (!job.step(1 << 20));
    let { actor, close } = logActor(dir);
    let recovered = await actor.start();
    assert.equal(recovered.logReset, false, 'the log holds entry 20 of term 1');
    assert.equal(recovered.snapshot?.index, 20);
    assert.equal(recovered.lastIndex, 30);
    await actor.stop();
    close();
    const later = store.beginWrite({ index: 50, term: 2, configuration: { voters: ['n1'] } }, [{ name: 'state', chunks: [new Uint8Array([4])] }]);
    while (!later.step(1 << 20));
    ({ actor, close } = logActor(dir));
    recovered = await actor.start();
    assert.equal(recovered.logReset, true, 'the log ends before 50');
    assert.equal(recovered.lastIndex, 50);
    assert.deepEqual(recovered.termRuns, [{ firstIndex: 50, term: 2 }]);
    assert.equal(recovered.firstIndex, 51);
    await actor.stop();
    close();
  });
});
