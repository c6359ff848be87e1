/**
 * Unit tests of `SeededRng`: one seed, one sequence; every draw inside its inclusive range.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng } from '../../src/core/rng.js';

test('the same seed gives the same sequence, another seed another', () => {
  const draw = (seed: number): number[] => {
    const rng = new SeededRng(seed);
    return Array.from({ length: 20 }, () => rng.nextUint32());
  };
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
});

test('intBetween stays in [min, max] and reaches both ends', () => {
  const rng = new SeededRng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const value = rng.intBetween(10, 20);
    assert.ok(Number.isInteger(value) && value >= 10 && value <= 20, `drew ${value}`);
    seen.add(value);
  }
  assert.equal(seen.size, 11);
  assert.equal(rng.intBetween(5, 5), 5);
  assert.throws(() => rng.intBetween(3, 2), /invariant broken/);
});
