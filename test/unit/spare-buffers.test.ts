/**
 * Kept buffers for reuse: size classes a quarter of a power of two apart, a buffer given back
 * serving the next request of its class (and no other), the bound on how many are kept, and
 * requests over the largest size served with buffers never kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpareBuffers } from '../../src/spare-buffers.js';

test('size classes: at least the size, within a quarter octave above it (or the smallest step)', () => {
  const spares = new SpareBuffers(4096, 1 << 22, 8);
  assert.equal(spares.classOf(1), 4096);
  assert.equal(spares.classOf(4096), 4096);
  assert.equal(spares.classOf(4097), 8192);
  assert.equal(spares.classOf(45_568), 49_152, 'a batch of 256 records of 178 bytes');
  assert.equal(spares.classOf(65_536), 65_536);
  assert.equal(spares.classOf(65_537), 81_920);
  for (let size = 1; size < 3_000_000; size = Math.ceil(size * 1.37) + 1) {
    const capacity = spares.classOf(size);
    assert.ok(capacity >= size && capacity - size < Math.max(4096, size / 4), `class ${capacity} for ${size}`);
    assert.equal(spares.classOf(capacity), capacity, 'a class is its own class');
  }
});

test('a buffer given back serves the next request of its class, only of its class, up to the bound kept', () => {
  const spares = new SpareBuffers(4096, 1 << 20, 2);
  const first = spares.take(45_000);
  assert.equal(first.length, spares.classOf(45_000));
  spares.giveBack(first);
  assert.equal(spares.take(10_000) === first, false, 'another class gets its own buffer');
  assert.equal(spares.take(46_000), first, 'the same class reuses it');
  assert.equal(spares.keptCount, 0);
  const a = spares.take(5000);
  const b = spares.take(5000);
  const c = spares.take(5000);
  spares.giveBack(a);
  spares.giveBack(b);
  spares.giveBack(c);
  assert.equal(spares.keptCount, 2, 'no more than the bound');
  const again = [spares.take(5000), spares.take(5000)];
  assert.deepEqual(new Set(again), new Set([b, c]), 'the oldest kept went first');
  const huge = spares.take((1 << 20) + 1);
  assert.equal(huge.length, (1 << 20) + 1);
  spares.giveBack(huge);
  assert.equal(spares.keptCount, 0, 'over the largest size served: never kept');
  spares.giveBack(Buffer.alloc(5000));
  assert.equal(spares.keptCount, 0, 'a buffer not of a size class is not kept');
});
