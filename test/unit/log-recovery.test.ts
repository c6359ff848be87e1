/**
 * Recovery of the segmented log at open: a torn tail, cut at every byte offset of the last three
 * records, is cut back to the last whole record and the log goes on; damage before the tail, in
 * the last segment or in a closed one, and a missing segment refuse to open with a
 * LogCorruptionError that names the file and the byte offset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogCorruptionError } from '../../src/errors.js';
import { SegmentedLog, type LogEntryRecord } from '../../src/log/segmented-log.js';
import { RECORD_OVERHEAD_BYTES } from '../../src/log/log-record.js';

const OPTIONS = { segmentSizeBytesMax: 300 };
const ENTRY_COUNT = 20;

function makeEntry(index: number, salt = 0): LogEntryRecord {
  const payload = new Uint8Array(((index * 29 + salt) % 61) + 1);
  for (let k = 0; k < payload.length; k++) payload[k] = (index * 13 + k * 5 + salt) & 0xff;
  return { index, term: index <= 12 ? 2 : 3, payload };
}

function assertEntriesEqual(actual: readonly LogEntryRecord[], expected: readonly LogEntryRecord[]): void {
  assert.deepEqual(
    actual.map((entry) => [entry.index, entry.term, Buffer.from(entry.payload).toString('hex')]),
    expected.map((entry) => [entry.index, entry.term, Buffer.from(entry.payload).toString('hex')]),
  );
}

interface Fixture {
  root: string;
  dir: string;
  written: LogEntryRecord[];
  /** Segment file names in index order, as left by the writer. */
  files: string[];
  /** Byte offset of each entry in its segment file, by index. */
  offsetOf: Map<number, number>;
  /** First index of each segment file. */
  firstOf: Map<string, number>;
}

/** Writes ENTRY_COUNT entries, one append each so the segments roll at record boundaries. */
function writeFixture(): Fixture {
  const root = fs.mkdtempSync(os.tmpdir() + '/raftline-');
  const dir = path.join(root, 'log');
  const log = SegmentedLog.open(dir, OPTIONS);
  const written: LogEntryRecord[] = [];
  for (let index = 1; index <= ENTRY_COUNT; index++) {
    written.push(makeEntry(index));
    log.append([makeEntry(index)]);
  }
  log.sync();
  log.close();
  const firstOf = new Map<string, number>();
  for (const name of fs.readdirSync(dir)) firstOf.set(name, Number(/(\d+)/.exec(name)![1]));
  const files = [...firstOf.keys()].sort((a, b) => firstOf.get(a)! - firstOf.get(b)!);
  const offsetOf = new Map<number, number>();
  for (const name of files) {
    let offset = 0;
    for (const entry of written.filter((e) => e.index >= firstOf.get(name)!)) {
      if (offset >= fs.statSync(path.join(dir, name)).size) break;
      offsetOf.set(entry.index, offset);
      offset += RECORD_OVERHEAD_BYTES + entry.payload.length;
    }
  }
  return { root, dir, written, files, offsetOf, firstOf };
}

function copyOf(fixture: Fixture, name: string): string {
  const copy = path.join(fixture.root, name);
  fs.rmSync(copy, { recursive: true, force: true });
  fs.cpSync(fixture.dir, copy, { recursive: true });
  return copy;
}

function flipByte(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] = bytes[offset]! ^ 0x40;
  fs.writeFileSync(file, bytes);
}

function assertCorruptionAt(dir: string, file: string, offset: number): void {
  assert.throws(
    () => SegmentedLog.open(dir, OPTIONS),
    (error: unknown) => {
      assert.ok(error instanceof LogCorruptionError, String(error));
      assert.ok(error.message.includes(path.basename(file)), error.message);
      assert.ok(error.message.includes(`offset ${offset}`), error.message);
      assert.equal(error.details['offset'], offset);
      assert.equal(error.details['file'], file);
      return true;
    },
  );
}

test('the fixture spans several segments with at least three records in the last', () => {
  const fixture = writeFixture();
  try {
    assert.ok(fixture.files.length >= 3, fixture.files.join(' '));
    assert.match(fixture.files[fixture.files.length - 1]!, /^log_inprogress_\d+$/);
    assert.ok(ENTRY_COUNT - fixture.firstOf.get(fixture.files[fixture.files.length - 1]!)! + 1 >= 3);
  } finally {
    fs.rmSync(fixture.root, { recursive: true, force: true });
  }
});

test('a torn tail at every byte offset of the last three records is cut at the last whole record', () => {
  const fixture = writeFixture();
  try {
    const lastFile = fixture.files[fixture.files.length - 1]!;
    const fileSize = fs.statSync(path.join(fixture.dir, lastFile)).size;
    const from = fixture.offsetOf.get(ENTRY_COUNT - 2)!;
    for (let cut = from; cut <= fileSize; cut++) {
      const dir = copyOf(fixture, 'torn');
      fs.truncateSync(path.join(dir, lastFile), cut);
      // The last entry wholly before the cut.
      let expectedLast = ENTRY_COUNT - 3;
      while (expectedLast < ENTRY_COUNT && fixture.offsetOf.get(expectedLast + 1)! + RECORD_OVERHEAD_BYTES + fixture.written[expectedLast]!.payload.length <= cut) {
        expectedLast++;
      }
      const log = SegmentedLog.open(dir, OPTIONS);
      assert.equal(log.lastIndex, expectedLast, `cut at ${cut}`);
      assert.equal(log.syncedIndex, expectedLast);
      assert.equal(fs.statSync(path.join(dir, lastFile)).size, fixture.offsetOf.get(expectedLast + 1) ?? fileSize);
      assertEntriesEqual(log.read(1, 100, Infinity), fixture.written.slice(0, expectedLast));
      const more = [makeEntry(expectedLast + 1, 7), makeEntry(expectedLast + 2, 7)];
      log.append(more);
      assert.equal(log.sync(), expectedLast + 2);
      log.close();
      const reopened = SegmentedLog.open(dir, OPTIONS);
      assert.equal(reopened.lastIndex, expectedLast + 2);
      assertEntriesEqual(reopened.read(1, 100, Infinity), [...fixture.written.slice(0, expectedLast), ...more]);
      reopened.close();
    }
  } finally {
    fs.rmSync(fixture.root, { recursive: true, force: true });
  }
});

test('a damaged last record or garbage after the last record is a torn tail', () => {
  const fixture = writeFixture();
  try {
    const lastFile = fixture.files[fixture.files.length - 1]!;
    let dir = copyOf(fixture, 'damaged-last');
    flipByte(path.join(dir, lastFile), fixture.offsetOf.get(ENTRY_COUNT)! + RECORD_OVERHEAD_BYTES);
    let log = SegmentedLog.open(dir, OPTIONS);
    assert.equal(log.lastIndex, ENTRY_COUNT - 1);
    // The cut is reported: where, why, and the entry it dropped.
    assert.deepEqual(log.tailCut, {
      file: path.join(dir, lastFile), offset: fixture.offsetOf.get(ENTRY_COUNT)!, reason: 'checksum mismatch',
      bytes: RECORD_OVERHEAD_BYTES + fixture.written[ENTRY_COUNT - 1]!.payload.length, firstIndex: ENTRY_COUNT, lastIndex: ENTRY_COUNT,
    });
    log.close();
    log = SegmentedLog.open(dir, OPTIONS);
    assert.equal(log.tailCut, null, 'once cut, the next start finds nothing to cut');
    log.close();

    // Zeros past the last record are the open segment's preallocation: cut, but nothing is reported.
    for (const [garbage, reported] of [[Buffer.alloc(100), false], [Buffer.from('not a record at all, just bytes', 'ascii'), true]] as const) {
      dir = copyOf(fixture, 'garbage');
      fs.appendFileSync(path.join(dir, lastFile), garbage);
      log = SegmentedLog.open(dir, OPTIONS);
      assert.equal(log.lastIndex, ENTRY_COUNT);
      assert.equal(fs.statSync(path.join(dir, lastFile)).size, fs.statSync(path.join(fixture.dir, lastFile)).size);
      assertEntriesEqual(log.read(1, 100, Infinity), fixture.written);
      assert.deepEqual(log.tailCut === null ? null : [log.tailCut.firstIndex, log.tailCut.lastIndex, log.tailCut.bytes],
        reported ? [ENTRY_COUNT + 1, ENTRY_COUNT + 1, garbage.length] : null);
      log.close();
    }

    // A write torn inside the second of two records: both headers still read, both entries reported.
    dir = copyOf(fixture, 'torn-two');
    const lastSize = fs.statSync(path.join(dir, lastFile)).size;
    fs.truncateSync(path.join(dir, lastFile), lastSize - 1);
    fs.appendFileSync(path.join(dir, lastFile), Buffer.alloc(4096));
    const bytes = fs.readFileSync(path.join(dir, lastFile));
    bytes[fixture.offsetOf.get(ENTRY_COUNT - 1)! + RECORD_OVERHEAD_BYTES] ^= 0x01;
    fs.writeFileSync(path.join(dir, lastFile), bytes);
    log = SegmentedLog.open(dir, OPTIONS);
    assert.equal(log.lastIndex, ENTRY_COUNT - 2);
    assert.deepEqual(log.tailCut && [log.tailCut.offset, log.tailCut.firstIndex, log.tailCut.lastIndex, log.tailCut.bytes],
      [fixture.offsetOf.get(ENTRY_COUNT - 1)!, ENTRY_COUNT - 1, ENTRY_COUNT, lastSize - 1 - fixture.offsetOf.get(ENTRY_COUNT - 1)!]);
    log.close();
  } finally {
    fs.rmSync(fixture.root, { recursive: true, force: true });
  }
});

test('a torn closed last segment is cut and becomes the in-progress segment', () => {
  const fixture = writeFixture();
  try {
    const dir = copyOf(fixture, 'closed-torn');
    const lastFile = fixture.files[fixture.files.length - 1]!;
    const closedFile = fixture.files[fixture.files.length - 2]!;
    fs.unlinkSync(path.join(dir, lastFile));
    const closedFirst = fixture.firstOf.get(closedFile)!;
    const lastInClosed = fixture.firstOf.get(lastFile)! - 1;
    fs.truncateSync(path.join(dir, closedFile), fixture.offsetOf.get(lastInClosed)! + 3);
    const log = SegmentedLog.open(dir, OPTIONS);
    assert.equal(log.lastIndex, lastInClosed - 1);
    assert.ok(fs.existsSync(path.join(dir, `log_inprogress_${closedFirst}`)));
    assert.ok(!fs.existsSync(path.join(dir, closedFile)));
    log.append([makeEntry(lastInClosed, 4)]);
    log.close();
    const reopened = SegmentedLog.open(dir, OPTIONS);
    assertEntriesEqual(reopened.read(1, 100, Infinity), [...fixture.written.slice(0, lastInClosed - 1), makeEntry(lastInClosed, 4)]);
    reopened.close();
  } finally {
    fs.rmSync(fixture.root, { recursive: true, force: true });
  }
});

test('damage before the tail of the last segment refuses to open, naming file and offset', () => {
  const fixture = writeFixture();
  try {
    const lastFile = fixture.files[fixture.files.length - 1]!;
    const victim = ENTRY_COUNT - 2;
    const recordOffset = fixture.offsetOf.get(victim)!;
    // In the payload, in the term, in the length word: each is caught at the record's offset.
    for (const within of [RECORD_OVERHEAD_BYTES, 16, 2, 6]) {
      const dir = copyOf(fixture, `middle-${within}`);
      const file = path.join(dir, lastFile);
      flipByte(file, recordOffset + within);
      assertCorruptionAt(dir, file, recordOffset);
    }
  } finally {
    fs.rmSync(fixture.root, { recursive: true, force: true });
  }
});

test('damage anywhere in a closed segment that is not the last refuses to open', () => {
  const fixture = writeFixture();
  try {
    const closedFile = fixture.files[0]!;
    const lastInClosed = fixture.firstOf.get(fixture.files[1]!)! - 1;
    for (const victim of [1, lastInClosed]) {
      const dir = copyOf(fixture, `closed-${victim}`);
      const file = path.join(dir, closedFile);
      flipByte(file, fixture.offsetOf.get(victim)! + RECORD_OVERHEAD_BYTES);
      assertCorruptionAt(dir, file, fixture.offsetOf.get(victim)!);
    }
    // A closed segment cut short (not the last one) holds fewer records than its name says.
    const dir = copyOf(fixture, 'closed-short');
    const file = path.join(dir, closedFile);
    fs.truncateSync(file, fixture.offsetOf.get(lastInClosed)!);
    assertCorruptionAt(dir, file, fixture.offsetOf.get(lastInClosed)!);
  } finally {
    fs.rmSync(fixture.root, { recursive: true, force: true });
  }
});

test('a missing segment is a gap in the indexes and refuses to open', () => {
  const fixture = writeFixture();
  try {
    const dir = copyOf(fixture, 'gap');
    fs.unlinkSync(path.join(dir, fixture.files[1]!));
    assertCorruptionAt(dir, path.join(dir, fixture.files[2]!), 0);
  } finally {
    fs.rmSync(fixture.root, { recursive: true, force: true });
  }
});

test('a whole in-progress segment that is not the last is given its closed name', () => {
  const fixture = writeFixture();
  try {
    const dir = copyOf(fixture, 'two-in-progress');
    const closedFile = fixture.files[fixture.files.length - 2]!;
    const first = fixture.firstOf.get(closedFile)!;
    fs.renameSync(path.join(dir, closedFile), path.join(dir, `log_inprogress_${first}`));
    const log = SegmentedLog.open(dir, OPTIONS);
    assert.equal(log.lastIndex, ENTRY_COUNT);
    assert.ok(fs.existsSync(path.join(dir, closedFile)));
    assert.ok(!fs.existsSync(path.join(dir, `log_inprogress_${first}`)));
    assertEntriesEqual(log.read(1, 100, Infinity), fixture.written);
    log.close();

    // Not whole: a torn in-progress segment followed by another segment is corruption.
    const torn = copyOf(fixture, 'two-in-progress-torn');
    const tornFile = path.join(torn, `log_inprogress_${first}`);
    fs.renameSync(path.join(torn, closedFile), tornFile);
    const lastInClosed = fixture.firstOf.get(fixture.files[fixture.files.length - 1]!)! - 1;
    fs.truncateSync(tornFile, fixture.offsetOf.get(lastInClosed)! + 5);
    assertCorruptionAt(torn, tornFile, fixture.offsetOf.get(lastInClosed)!);
  } finally {
    fs.rmSync(fixture.root, { recursive: true, force: true });
  }
});
