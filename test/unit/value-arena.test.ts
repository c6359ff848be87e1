/**
 * The kv state machine's value store: every handle reads back the bytes last stored under it,
 * through in-place replacement, moves between size classes, values in buffers of their own,
 * and slots freed and reused; the byte count follows; a freed slot serves the next value of its
 * class.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueArena } from '../../src/statemachines/value-arena.js';
import { SeededRng } from '../../src/core/rng.js';

function textOf(rng: SeededRng, length: number): string {
  let out = '';
  while (out.length < length) out += rng.intBetween(0, 9) === 0 ? 'é✓' : String.fromCharCode(0x61 + rng.intBetween(0, 25));
  return Array.from(out).slice(0, length).join('');
}

test('random stores, replacements and releases: each handle reads what was last stored under it', () => {
  const rng = new SeededRng(11);
  const arena = new ValueArena(1024);
  const model = new Map<number, string>();
  const sizes = [0, 1, 11, 12, 13, 60, 124, 128, 300, 1019, 1020, 1021, 5000];
  let replacedInPlace = 0;
  let moved = 0;
  for (let step = 0; step < 20_000; step++) {
    const handles = [...model.keys()];
    const action = rng.intBetween(0, 9);
    const text = textOf(rng, sizes[rng.intBetween(0, sizes.length - 1)]!);
    const bytes = Buffer.from(text, 'utf8');
    // A value inside a larger buffer, as the state machine stores it (a range of an operation).
    const source = Buffer.concat([Buffer.from('<<'), bytes, Buffer.from('>>')]);
    if (handles.length === 0 || action < 4) {
      const handle = action % 2 === 0 ? arena.store(source, 2, 2 + bytes.length) : arena.storeText(text);
      assert.equal(model.has(handle), false, `handle ${handle} is already in use`);
      model.set(handle, text);
    } else if (action < 8) {
      const handle = handles[rng.intBetween(0, handles.length - 1)]!;
      const after = arena.replace(handle, action % 2 === 0 ? source : new Uint8Array(source), 2, 2 + bytes.length);
      model.delete(handle);
      assert.equal(model.has(after), false, `replacement handle ${after} is already in use`);
      model.set(after, text);
      if (after === handle) replacedInPlace++;
      else moved++;
    } else {
      const handle = handles[rng.intBetween(0, handles.length - 1)]!;
      arena.release(handle);
      model.delete(handle);
    }
    if (step % 997 === 0 || step === 19_999) {
      let total = 0;
      for (const [handle, expected] of model) {
        assert.equal(arena.text(handle), expected, `handle ${handle} at step ${step}`);
        total += Buffer.byteLength(expected, 'utf8');
      }
      assert.equal(arena.bytes, total, `bytes held at step ${step}`);
    }
  }
  assert.ok(replacedInPlace > 500 && moved > 500, `in place ${replacedInPlace}, moved ${moved}`);
});

test('a same-class replacement keeps its slot; a released slot serves the next value of its class', () => {
  const arena = new ValueArena();
  const value = Buffer.alloc(128, 0x61);
  const first = arena.store(value, 0, 128);
  const second = arena.store(value, 0, 128);
  assert.notEqual(first, second);
  assert.equal(arena.replace(first, Buffer.alloc(130, 0x62), 0, 130), first, '130 bytes fit the slot of 128');
  assert.equal(arena.text(first), 'b'.repeat(130));
  assert.equal(arena.text(second), 'a'.repeat(128), 'the neighbouring slot is untouched');
  arena.release(second);
  assert.equal(arena.store(Buffer.alloc(127, 0x63), 0, 127), second, 'the freed slot is reused');
  const moved = arena.replace(first, Buffer.alloc(10, 0x64), 0, 10);
  assert.notEqual(moved, first, 'a much smaller value moves to a smaller class');
  assert.equal(arena.text(moved), 'd'.repeat(10));
  assert.equal(arena.bytes, 127 + 10);
  const large = arena.storeText('x'.repeat(100_000));
  assert.equal(arena.text(large), 'x'.repeat(100_000), 'a value over the largest slot gets a buffer of its own');
  assert.equal(arena.bytes, 127 + 10 + 100_000);
});
