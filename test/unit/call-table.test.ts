/**
 * The per-client call table: against a plain reference model under seeded random operations
 * (mostly in-order calls as clients send them, some out of order, deletes, prunes with and
 * without a condition), and the compaction of its front after many calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallTable } from '../../src/call-table.js';
import { SeededRng } from '../../src/core/rng.js';

/** The reference: a map checked in sorted order of call ids. */
class Model {
  readonly calls = new Map<number, string>();

  sortedIds(): number[] {
    return [...this.calls.keys()].sort((a, b) => a - b);
  }

  pruneBelow(limit: number, canDrop?: (value: string) => boolean): void {
    for (const id of this.sortedIds()) {
      if (id >= limit || (canDrop !== undefined && !canDrop(this.calls.get(id)!))) break;
      this.calls.delete(id);
    }
  }
}

function assertSame(table: CallTable<string>, model: Model, probe: readonly number[], context: string): void {
  assert.equal(table.size, model.calls.size, `${context}: size`);
  const ids = model.sortedIds();
  assert.equal(table.oldest(), ids.length > 0 ? model.calls.get(ids[0]!) : undefined, `${context}: oldest`);
  assert.equal(table.oldestId(), ids[0], `${context}: oldest id`);
  for (const id of probe) assert.equal(table.get(id), model.calls.get(id), `${context}: get(${id})`);
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`call table matches a sorted map under random operations (seed ${seed})`, () => {
    const rng = new SeededRng(seed);
    const table = new CallTable<string>();
    const model = new Model();
    let next = 1;
    let firstUnacked = 1;
    for (let step = 0; step < 20_000; step++) {
      const roll = rng.intBetween(0, 99);
      const context = `seed ${seed} step ${step}`;
      if (roll < 60) {
        // A new call, usually the next id; sometimes a gap (a read took that id).
        next += rng.intBetween(0, 9) === 0 ? 2 : 1;
        const value = `v${next}-${step}`;
        table.set(next, value);
        model.calls.set(next, value);
      } else if (roll < 70) {
        // A call arriving out of order, or a replaced value for a known one.
        const id = rng.intBetween(Math.max(1, next - 50), next);
        const value = `r${id}-${step}`;
        table.set(id, value);
        model.calls.set(id, value);
      } else if (roll < 78) {
        const id = rng.intBetween(Math.max(1, next - 50), next);
        const onlyIf = rng.intBetween(0, 1) === 0 ? undefined : model.calls.get(id) ?? 'no such value';
        const expected = model.calls.has(id) && (onlyIf === undefined || model.calls.get(id) === onlyIf);
        assert.equal(table.delete(id, onlyIf), expected, `${context}: delete(${id})`);
        if (expected) model.calls.delete(id);
      } else if (roll < 95) {
        firstUnacked = Math.min(next + 1, firstUnacked + rng.intBetween(0, 40));
        // Half the prunes stop at a value the condition keeps (a call still in progress).
        const keep = rng.intBetween(0, 1) === 0 ? undefined : (value: string) => !value.endsWith('7');
        table.pruneBelow(firstUnacked, keep);
        model.pruneBelow(firstUnacked, keep);
      } else {
        // The client caught up: everything it sent is acknowledged.
        firstUnacked = next + 1;
        table.pruneBelow(firstUnacked);
        model.pruneBelow(firstUnacked);
      }
      if (step % 97 === 0 || roll >= 95) {
        const probe = [0, next + 1, ...model.calls.keys()];
        for (let k = 0; k < 5; k++) probe.push(rng.intBetween(Math.max(0, next - 200), next + 2));
        assertSame(table, model, probe, context);
      }
    }
  });
}

test('call table: a long in-order run with a bounded window keeps its front compacted', () => {
  const table = new CallTable<number>();
  for (let id = 1; id <= 100_000; id++) {
    table.set(id, id * 2);
    table.pruneBelow(id - 255);
    assert.equal(table.size, Math.min(id, 256));
  }
  assert.equal(table.oldest(), (100_000 - 255) * 2);
  assert.equal(table.get(100_000 - 256), undefined);
  assert.equal(table.get(99_999), 199_998);
  // The arrays behind the table stay near the window, not the whole history (private fields, read for the check).
  const arrays = table as unknown as { ids: number[]; head: number };
  assert.ok(arrays.ids.length <= 256 + 2048, `ids array of ${arrays.ids.length} after 100k calls`);
  table.pruneBelow(Number.MAX_SAFE_INTEGER);
  assert.equal(table.size, 0);
  assert.equal(table.oldest(), undefined);
  table.set(5, 10);
  assert.equal(table.get(5), 10);
});
