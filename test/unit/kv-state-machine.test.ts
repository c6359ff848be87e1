/**
 * The key-value state machine alone: apply and query semantics, cas and delete, the writes
 * that startTransaction refuses before anything reaches the log, and the put fast path's
 * agreement with the general decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import createKvStateMachine from '../../src/statemachines/kv.js';
import {
  decodeBooleanResult, decodeKvOperation, decodeKvWrite, decodeStringOrNullResult, encodeCas, encodeDelete, encodeGet, encodePut,
} from '../../src/statemachines/kv-ops.js';
import { decode, encode } from '../../src/messages/codec.js';
import { SeededRng } from '../../src/core/rng.js';
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

/**
 * The reference for the put fast path: the general decoder's view of the same bytes — msgpack
 * decoded, then the shape a put must have. The fast path must agree on every input: same
 * strings for a put, a thrown Error where the general path throws.
 */
function referenceDecode(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch {
    return { ok: false };
  }
  if (!Array.isArray(value) || typeof value[0] !== 'string') return { ok: false };
  const arity: Record<string, number> = { put: 3, get: 2, delete: 2, cas: 4 };
  if (!Object.hasOwn(arity, value[0]) || value.length !== arity[value[0]]) return { ok: false };
  if (value.slice(1).some((item, i) => typeof item !== 'string' && !(value[0] === 'cas' && i === 1 && item === null))) return { ok: false };
  return { ok: true, value };
}

test('put fast path: the same bytes as the general encoder, the same operation as the general decoder, for every string size and for damaged bytes', () => {
  const rng = new SeededRng(7);
  const text = (length: number, unicode: boolean): string => {
    let out = '';
    for (let i = 0; i < length; i++) out += unicode && i % 5 === 0 ? String.fromCodePoint(0x3b1 + (i % 20), 0x1f600 + (i % 3)) : String.fromCharCode(0x21 + rng.intBetween(0, 90));
    return out;
  };
  // Each msgpack string form: fixstr (0-31 bytes), str 8, str 16, str 32.
  const lengths = [0, 1, 31, 32, 255, 256, 65_535, 65_536, 70_000];
  let checked = 0;
  let damaged = 0;
  for (const keyLength of lengths) {
    for (const valueLength of lengths) {
      for (const unicode of [false, true]) {
        const key = text(keyLength, unicode);
        const value = text(valueLength, unicode);
        const bytes = Buffer.from(encodePut(key, value));
        assert.deepEqual(bytes, Buffer.from(encode(['put', key, value])), 'encodePut writes what the general encoder writes');
        assert.deepEqual(decodeKvOperation(bytes), ['put', key, value]);
        assert.deepEqual(decodeKvOperation(new Uint8Array(bytes)), ['put', key, value], 'a plain Uint8Array decodes too');
        checked++;
        if (bytes.length > 2000) continue;
        // Damage: cut short, one byte longer, one byte changed at every position.
        const variants: Buffer[] = [bytes.subarray(0, bytes.length - 1), Buffer.concat([bytes, Buffer.from([0xc0])])];
        for (let at = 0; at < Math.min(bytes.length, 40); at++) {
          const changed = Buffer.from(bytes);
          changed[at] = (changed[at]! + 1 + rng.intBetween(0, 254)) & 0xff;
          variants.push(changed);
        }
        for (const variant of variants) {
          const expected = referenceDecode(variant);
          if (expected.ok) {
            assert.deepEqual(decodeKvOperation(variant), expected.value, `variant ${variant.toString('hex').slice(0, 40)}`);
          } else {
            assert.throws(() => decodeKvOperation(variant), Error, `variant ${variant.toString('hex').slice(0, 40)} must be refused`);
            damaged++;
          }
        }
      }
    }
  }
  assert.equal(checked, lengths.length * lengths.length * 2);
  assert.ok(damaged > 100, `only ${damaged} damaged variants refused`);
});

test('startTransaction refuses what apply would refuse, with or without the fast path', () => {
  const machine = createKvStateMachine();
  startTransaction(machine, encodePut('k', 'v'));
  startTransaction(machine, encodeCas('k', null, 'v'));
  for (const bad of [encodeGet('k'), encode(['put', 'k']), encode(['put', 'k', 5]), encode(['toString', 'k']), encode(['put', 'k', 'v', 'extra']), new Uint8Array([0x93, 0xa3, 0x70, 0x75, 0x74, 0xa1, 0x6b])]) {
    assert.throws(() => startTransaction(machine, bad), Error);
    assert.throws(() => decodeKvWrite(bad), Error);
  }
});

test('random puts, deletes, cas and gets agree with a plain map of strings', async () => {
  const rng = new SeededRng(23);
  const machine = createKvStateMachine();
  const model = new Map<string, string>();
  const valueOf = (): string => {
    const length = [0, 3, 30, 128, 129, 200, 2000][rng.intBetween(0, 6)]!;
    let out = '';
    while (out.length < length) out += rng.intBetween(0, 7) === 0 ? 'ü😀' : String.fromCharCode(0x41 + rng.intBetween(0, 25));
    // Whole code points: a string cut inside a surrogate pair is not one UTF-8 can carry.
    return Array.from(out).slice(0, length).join('');
  };
  for (let step = 0; step < 5000; step++) {
    const key = `k${rng.intBetween(0, 40)}`;
    const action = rng.intBetween(0, 9);
    if (action < 5) {
      const value = valueOf();
      // The general decoder's path too: a put in a shape the fast path leaves alone (array 16 header).
      const bytes = action === 0 ? new Uint8Array([0xdc, 0x00, 0x03, ...encode('put'), ...encode(key), ...encode(value)]) : encodePut(key, value);
      assert.equal(await apply(machine, bytes), null);
      model.set(key, value);
    } else if (action < 7) {
      assert.equal(decodeBooleanResult(await apply(machine, encodeDelete(key))), model.delete(key), `delete ${key}`);
    } else if (action < 9) {
      const current = model.get(key) ?? null;
      const expected = rng.intBetween(0, 1) === 0 ? current : valueOf();
      const next = valueOf();
      const swapped = decodeBooleanResult(await apply(machine, encodeCas(key, expected, next)));
      assert.equal(swapped, expected === current, `cas ${key}`);
      if (swapped) model.set(key, next);
    } else {
      assert.equal(await get(machine, key), model.get(key) ?? null, `get ${key} at step ${step}`);
    }
  }
  for (let k = 0; k <= 40; k++) assert.equal(await get(machine, `k${k}`), model.get(`k${k}`) ?? null);
});
