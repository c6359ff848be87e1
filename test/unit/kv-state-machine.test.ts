/**
 * The key-value state machine alone: apply and query semantics, cas and delete, and the writes
 * that startTransaction refuses before anything reaches the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import createKvStateMachine from '../../src/statemachines/kv.js';
import {
  decodeBooleanResult, decodeStringOrNullResult, encodeCas, encodeDelete, encodeGet, encodePut,
} from '../../src/statemachines/kv-ops.js';
import { encode } from '../../src/messages/codec.js';
import type { StateMachine } from '../../src/state-machine.js';

let nextIndex = 1;
async function apply(machine: StateMachine, data: Uint8Array): Promise<Uint8Array | null> {
  const index = nextIndex++;
  return machine.applyTransaction({ index, term: 1, clientId: 'c', callId: index, data });
}

async function get(machine: StateMachine, key: string): Promise<string | null> {
  return decodeStringOrNullResult(await machine.query(encodeGet(key)));
}

function startTransaction(machine: StateMachine, data: Uint8Array): void {
  machine.startTransaction!({ clientId: 'c', callId: 1, data });
}

test('put then get returns the value; a missing key reads null', async () => {
  const machine = createKvStateMachine();
  assert.equal(await apply(machine, encodePut('a', '1')), null, 'a put answers no bytes');
  assert.equal(await get(machine, 'a'), '1');
  assert.equal(await get(machine, 'b'), null);
  await apply(machine, encodePut('a', '2'));
  assert.equal(await get(machine, 'a'), '2');
});

test('delete answers whether the key existed', async () => {
  const machine = createKvStateMachine();
  await apply(machine, encodePut('a', '1'));
  assert.equal(decodeBooleanResult(await apply(machine, encodeDelete('a'))), true);
  assert.equal(decodeBooleanResult(await apply(machine, encodeDelete('a'))), false);
  assert.equal(await get(machine, 'a'), null);
});

test('cas swaps only when the current value is the expected one (null: absent)', async () => {
  const machine = createKvStateMachine();
  assert.equal(decodeBooleanResult(await apply(machine, encodeCas('a', 'x', '1'))), false);
  assert.equal(await get(machine, 'a'), null);
  assert.equal(decodeBooleanResult(await apply(machine, encodeCas('a', null, '1'))), true);
  assert.equal(await get(machine, 'a'), '1');
  assert.equal(decodeBooleanResult(await apply(machine, encodeCas('a', null, '2'))), false);
  assert.equal(decodeBooleanResult(await apply(machine, encodeCas('a', '1', '2'))), true);
  assert.equal(await get(machine, 'a'), '2');
});

test('stale queries read the same applied state', async () => {
  const machine = createKvStateMachine();
  await apply(machine, encodePut('k', 'v'));
  assert.equal(decodeStringOrNullResult(await machine.queryStale!(encodeGet('k'))), 'v');
});

test('startTransaction accepts every well-formed write', () => {
  const machine = createKvStateMachine();
  for (const data of [encodePut('a', '1'), encodeDelete('a'), encodeCas('a', null, '1'), encodeCas('a', '1', '2')]) {
    assert.doesNotThrow(() => startTransaction(machine, data));
  }
});

test('startTransaction refuses unknown operations, wrong field types and get as a write', () => {
  const machine = createKvStateMachine();
  const refusals: [unknown, RegExp][] = [
    [['increment', 'a'], /unknown operation 'increment'/],
    [['put', 'a'], /expected 2 argument/],
    [['put', 1, 'v'], /key\) must be a string/],
    [['put', 'a', 7], /value\) must be a string/],
    [['cas', 'a', 5, 'n'], /expected\) must be a string or null/],
    [['cas', 'a', null, null], /next\) must be a string/],
    [['get', 'a'], /'get' is a read/],
    [{ op: 'put' }, /must be an array/],
    [[], /must be an array/],
  ];
  for (const [operation, message] of refusals) {
    assert.throws(() => startTransaction(machine, encode(operation)), message, JSON.stringify(operation));
  }
  assert.throws(() => startTransaction(machine, new Uint8Array([0x92, 0xa3, 0x61])), /does not decode/);
});

test('query refuses writes', async () => {
  const machine = createKvStateMachine();
  await assert.rejects(async () => machine.query(encodePut('a', '1')), /only 'get' is a query/);
});
