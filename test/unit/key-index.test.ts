/**
 * The kv's key index against a plain Map under random sets, gets and deletes: growth, keys that
 * share a home slot, deletes that shift the following run back, keys of any length, and keys
 * read from a range of a larger buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashBytes, KeyIndex } from '../../src/statemachines/key-index.js';
import { SeededRng } from '../../src/core/rng.js';

function keyOf(n: number): string {
  return n % 97 === 0 ? `long-${'x'.repeat(20_000)}-${n}` : `k${n}`;
}

test('random sets, gets and deletes agree with a Map', () => {
  const rng = new SeededRng(5);
  const index = new KeyIndex();
  const model = new Map<string, number>();
  const at = (key: string): [Buffer, number, number] => {
    const bytes = Buffer.from(`..${key}...`);
    return [bytes, 2, bytes.length - 3];
  };
  for (let step = 0; step < 40_000; step++) {
    const key = keyOf(rng.intBetween(0, step < 20_000 ? 3000 : 300));
    const action = rng.intBetween(0, 9);
    if (action < 5) {
      const value = rng.intBetween(0, 1_000_000);
      assert.equal(index.set(...at(key), value), model.get(key) ?? -1, `set ${key.slice(0, 20)} at ${step}`);
      model.set(key, value);
    } else if (action < 8) {
      assert.equal(index.delete(...at(key)), model.get(key) ?? -1, `delete ${key.slice(0, 20)} at ${step}`);
      model.delete(key);
    } else {
      assert.equal(index.get(...at(key)), model.get(key) ?? -1, `get ${key.slice(0, 20)} at ${step}`);
    }
    assert.equal(index.size, model.size);
  }
  for (let n = 0; n <= 3000; n++) {
    const key = Buffer.from(keyOf(n));
    assert.equal(index.get(key, 0, key.length), model.get(keyOf(n)) ?? -1, `final ${n}`);
  }
});

test('keys that share a home slot: deleting one in the middle of their run keeps the others reachable', () => {
  // Keys whose hashes agree in their low 4 bits land in the same slot of a 16-slot table.
  const crowd: Buffer[] = [];
  for (let n = 0; crowd.length < 6; n++) {
    const key = Buffer.from(`c${n}`);
    if ((hashBytes(key, 0, key.length) & 15) === 3) crowd.push(key);
  }
  const index = new KeyIndex();
  crowd.forEach((key, i) => assert.equal(index.set(key, 0, key.length, i), -1));
  for (const victim of [2, 0, 5]) {
    assert.equal(index.delete(crowd[victim]!, 0, crowd[victim]!.length), victim);
    crowd.forEach((key, i) => {
      const expected = [2, 0, 5].slice(0, [2, 0, 5].indexOf(victim) + 1).includes(i) ? -1 : i;
      assert.equal(index.get(key, 0, key.length), expected, `key ${i} after deleting ${victim}`);
    });
  }
});
