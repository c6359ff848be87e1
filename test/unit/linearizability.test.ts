/**
 * The linearizability checker on hand-written register histories: ones that are linearizable
 * (including concurrent and unknown operations) and ones that are not (a stale read, a lost
 * write, a cas that succeeded twice or failed when it had to succeed, a value never written, an
 * unknown write seen and then unseen), plus the budget that turns an unfinished search into
 * `undecided`, and the history file format.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkHistory, operationsOf } from '../../src/check/linearizability.js';
import { HistoryWriter, parseHistory, readHistory, type HistoryEvent } from '../../src/check/history.js';

/** A compact history: [process, type, f, value] on key 'k' unless a fifth item names the key. */
type Row = [number, HistoryEvent['type'], HistoryEvent['f'], unknown, string?];
const history = (...rows: Row[]): HistoryEvent[] =>
  rows.map(([process, type, f, value, key]) => ({ process, type, f, key: key ?? 'k', value }));

const verdict = (rows: Row[]): string => checkHistory(history(...rows)).verdict;

test('sequential puts and gets are linearizable', () => {
  assert.equal(verdict([
    [0, 'invoke', 'get', null], [0, 'ok', 'get', null],
    [0, 'invoke', 'put', 'a'], [0, 'ok', 'put', 'a'],
    [1, 'invoke', 'get', null], [1, 'ok', 'get', 'a'],
    [1, 'invoke', 'cas', ['a', 'b']], [1, 'ok', 'cas', true],
    [0, 'invoke', 'get', null], [0, 'ok', 'get', 'b'],
  ]), 'linearizable');
});

test('a read concurrent with a write may see either value', () => {
  for (const seen of [null, 'a']) {
    assert.equal(verdict([
      [0, 'invoke', 'put', 'a'], [1, 'invoke', 'get', null], [1, 'ok', 'get', seen], [0, 'ok', 'put', 'a'],
    ]), 'linearizable', `read ${String(seen)}`);
  }
});

test('concurrent writes may take effect in either order, but reads must agree on one order', () => {
  const writes: Row[] = [[0, 'invoke', 'put', 'a'], [1, 'invoke', 'put', 'b'], [0, 'ok', 'put', 'a'], [1, 'ok', 'put', 'b']];
  assert.equal(verdict([...writes, [2, 'invoke', 'get', null], [2, 'ok', 'get', 'a']]), 'linearizable');
  assert.equal(verdict([...writes, [2, 'invoke', 'get', null], [2, 'ok', 'get', 'b']]), 'linearizable');
  // a then b, or b then a, but not both one after the other.
  assert.equal(verdict([
    ...writes, [2, 'invoke', 'get', null], [2, 'ok', 'get', 'a'], [2, 'invoke', 'get', null], [2, 'ok', 'get', 'b'],
  ]), 'violation');
});

test('a stale read (the value before the last completed write) is a violation', () => {
  const result = checkHistory(history(
    [0, 'invoke', 'put', 'a'], [0, 'ok', 'put', 'a'],
    [0, 'invoke', 'put', 'b'], [0, 'ok', 'put', 'b'],
    [1, 'invoke', 'get', null], [1, 'ok', 'get', 'a'],
  ));
  assert.equal(result.verdict, 'violation');
  assert.match(result.keys[0]!.explanation ?? '', /process 1 get/);
});

test('a lost write (an acknowledged put never read back) is a violation', () => {
  assert.equal(verdict([
    [0, 'invoke', 'put', 'a'], [0, 'ok', 'put', 'a'],
    [1, 'invoke', 'get', null], [1, 'ok', 'get', null],
  ]), 'violation');
});

test('reading a value nobody wrote is a violation', () => {
  assert.equal(verdict([[0, 'invoke', 'get', null], [0, 'ok', 'get', 'ghost']]), 'violation');
});

test('cas anomalies: two successes from the same expected value, a false that had to be true', () => {
  assert.equal(verdict([
    [0, 'invoke', 'cas', [null, 'a']], [0, 'ok', 'cas', true],
    [1, 'invoke', 'cas', [null, 'b']], [1, 'ok', 'cas', true],
  ]), 'violation');
  assert.equal(verdict([
    [0, 'invoke', 'put', 'a'], [0, 'ok', 'put', 'a'],
    [1, 'invoke', 'cas', ['a', 'b']], [1, 'ok', 'cas', false],
  ]), 'violation');
  // Concurrent with a put of another value, the false is explained: the put went first.
  assert.equal(verdict([
    [0, 'invoke', 'put', 'a'], [0, 'ok', 'put', 'a'],
    [2, 'invoke', 'put', 'c'],
    [1, 'invoke', 'cas', ['a', 'b']], [1, 'ok', 'cas', false],
    [2, 'ok', 'put', 'c'],
  ]), 'linearizable');
  // A successful cas whose effect a later read does not show.
  assert.equal(verdict([
    [0, 'invoke', 'put', 'a'], [0, 'ok', 'put', 'a'],
    [1, 'invoke', 'cas', ['a', 'b']], [1, 'ok', 'cas', true],
    [0, 'invoke', 'get', null], [0, 'ok', 'get', 'a'],
  ]), 'violation');
});

test('an unknown (info) write may take effect late or never, but not take effect and then vanish', () => {
  const unknownPut: Row[] = [[0, 'invoke', 'put', 'a'], [0, 'info', 'put', 'a']];
  assert.equal(verdict([...unknownPut, [1, 'invoke', 'get', null], [1, 'ok', 'get', null]]), 'linearizable');
  assert.equal(verdict([...unknownPut, [1, 'invoke', 'get', null], [1, 'ok', 'get', 'a']]), 'linearizable');
  assert.equal(verdict([
    ...unknownPut, [1, 'invoke', 'get', null], [1, 'ok', 'get', null], [1, 'invoke', 'get', null], [1, 'ok', 'get', 'a'],
  ]), 'linearizable', 'it took effect between the two reads');
  assert.equal(verdict([
    ...unknownPut,
    [1, 'invoke', 'get', null], [1, 'ok', 'get', 'a'],
    [1, 'invoke', 'get', null], [1, 'ok', 'get', null],
  ]), 'violation', 'seen, then gone');
  // An unknown cas that can only have taken effect if its expected value was there.
  assert.equal(verdict([
    [0, 'invoke', 'put', 'x'], [0, 'ok', 'put', 'x'],
    [1, 'invoke', 'cas', ['y', 'z']], [1, 'info', 'cas', ['y', 'z']],
    [2, 'invoke', 'get', null], [2, 'ok', 'get', 'z'],
  ]), 'violation');
  assert.equal(verdict([
    [0, 'invoke', 'put', 'x'], [0, 'ok', 'put', 'x'],
    [1, 'invoke', 'cas', ['x', 'z']], [1, 'info', 'cas', ['x', 'z']],
    [2, 'invoke', 'get', null], [2, 'ok', 'get', 'z'],
  ]), 'linearizable');
  // An operation with no completion at all counts as unknown too.
  assert.equal(verdict([[0, 'invoke', 'put', 'a'], [1, 'invoke', 'get', null], [1, 'ok', 'get', 'a']]), 'linearizable');
});

test('a failed operation did not take effect: reading its value is a violation', () => {
  assert.equal(verdict([
    [0, 'invoke', 'put', 'a'], [0, 'fail', 'put', 'a'],
    [1, 'invoke', 'get', null], [1, 'ok', 'get', 'a'],
  ]), 'violation');
});

test('keys are independent registers; the violating key is reported first', () => {
  const result = checkHistory(history(
    [0, 'invoke', 'put', 'a', 'x'], [0, 'ok', 'put', 'a', 'x'],
    [1, 'invoke', 'put', 'a', 'y'], [1, 'ok', 'put', 'a', 'y'],
    [0, 'invoke', 'get', null, 'x'], [0, 'ok', 'get', 'a', 'x'],
    [1, 'invoke', 'get', null, 'y'], [1, 'ok', 'get', null, 'y'],
  ));
  assert.equal(result.verdict, 'violation');
  assert.deepEqual(result.keys.map((key) => [key.key, key.verdict]), [['y', 'violation'], ['x', 'linearizable']]);
  assert.equal(result.operations, 4);
});

test('a search past its budget is undecided, not a pass', () => {
  // Many concurrent unknown writes and a long tail of reads: lots of configurations to visit.
  const rows: Row[] = [];
  for (let p = 0; p < 14; p++) rows.push([p, 'invoke', 'put', `v${p}`]);
  for (let p = 0; p < 14; p++) rows.push([p, 'info', 'put', `v${p}`]);
  for (let r = 0; r < 14; r++) rows.push([100 + r, 'invoke', 'get', null], [100 + r, 'ok', 'get', `v${r}`]);
  const events = history(...rows);
  assert.equal(checkHistory(events, { stepsMaxPerKey: 50 }).verdict, 'undecided');
  assert.equal(checkHistory(events).verdict, 'linearizable');
});

test('malformed histories are refused with the event named', () => {
  assert.throws(() => operationsOf(history([0, 'ok', 'put', 'a'])), /without an invoke/);
  assert.throws(() => operationsOf(history([0, 'invoke', 'put', 'a'], [0, 'invoke', 'put', 'b'])), /previous operation is open/);
  assert.throws(() => operationsOf(history([0, 'invoke', 'put', 'a'], [0, 'info', 'put', 'a'], [0, 'invoke', 'get', null])), /fresh process id/);
  assert.throws(() => operationsOf(history([0, 'invoke', 'cas', ['a', 'b']], [0, 'ok', 'cas', 'yes'])), /true or false/);
  assert.throws(() => parseHistory('{"process":1,"type":"ok"}\n'), /line 1/);
});

test('history files: written as JSON Lines, read back event for event', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-history-'));
  try {
    const file = path.join(dir, 'h.jsonl');
    const events = history([0, 'invoke', 'cas', ['a', 'b']], [0, 'ok', 'cas', false], [1, 'invoke', 'get', null], [1, 'ok', 'get', null]);
    const writer = new HistoryWriter(file);
    for (const event of events) writer.write(event);
    writer.close();
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 4);
    assert.deepEqual(JSON.parse(lines[0]!), { process: 0, type: 'invoke', f: 'cas', key: 'k', value: ['a', 'b'] });
    assert.deepEqual(readHistory(file), events);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
