/**
 * The term-and-vote file: a round trip through the disk, the default when absent, atomic
 * replacement, and a damaged file refused with a LogCorruptionError naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LogCorruptionError, TermCeilingError } from '../../src/errors.js';
import { RAFT_META_FILE_NAME, readRaftMeta, readRaftMetaUnchecked, writeRaftMeta } from '../../src/log/raft-meta.js';
import { termMax } from '../../src/limits.js';
import { withTempDir } from '../support/temp-dir.js';

test('an absent raft-meta reads as term 0 and no vote', () => {
  withTempDir((dir) => {
    assert.deepEqual(readRaftMeta(dir), { term: 0, votedFor: null });
  });
});

test('raft-meta round trip, replaced on every write, no temporary file left', () => {
  withTempDir((dir) => {
    writeRaftMeta(dir, { term: 3, votedFor: 'n2' });
    assert.deepEqual(readRaftMeta(dir), { term: 3, votedFor: 'n2' });
    writeRaftMeta(dir, { term: 2 ** 40, votedFor: null });
    assert.deepEqual(readRaftMeta(dir), { term: 2 ** 40, votedFor: null });
    writeRaftMeta(dir, { term: 7, votedFor: 'nœud-é' });
    assert.deepEqual(readRaftMeta(dir), { term: 7, votedFor: 'nœud-é' });
    assert.deepEqual(fs.readdirSync(dir), [RAFT_META_FILE_NAME]);
  });
});

test('a damaged raft-meta is refused, naming the file', () => {
  withTempDir((dir) => {
    writeRaftMeta(dir, { term: 12, votedFor: 'n3' });
    const file = path.join(dir, RAFT_META_FILE_NAME);
    const original = fs.readFileSync(file);
    const damages: Array<(bytes: Buffer) => Buffer> = [
      (bytes) => bytes.subarray(0, bytes.length - 1),
      (bytes) => bytes.subarray(0, 5),
      (bytes) => Buffer.concat([bytes, Buffer.from('x')]),
      (bytes) => Buffer.alloc(bytes.length),
    ];
    for (let offset = 0; offset < original.length; offset++) {
      damages.push((bytes) => {
        const copy = Buffer.from(bytes);
        copy[offset] = copy[offset]! ^ 0x01;
        return copy;
      });
    }
    for (const [position, damage] of damages.entries()) {
      fs.writeFileSync(file, damage(original));
      assert.throws(
        () => readRaftMeta(dir),
        (error: unknown) => {
          assert.ok(error instanceof LogCorruptionError, `damage ${position}: ${String(error)}`);
          assert.ok(error.message.includes(file), error.message);
          assert.equal(error.details['file'], file);
          return true;
        },
      );
    }
    // A write after damage replaces the file whole.
    writeRaftMeta(dir, { term: 13, votedFor: null });
    assert.deepEqual(readRaftMeta(dir), { term: 13, votedFor: null });
  });
});

test('a leftover temporary file from a crash does not disturb reads or writes', () => {
  withTempDir((dir) => {
    writeRaftMeta(dir, { term: 4, votedFor: 'n1' });
    fs.writeFileSync(path.join(dir, 'raft-meta.tmp'), 'half a write');
    assert.deepEqual(readRaftMeta(dir), { term: 4, votedFor: 'n1' });
    writeRaftMeta(dir, { term: 5, votedFor: 'n2' });
    assert.deepEqual(readRaftMeta(dir), { term: 5, votedFor: 'n2' });
  });
});

test('a term over the ceiling refuses to start, naming the file and how to recover; the ceiling itself still reads', () => {
  withTempDir((dir) => {
    writeRaftMeta(dir, { term: termMax, votedFor: null });
    assert.deepEqual(readRaftMeta(dir), { term: termMax, votedFor: null });
    writeRaftMeta(dir, { term: 2 ** 53 - 1, votedFor: 'n2' });
    assert.throws(() => readRaftMeta(dir), (error: unknown) => {
      assert.ok(error instanceof TermCeilingError, String(error));
      assert.equal(error.code, 'TERM_CEILING');
      assert.equal(error.details['file'], path.join(dir, RAFT_META_FILE_NAME));
      assert.equal(error.details['term'], 2 ** 53 - 1);
      assert.match(error.message, /raftline reset-term --dir <data dir> --term <L \+ 1>/);
      return true;
    });
    assert.deepEqual(readRaftMetaUnchecked(dir), { term: 2 ** 53 - 1, votedFor: 'n2' }, 'reset-term can still read it');
  });
});
