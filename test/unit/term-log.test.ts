/**
 * Unit tests of `TermLog`, the core's run-length view of the log's terms: lookups, appends that
 * merge runs, truncation, the first index of a term, and the invariants it refuses to break.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TermLog } from '../../src/core/term-runs.js';

test('an empty log: index 0 has term 0, nothing beyond', () => {
  const log = new TermLog();
  assert.equal(log.lastIndex, 0);
  assert.equal(log.lastTerm, 0);
  assert.equal(log.termAt(0), 0);
  assert.equal(log.termAt(1), undefined);
  assert.deepEqual(log.runs(), []);
});

test('append merges equal terms into runs and termAt finds every entry', () => {
  const log = new TermLog();
  log.append(1, [1, 1, 2, 2, 2, 5]);
  log.appendRun(7, 3, 5);
  log.appendRun(10, 2, 6);
  assert.deepEqual(log.runs(), [
    { firstIndex: 1, term: 1 },
    { firstIndex: 3, term: 2 },
    { firstIndex: 6, term: 5 },
    { firstIndex: 10, term: 6 },
  ]);
  assert.equal(log.lastIndex, 11);
  assert.equal(log.lastTerm, 6);
  const expected = [0, 1, 1, 2, 2, 2, 5, 5, 5, 5, 6, 6];
  for (let index = 0; index <= 11; index++) assert.equal(log.termAt(index), expected[index], `index ${index}`);
  assert.equal(log.termAt(12), undefined);
  assert.equal(log.termAt(-1), undefined);
});

test('firstIndexOfTerm gives the first index of the run holding an index', () => {
  const log = new TermLog([{ firstIndex: 1, term: 1 }, { firstIndex: 4, term: 3 }, { firstIndex: 9, term: 4 }], 10);
  assert.equal(log.firstIndexOfTerm(1), 1);
  assert.equal(log.firstIndexOfTerm(3), 1);
  assert.equal(log.firstIndexOfTerm(4), 4);
  assert.equal(log.firstIndexOfTerm(8), 4);
  assert.equal(log.firstIndexOfTerm(10), 9);
  assert.throws(() => log.firstIndexOfTerm(11), /invariant broken/);
});

test('truncateFrom drops the suffix, splitting or removing runs', () => {
  const log = new TermLog([{ firstIndex: 1, term: 1 }, { firstIndex: 4, term: 3 }, { firstIndex: 9, term: 4 }], 10);
  log.truncateFrom(6);
  assert.equal(log.lastIndex, 5);
  assert.equal(log.lastTerm, 3);
  assert.deepEqual(log.runs(), [{ firstIndex: 1, term: 1 }, { firstIndex: 4, term: 3 }]);
  log.truncateFrom(4);
  assert.deepEqual(log.runs(), [{ firstIndex: 1, term: 1 }]);
  assert.equal(log.lastIndex, 3);
  log.truncateFrom(4); // nothing to drop
  assert.equal(log.lastIndex, 3);
  log.append(4, [2]);
  assert.deepEqual(log.runs(), [{ firstIndex: 1, term: 1 }, { firstIndex: 4, term: 2 }]);
  log.truncateFrom(1);
  assert.equal(log.lastIndex, 0);
  assert.deepEqual(log.runs(), []);
});

test('restored runs with adjacent equal terms are merged', () => {
  const log = new TermLog([{ firstIndex: 1, term: 2 }, { firstIndex: 3, term: 2 }, { firstIndex: 5, term: 3 }], 5);
  assert.deepEqual(log.runs(), [{ firstIndex: 1, term: 2 }, { firstIndex: 5, term: 3 }]);
  assert.equal(log.firstIndexOfTerm(4), 1);
});

test('broken inputs are refused: gaps, decreasing terms, bad truncation, runs beyond the end', () => {
  const log = new TermLog();
  log.append(1, [2]);
  assert.throws(() => log.append(3, [2]), /invariant broken/);
  assert.throws(() => log.append(2, [1]), /invariant broken: term 1 at 2 after term 2/);
  assert.throws(() => log.appendRun(2, 1, 1), /invariant broken/);
  assert.throws(() => log.truncateFrom(0), /invariant broken/);
  assert.throws(() => log.truncateFrom(3), /invariant broken/);
  assert.throws(() => new TermLog([{ firstIndex: 1, term: 1 }, { firstIndex: 5, term: 2 }], 4), /invariant broken/);
  // No runs below a last index: a log that holds nothing after a snapshot; it knows no term yet.
  const afterSnapshot = new TermLog([], 3);
  assert.equal(afterSnapshot.firstKnownIndex, 4);
  assert.equal(afterSnapshot.termAt(3), undefined);
  assert.throws(() => new TermLog([{ firstIndex: 1, term: 3 }, { firstIndex: 2, term: 2 }], 2), /invariant broken/);
});

test('lookups stay correct over many runs (binary search)', () => {
  const log = new TermLog();
  const terms: number[] = [];
  for (let term = 1; term <= 500; term++) {
    const count = (term % 7) + 1;
    log.appendRun(log.lastIndex + 1, count, term);
    for (let i = 0; i < count; i++) terms.push(term);
  }
  assert.equal(log.lastIndex, terms.length);
  for (let index = 1; index <= terms.length; index++) assert.equal(log.termAt(index), terms[index - 1]);
});
