/**
 * The counter state machine alone: add with and without an amount, queries, and the writes
 * that startTransaction refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import createCounterStateMachine, { decodeCounterValue, encodeCounterAdd } from '../../src/statemachines/counter.js';
import { encode } from '../../src/messages/codec.js';

const empty = new Uint8Array(0);

test('add returns the new value; an empty write adds one', async () => {
  const machine = createCounterStateMachine();
  const applyOne = async (data: Uint8Array, index: number) =>
    decodeCounterValue(await machine.applyTransaction({ index, term: 1, clientId: 'c', callId: index, data }));
  assert.equal(await applyOne(empty, 1), 1);
  assert.equal(await applyOne(encodeCounterAdd(5), 2), 6);
  assert.equal(await applyOne(encodeCounterAdd(-2), 3), 4);
  assert.equal(await applyOne(encode(['add']), 4), 5);
  assert.equal(decodeCounterValue(await machine.query(empty)), 5);
  assert.equal(decodeCounterValue(await machine.queryStale!(empty)), 5);
});

test('a fresh counter reads zero', async () => {
  assert.equal(decodeCounterValue(await createCounterStateMachine().query(empty)), 0);
});

test('startTransaction refuses malformed writes', () => {
  const machine = createCounterStateMachine();
  const start = (data: Uint8Array) => machine.startTransaction!({ clientId: 'c', callId: 1, data });
  assert.doesNotThrow(() => start(empty));
  assert.doesNotThrow(() => start(encodeCounterAdd(3)));
  assert.throws(() => start(encode(['sub', 1])), /must be \['add', n\]/);
  assert.throws(() => start(encode(['add', 1.5])), /safe integer/);
  assert.throws(() => start(encode(['add', '1'])), /safe integer/);
  assert.throws(() => start(encode(['add', 1, 2])), /safe integer/);
  assert.throws(() => start(new Uint8Array([0x92, 0xa3, 0x61])), /does not decode/);
});

test('a sum outside the safe integer range is refused and leaves the value unchanged', async () => {
  const machine = createCounterStateMachine();
  const data = encodeCounterAdd(Number.MAX_SAFE_INTEGER);
  await machine.applyTransaction({ index: 1, term: 1, clientId: 'c', callId: 1, data });
  assert.throws(() => machine.applyTransaction({ index: 2, term: 1, clientId: 'c', callId: 2, data: encodeCounterAdd(1) }), /safe integer range/);
  assert.equal(decodeCounterValue(await machine.query(empty)), Number.MAX_SAFE_INTEGER);
});
