/**
 * The segmented log store on real files: append, group sync, rolling into several segments,
 * terms as runs, reads from the cache and from disk, truncation in a closed and in the open
 * segment, and that every one of these survives closing and reopening the directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LogCorruptionError } from '../../src/errors.js';
import { SegmentedLog, type LogEntryRecord } from '../../src/log/segmented-log.js';
import { RECORD_OVERHEAD_BYTES } from '../../src/log/log-record.js';
import { withTempDir } from '../support/temp-dir.js';

const SEGMENT_BYTES = 4096;

/** Term of index i in the reference log: 1 up to 50, 2 up to 120, 5 after. */
function referenceTerm(index: number): number {
  return index <= 50 ? 1 : index <= 120 ? 2 : 5;
}

function makeEntry(index: number, term: number, salt = 0): LogEntryRecord {
  const payload = new Uint8Array(((index * 37 + salt) % 150) + 1);
  for (let k = 0; k < payload.length; k++) payload[k] = (index * 7 + k + salt) & 0xff;
  return { index, term, payload };
}

function appendRange(log: SegmentedLog, from: number, to: number, termOf: (index: number) => number, salt = 0): LogEntryRecord[] {
  const written: LogEntryRecord[] = [];
  for (let index = from; index <= to; index += 7) {
    const batch: LogEntryRecord[] = [];
    for (let i = index; i <= Math.min(to, index + 6); i++) batch.push(makeEntry(i, termOf(i), salt));
    log.append(batch);
    written.push(...batch);
  }
  return written;
}

function assertEntriesEqual(actual: readonly LogEntryRecord[], expected: readonly LogEntryRecord[]): void {
  assert.equal(actual.length, expected.length, 'entry count');
  for (let k = 0; k < expected.length; k++) {
    assert.equal(actual[k]!.index, expected[k]!.index);
    assert.equal(actual[k]!.term, expected[k]!.term, `term of ${expected[k]!.index}`);
    assert.deepEqual(Buffer.from(actual[k]!.payload), Buffer.from(expected[k]!.payload), `payload of ${expected[k]!.index}`);
  }
}

/** Segment file names sorted by first index, and a check that they continue one another. */
function segmentFiles(dir: string): string[] {
  const names = fs.readdirSync(dir).filter((name) => name.startsWith('log_'));
  const first = (name: string): number => Number(/(\d+)/.exec(name)![1]);
  return names.sort((a, b) => first(a) - first(b));
}

test('a new log is empty and starts an in-progress segment at index 1', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(path.join(dir, 'nested', 'group'), { segmentSizeBytesMax: SEGMENT_BYTES });
    assert.equal(log.firstIndex, 1);
    assert.equal(log.lastIndex, 0);
    assert.equal(log.syncedIndex, 0);
    assert.equal(log.termAt(0), 0);
    assert.equal(log.termAt(1), undefined);
    assert.deepEqual(log.termRuns(), []);
    assert.deepEqual(log.read(1, 10, 1000), []);
    assert.equal(log.sync(), 0);
    log.close();
    assert.deepEqual(segmentFiles(path.join(dir, 'nested', 'group')), ['log_inprogress_1']);
  });
});

test('append, sync and reopen round trip over several segments', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    const written = appendRange(log, 1, 200, referenceTerm);
    assert.equal(log.lastIndex, 200);
    assert.ok(log.syncedIndex < 200, 'the open segment is not synced before sync()');
    assert.equal(log.sync(), 200);
    assert.equal(log.syncedIndex, 200);
    const expectedRuns = [{ firstIndex: 1, term: 1 }, { firstIndex: 51, term: 2 }, { firstIndex: 121, term: 5 }];
    assert.deepEqual(log.termRuns(), expectedRuns);
    assertEntriesEqual(log.read(1, 1000, Infinity), written);
    log.close();

    const files = segmentFiles(dir);
    assert.ok(files.length >= 4, `several segments: ${files.join(' ')}`);
    let next = 1;
    for (const [position, name] of files.entries()) {
      const closed = /^log_(\d+)-(\d+)$/.exec(name);
      if (position < files.length - 1) {
        assert.ok(closed, `${name} is closed`);
        assert.equal(Number(closed[1]), next);
        next = Number(closed[2]) + 1;
        assert.ok(fs.statSync(path.join(dir, name)).size > SEGMENT_BYTES, `${name} rolled only once past the limit`);
      } else {
        assert.equal(name, `log_inprogress_${next}`);
      }
    }

    const reopened = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    assert.equal(reopened.lastIndex, 200);
    assert.equal(reopened.syncedIndex, 200);
    assert.deepEqual(reopened.termRuns(), expectedRuns);
    for (const index of [1, 50, 51, 120, 121, 200]) assert.equal(reopened.termAt(index), referenceTerm(index));
    assert.equal(reopened.termAt(201), undefined);
    // Nothing is cached after a reopen: these come from disk, across segment boundaries.
    assertEntriesEqual(reopened.read(1, 1000, Infinity), written);
    assertEntriesEqual(reopened.read(17, 60, Infinity), written.slice(16, 76));
    reopened.close();
  });
});

test('read respects maxCount and maxBytes but returns at least one entry', () => {
  withTempDir((dir) => {
    for (const readCacheBytesMax of [0, 1 << 20]) {
      const log = SegmentedLog.open(path.join(dir, String(readCacheBytesMax)), { segmentSizeBytesMax: SEGMENT_BYTES, readCacheBytesMax });
      const written = appendRange(log, 1, 120, referenceTerm);
      assertEntriesEqual(log.read(30, 5, Infinity), written.slice(29, 34));
      assertEntriesEqual(log.read(30, 1000, 0), written.slice(29, 30));
      const budget = written[29]!.payload.length + written[30]!.payload.length;
      assertEntriesEqual(log.read(30, 1000, budget), written.slice(29, 31));
      assertEntriesEqual(log.read(30, 1000, budget + written[31]!.payload.length - 1), written.slice(29, 31));
      assertEntriesEqual(log.read(118, 1000, Infinity), written.slice(117));
      assert.deepEqual(log.read(121, 10, Infinity), []);
      log.close();
    }
  });
});

test('append refuses a gap and a decreasing term', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    log.append([makeEntry(1, 3)]);
    assert.throws(() => log.append([makeEntry(3, 3)]), /index 3, expected 2/);
    assert.throws(() => log.append([makeEntry(2, 2)]), /term 2 below 3/);
    assert.equal(log.lastIndex, 1);
    log.close();
  });
});

test('truncateFrom in the middle of a closed segment reopens it as the in-progress one', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    const written = appendRange(log, 1, 200, referenceTerm);
    log.sync();
    const closed = segmentFiles(dir).map((name) => /^log_(\d+)-(\d+)$/.exec(name)).filter((m) => m !== null);
    const middle = closed[1]!;
    const first = Number(middle[1]);
    const cut = Math.floor((first + Number(middle[2])) / 2);
    log.truncateFrom(cut);
    assert.equal(log.lastIndex, cut - 1);
    assert.equal(log.syncedIndex, cut - 1);
    assert.deepEqual(segmentFiles(dir).slice(-1), [`log_inprogress_${first}`]);
    assert.equal(segmentFiles(dir).length, 2);
    assert.deepEqual(log.termRuns(), [{ firstIndex: 1, term: 1 }, { firstIndex: 51, term: 2 }].filter((run) => run.firstIndex < cut));
    assert.equal(log.termAt(cut), undefined);

    const rewritten = appendRange(log, cut, cut + 60, () => 9, 11);
    log.sync();
    const expected = [...written.slice(0, cut - 1), ...rewritten];
    assertEntriesEqual(log.read(1, 1000, Infinity), expected);
    log.close();

    const reopened = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    assert.equal(reopened.lastIndex, cut + 60);
    assert.equal(reopened.termAt(cut), 9);
    assert.equal(reopened.termAt(cut - 1), referenceTerm(cut - 1));
    assertEntriesEqual(reopened.read(1, 1000, Infinity), expected);
    reopened.close();
  });
});

test('truncateFrom in the open segment, at a segment start, and of everything', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    const written = appendRange(log, 1, 200, referenceTerm);
    const openFirst = Number(/(\d+)$/.exec(segmentFiles(dir).slice(-1)[0]!)![1]);
    assert.ok(openFirst < 199);
    log.truncateFrom(199);
    assert.equal(log.lastIndex, 198);
    assert.equal(segmentFiles(dir).slice(-1)[0], `log_inprogress_${openFirst}`);
    assertEntriesEqual(log.read(openFirst, 1000, Infinity), written.slice(openFirst - 1, 198));
    // At the first index of the open segment: it stays, empty.
    log.truncateFrom(openFirst);
    assert.equal(log.lastIndex, openFirst - 1);
    assert.equal(fs.statSync(path.join(dir, `log_inprogress_${openFirst}`)).size, 0);
    const rewritten = appendRange(log, openFirst, openFirst + 3, () => 6, 5);
    log.close();

    let reopened = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    assertEntriesEqual(reopened.read(1, 1000, Infinity), [...written.slice(0, openFirst - 1), ...rewritten]);
    reopened.truncateFrom(1);
    assert.equal(reopened.lastIndex, 0);
    assert.deepEqual(reopened.termRuns(), []);
    assert.deepEqual(segmentFiles(dir), ['log_inprogress_1']);
    const fresh = appendRange(reopened, 1, 10, () => 7, 3);
    reopened.sync();
    reopened.close();

    reopened = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    assertEntriesEqual(reopened.read(1, 1000, Infinity), fresh);
    assert.deepEqual(reopened.termRuns(), [{ firstIndex: 1, term: 7 }]);
    reopened.close();
  });
});

test('a closed last segment with no in-progress one after it gets a new in-progress segment', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    const written = appendRange(log, 1, 200, referenceTerm);
    log.sync();
    log.close();
    const files = segmentFiles(dir);
    // A crash after the roll's rename, before the new file was created: remove the open segment.
    const lastClosed = /^log_(\d+)-(\d+)$/.exec(files[files.length - 2]!)!;
    fs.unlinkSync(path.join(dir, files[files.length - 1]!));
    const reopened = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    const last = Number(lastClosed[2]);
    assert.equal(reopened.lastIndex, last);
    assert.ok(fs.existsSync(path.join(dir, `log_inprogress_${last + 1}`)));
    const more = appendRange(reopened, last + 1, last + 5, () => 8);
    reopened.close();
    const again = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES });
    assertEntriesEqual(again.read(1, 1000, Infinity), [...written.slice(0, last), ...more]);
    again.close();
  });
});

test('a record damaged after open is caught by its checksum when read from disk', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: SEGMENT_BYTES, readCacheBytesMax: 0 });
    const written = appendRange(log, 1, 30, referenceTerm);
    log.sync();
    const file = path.join(dir, segmentFiles(dir)[0]!);
    const bytes = fs.readFileSync(file);
    // Entry 3 starts after the records of entries 1 and 2 (24 bytes of framing each).
    const offset = 2 * 24 + written[0]!.payload.length + written[1]!.payload.length;
    bytes[offset + 30] = bytes[offset + 30]! ^ 0xff;
    fs.writeFileSync(file, bytes);
    assertEntriesEqual(log.read(1, 2, Infinity), written.slice(0, 2));
    assert.throws(
      () => log.read(1, 5, Infinity),
      (error: unknown) => error instanceof LogCorruptionError && error.details['offset'] === offset && error.details['file'] === file,
    );
    log.close();
  });
});

test('sync is one step for many appends and does nothing when nothing is pending', () => {
  withTempDir((dir) => {
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: 1 << 20 });
    for (let index = 1; index <= 50; index++) log.append([makeEntry(index, 1)]);
    assert.equal(log.syncedIndex, 0);
    assert.equal(log.sync(), 50);
    assert.equal(log.sync(), 50);
    log.append([makeEntry(51, 2)]);
    assert.equal(log.syncedIndex, 50);
    assert.equal(log.sync(), 51);
    log.close();
    assert.throws(() => log.append([makeEntry(52, 2)]), /closed/);
  });
});

test('reads agree with what was written whatever the cache holds, across truncations', () => {
  withTempDir((dir) => {
    for (const readCacheBytesMax of [0, 700, 1 << 20]) {
      const log = SegmentedLog.open(path.join(dir, String(readCacheBytesMax)), { segmentSizeBytesMax: SEGMENT_BYTES, readCacheBytesMax });
      let expected = appendRange(log, 1, 200, referenceTerm);
      for (const [cut, term] of [[190, 6], [150, 7], [60, 8]] as const) {
        log.truncateFrom(cut);
        expected = [...expected.slice(0, cut - 1), ...appendRange(log, cut, cut + 20, () => term, cut)];
        for (const from of [1, cut - 5, cut, cut + 10, cut + 20]) {
          assertEntriesEqual(log.read(from, 1000, Infinity), expected.slice(from - 1));
        }
      }
      assert.equal(log.lastIndex, 80);
      log.close();
    }
  });
});

test('reads and truncations across closed segments agree with what was written, whatever the scan chunk size', () => {
  withTempDir((dir) => {
    // Chunks smaller than a record, about one record, a few records, and the default.
    for (const scanChunkBytes of [8, 100, 500, undefined]) {
      const sub = path.join(dir, String(scanChunkBytes));
      const options = { segmentSizeBytesMax: SEGMENT_BYTES, readCacheBytesMax: 0, ...(scanChunkBytes === undefined ? {} : { scanChunkBytes }) };
      const log = SegmentedLog.open(sub, options);
      let expected = appendRange(log, 1, 300, referenceTerm);
      log.sync();
      // Reads that start inside several closed segments, and one that spans all of them.
      for (const from of [1, 2, 37, 99, 150, 151, 222, 299, 300]) {
        assertEntriesEqual(log.read(from, 25, Infinity), expected.slice(from - 1, from - 1 + 25));
      }
      assertEntriesEqual(log.read(1, 1000, Infinity), expected);
      // A truncation into a closed segment other than the one read last.
      log.truncateFrom(40);
      expected = [...expected.slice(0, 39), ...appendRange(log, 40, 90, () => 9, 3)];
      log.sync();
      assertEntriesEqual(log.read(1, 1000, Infinity), expected);
      log.close();
      // After reopening, the closed segments are scanned again, from their files.
      const reopened = SegmentedLog.open(sub, options);
      for (const from of [1, 39, 40, 41, 90]) assertEntriesEqual(reopened.read(from, 1000, Infinity), expected.slice(from - 1));
      reopened.close();
    }
  });
});

test('closed segments of several thousand records: reads from every anchor range, and a truncation past the first anchor', () => {
  withTempDir((dir) => {
    // Records of 25-32 bytes (1-8 byte payloads): a 100 kB segment holds over 3,000 of them, so
    // reads start after anchors other than the first (one every 1,024 records).
    const small = (index: number, term: number, salt = 0): LogEntryRecord => {
      const payload = new Uint8Array((index + salt) % 8 + 1).fill((index * 13 + salt) & 0xff);
      return { index, term, payload };
    };
    const appendSmall = (log: SegmentedLog, from: number, to: number, term: number, salt = 0): LogEntryRecord[] => {
      const written: LogEntryRecord[] = [];
      for (let index = from; index <= to; index += 100) {
        const batch: LogEntryRecord[] = [];
        for (let i = index; i <= Math.min(to, index + 99); i++) batch.push(small(i, term, salt));
        log.append(batch);
        written.push(...batch);
      }
      return written;
    };
    for (const scanChunkBytes of [8, 1000, undefined]) {
      const sub = path.join(dir, String(scanChunkBytes));
      const options = { segmentSizeBytesMax: 100_000, readCacheBytesMax: 0, ...(scanChunkBytes === undefined ? {} : { scanChunkBytes }) };
      const log = SegmentedLog.open(sub, options);
      let expected = appendSmall(log, 1, 12_000, 1);
      log.sync();
      assert.ok(segmentFiles(sub).length >= 3, 'several segments');
      for (const from of [1, 1023, 1024, 1025, 2047, 2048, 3000, 3500, 5001, 7777, 11_999, 12_000]) {
        assertEntriesEqual(log.read(from, 40, Infinity), expected.slice(from - 1, from - 1 + 40));
      }
      // Byte-bounded reads stop at the bound, at least one entry.
      const bounded = log.read(2500, 1000, 50);
      assert.ok(bounded.length >= 1 && bounded.reduce((sum, entry) => sum + entry.payload.length, 0) <= Math.max(50, bounded[0]!.payload.length));
      assertEntriesEqual(bounded, expected.slice(2499, 2499 + bounded.length));
      // Truncate inside the first (closed) segment, past its second anchor.
      log.truncateFrom(2100);
      // Then enough to close it again and roll into new segments.
      expected = [...expected.slice(0, 2099), ...appendSmall(log, 2100, 9000, 2, 5)];
      log.sync();
      for (const from of [1, 1100, 2099, 2100, 2600, 8999]) assertEntriesEqual(log.read(from, 3000, Infinity), expected.slice(from - 1, from - 1 + 3000));
      log.close();
      // Reopened, the closed segments' anchors come from recovery.
      const reopened = SegmentedLog.open(sub, options);
      for (const from of [1, 1025, 2050, 2101, 4100, 6200, 9000]) assertEntriesEqual(reopened.read(from, 3000, Infinity), expected.slice(from - 1, from - 1 + 3000));
      reopened.close();
    }
  });
});

test('the open segment runs ahead of its records with zeros; a crash leaves them, reopening cuts them, closed segments hold exactly their records', () => {
  withTempDir((dir) => {
    const preallocateBytes = 8192;
    const recordBytes = (entries: readonly LogEntryRecord[]): number =>
      entries.reduce((sum, entry) => sum + RECORD_OVERHEAD_BYTES + entry.payload.length, 0);
    const log = SegmentedLog.open(dir, { segmentSizeBytesMax: 64 * 1024, preallocateBytes });
    const written = appendRange(log, 1, 30, referenceTerm);
    log.sync();
    const open = path.join(dir, 'log_inprogress_1');
    const size = fs.statSync(open).size;
    // Extended by a step whenever the records come within half a step of the end.
    assert.ok(size >= recordBytes(written) + preallocateBytes / 2 && size <= recordBytes(written) + preallocateBytes,
      `${size} bytes for ${recordBytes(written)} bytes of records`);
    assert.ok(fs.readFileSync(open).subarray(recordBytes(written)).every((byte) => byte === 0));
    // Appends that stay more than half a step from the end do not grow the file; else it grows by a step.
    const more = appendRange(log, 31, 32, referenceTerm);
    log.sync();
    const end = recordBytes([...written, ...more]);
    assert.equal(fs.statSync(open).size, end + preallocateBytes / 2 < size ? size : end + preallocateBytes);
    // A crash: the log is not closed. The next open finds the records and cuts the zeros.
    const reopened = SegmentedLog.open(dir, { segmentSizeBytesMax: 64 * 1024, preallocateBytes });
    assert.equal(reopened.lastIndex, 32);
    assert.equal(fs.statSync(open).size, recordBytes([...written, ...more]));
    assertEntriesEqual(reopened.read(1, 100, Infinity), [...written, ...more]);
    // Writes after the cut preallocate again, and a roll leaves the closed segment at its records.
    const rest = appendRange(reopened, 33, 900, referenceTerm);
    reopened.sync();
    const files = segmentFiles(dir);
    assert.ok(files.length >= 2, files.join(' '));
    let index = 1;
    const all = [...written, ...more, ...rest];
    for (const name of files.slice(0, -1)) {
      const last = Number(/-(\d+)$/.exec(name)![1]);
      assert.equal(fs.statSync(path.join(dir, name)).size, recordBytes(all.slice(index - 1, last)), `${name} holds exactly its records`);
      index = last + 1;
    }
    assert.ok(fs.statSync(path.join(dir, files[files.length - 1]!)).size > recordBytes(all.slice(index - 1)));
    reopened.close();
    assert.equal(fs.statSync(path.join(dir, files[files.length - 1]!)).size, recordBytes(all.slice(index - 1)), 'a clean close cuts the zeros');
    const last = SegmentedLog.open(dir, { segmentSizeBytesMax: 64 * 1024 });
    assertEntriesEqual(last.read(1, 1000, Infinity), all);
    last.close();
  });
});
