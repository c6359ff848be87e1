/**
 * The log's cache of recent entries, kept as appended batches: reads across batch boundaries
 * within the count and byte bounds, eviction of whole batches past the byte bound (what their
 * buffers hold, however little payload is in them), truncation in the middle of a batch, and
 * appends after it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentEntries } from '../../src/log/recent-entries.js';
import { RECORD_OVERHEAD_BYTES } from '../../src/log/log-record.js';

/** A batch of records as the log writes them: payload k of entry first + k is `size(k)` bytes of (first + k) & 0xff. */
function batchOf(first: number, count: number, term: number, size: (k: number) => number) {
  const starts: number[] = [];
  let offset = 0;
  for (let k = 0; k < count; k++) {
    starts.push(offset);
    offset += RECORD_OVERHEAD_BYTES + size(k);
  }
  starts.push(offset);
  const buffer = new Uint8Array(offset);
  for (let k = 0; k < count; k++) buffer.fill((first + k) & 0xff, starts[k]! + RECORD_OVERHEAD_BYTES, starts[k + 1]!);
  return { terms: new Array<number>(count).fill(term), buffer, starts };
}

function push(cache: RecentEntries, first: number, count: number, term: number, size: (k: number) => number = () => 10): void {
  const { terms, buffer, starts } = batchOf(first, count, term, size);
  cache.pushBatch(first, terms, buffer, starts);
}

function check(entries: ReturnType<RecentEntries['read']>, from: number, count: number): void {
  assert.deepEqual(entries.map((entry) => entry.index), Array.from({ length: count }, (_, k) => from + k));
  for (const entry of entries) assert.ok(entry.payload.length > 0 && entry.payload.every((byte) => byte === (entry.index & 0xff)), `payload of ${entry.index}`);
}

test('recent entries: reads cross batches within the count and byte bounds, at least one entry', () => {
  const cache = new RecentEntries(1 << 20, 1);
  push(cache, 1, 5, 1);
  push(cache, 6, 3, 2, (k) => 20 + k);
  push(cache, 9, 4, 2);
  check(cache.read(1, 100, Infinity), 1, 12);
  check(cache.read(4, 4, Infinity), 4, 4);
  const crossing = cache.read(5, 100, 10 + 20 + 21);
  check(crossing, 5, 3);
  assert.deepEqual(crossing.map((entry) => entry.term), [1, 2, 2]);
  check(cache.read(7, 100, 1), 7, 1);
  assert.equal(cache.read(13, 100, Infinity).length, 0);
});

/** Bytes a batch of `count` records of `size` payload bytes holds (its buffer, records and framing). */
const held = (count: number, size: number): number => count * (RECORD_OVERHEAD_BYTES + size);

test('recent entries: whole batches are evicted past the byte bound, the newest stays even alone over it', () => {
  const cache = new RecentEntries(2 * held(5, 10) + 1, 1);
  push(cache, 1, 5, 1);
  push(cache, 6, 5, 1);
  assert.equal(cache.firstIndex, 1);
  push(cache, 11, 5, 1);
  assert.equal(cache.firstIndex, 6, 'the oldest batch went when three batches passed the bound of two');
  check(cache.read(6, 100, Infinity), 6, 10);
  push(cache, 16, 3, 1, () => 500);
  assert.equal(cache.firstIndex, 16);
  check(cache.read(16, 100, Infinity), 16, 3);
  for (let first = 19; first < 19 + 200 * 2; first += 2) push(cache, first, 2, 1, () => 2 * held(5, 10));
  // Each of these batches alone is over the bound, so only the newest stays.
  assert.equal(cache.firstIndex, 19 + 200 * 2 - 2);
  check(cache.read(cache.firstIndex, 100, Infinity), cache.firstIndex, 2);
});

test('recent entries: a batch counts the whole buffer it holds, not its payloads (one small entry in a 4 KiB buffer)', () => {
  const cache = new RecentEntries(64 * 1024, 1);
  for (let index = 1; index <= 1000; index++) {
    const { terms, starts } = batchOf(index, 1, 1, () => 60);
    const buffer = new Uint8Array(4096);
    buffer.set(batchOf(index, 1, 1, () => 60).buffer);
    cache.pushBatch(index, terms, buffer, starts);
  }
  // 16 buffers of 4 KiB fill 64 KiB: what stays is the newest 16, not 1000 x 60 payload bytes.
  assert.equal(cache.firstIndex, 1000 - 16 + 1);
  check(cache.read(cache.firstIndex, 100, Infinity), 985, 16);
});

test('recent entries: truncation in the middle of a batch, at a batch start and before the cache; appends go on after it', () => {
  const cache = new RecentEntries(1 << 20, 1);
  push(cache, 1, 5, 1);
  push(cache, 6, 5, 2);
  cache.truncateFrom(8);
  check(cache.read(1, 100, Infinity), 1, 7);
  push(cache, 8, 2, 3);
  const entries = cache.read(6, 100, Infinity);
  check(entries, 6, 4);
  assert.deepEqual(entries.map((entry) => entry.term), [2, 2, 3, 3]);
  cache.truncateFrom(6);
  check(cache.read(1, 100, Infinity), 1, 5);
  cache.truncateFrom(1);
  assert.equal(cache.firstIndex, 1);
  assert.equal(cache.read(1, 100, Infinity).length, 0);
  push(cache, 1, 2, 4);
  check(cache.read(1, 100, Infinity), 1, 2);
});

test('recent entries: every dropped buffer is released once (eviction, truncation, clear); reads are copies', () => {
  const released: Uint8Array[] = [];
  const cache = new RecentEntries(2 * held(5, 10) + 1, 1, (buffer) => released.push(buffer));
  const buffers: Uint8Array[] = [];
  const pushKept = (first: number, count: number, term: number): void => {
    const { terms, buffer, starts } = batchOf(first, count, term, () => 10);
    buffers.push(buffer);
    cache.pushBatch(first, terms, buffer, starts);
  };
  pushKept(1, 5, 1);
  pushKept(6, 5, 1);
  assert.equal(released.length, 0);
  pushKept(11, 5, 1);
  assert.deepEqual(released, [buffers[0]], 'the evicted batch, once');
  // A read is a copy: changing the cached bytes afterwards does not change it.
  const read = cache.read(6, 100, Infinity);
  buffers[1]!.fill(0xee);
  check(read, 6, 10);
  pushKept(16, 2, 2);
  assert.deepEqual(released, [buffers[0], buffers[1]], 'two batches and a bit over the bound: the batch from 6 went too');
  // Truncation inside the newest batch keeps its buffer; a whole batch dropped is released.
  cache.truncateFrom(17);
  assert.equal(released.length, 2);
  cache.truncateFrom(14);
  assert.deepEqual(released, [buffers[0], buffers[1], buffers[3]], 'the batch from 16 went whole; the one from 11 was cut, kept');
  cache.clear(20);
  assert.equal(released.length, 4);
  assert.deepEqual(new Set(released), new Set([buffers[0], buffers[1], buffers[2], buffers[3]]), 'each buffer released once, none twice');
});
