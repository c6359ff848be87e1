/**
 * Packed entries, the form a batch travels in: packing and unpacking, the check a follower runs on
 * what it receives, taking a tail, and the run of entries the appender's cache and the updater's
 * buffer keep (ranges within one batch are views, ranges across batches one copy; dropping from
 * the front and truncating keep the byte count right).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EntryRun, LENGTH_BYTES, packedFrom, packedProblem, packPayloads, payloadLengthAt,
} from '../../src/messages/packed-entries.js';
import { SeededRng } from '../../src/core/rng.js';

/** Views of every payload of `packed`, walking the length words. */
function unpackPayloads(packed: Uint8Array): Uint8Array[] {
  const payloads: Uint8Array[] = [];
  for (let offset = 0; offset < packed.length;) {
    const start = offset + LENGTH_BYTES;
    const end = start + payloadLengthAt(packed, start);
    payloads.push(packed.subarray(start, end));
    offset = end;
  }
  return payloads;
}

/** Payload of entry `index`: `index % 7 * 3` bytes (some empty), each byte index & 0xff. */
function payloadOf(index: number): Uint8Array {
  return new Uint8Array((index % 7) * 3).fill(index & 0xff);
}

function payloadsOf(first: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, k) => payloadOf(first + k));
}

test('pack and unpack round trip, empty payloads and a length above 2^24 included', () => {
  const payloads = [new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(9), new Uint8Array(0)];
  const packed = packPayloads(payloads);
  assert.equal(packed.length, 4 * LENGTH_BYTES + 303);
  assert.equal(packedProblem(packed, 4), null);
  assert.deepEqual(unpackPayloads(packed).map((p) => [...p]), payloads.map((p) => [...p]));
  assert.equal(unpackPayloads(packPayloads([])).length, 0);
  assert.equal(packedProblem(new Uint8Array(0), 0), null);
  const big = new Uint8Array(LENGTH_BYTES);
  new DataView(big.buffer).setUint32(0, 0x0123_4567);
  assert.equal(payloadLengthAt(big, LENGTH_BYTES), 0x0123_4567);
});

test('packedProblem names what is wrong: a short count, a long count, a length past the end, bytes left over', () => {
  const packed = packPayloads(payloadsOf(1, 5));
  assert.equal(packedProblem(packed, 5), null);
  assert.match(packedProblem(packed, 4) ?? '', /bytes after the last of 4 entries/);
  assert.match(packedProblem(packed, 6) ?? '', /entry 5 of 6: length word past the end/);
  for (let cut = 1; cut < packed.length; cut++) {
    assert.notEqual(packedProblem(packed.subarray(0, cut), 5), null, `cut at ${cut} of ${packed.length}`);
  }
  const damaged = Buffer.from(packed);
  damaged.writeUInt32BE(0x7fff_ffff, 0);
  assert.match(packedProblem(damaged, 5) ?? '', /entry 0 of 5: payload runs past the end/);
});

test('packedFrom: the entries from a position on, as a view', () => {
  const packed = packPayloads(payloadsOf(10, 6));
  for (let from = 0; from <= 6; from++) {
    const tail = packedFrom(packed, from);
    assert.equal(tail.buffer, packed.buffer);
    assert.equal(packedProblem(tail, 6 - from), null);
    assert.deepEqual(unpackPayloads(tail).map((p) => [...p]), payloadsOf(10 + from, 6 - from).map((p) => [...p]));
  }
});

test('EntryRun: ranges over batches read back the pushed entries; one batch gives a view, several a copy', () => {
  const rng = new SeededRng(11);
  const run = new EntryRun(100);
  const batches: Uint8Array[] = [];
  let next = 100;
  let bytes = 0;
  for (let b = 0; b < 20; b++) {
    const count = rng.intBetween(1, 9);
    const packed = packPayloads(payloadsOf(next, count));
    batches.push(packed);
    run.push(packed, Array.from({ length: count }, (_, k) => 1 + Math.floor((next + k) / 25)));
    for (let k = 0; k < count; k++) bytes += payloadOf(next + k).length;
    next += count;
  }
  assert.equal(run.firstIndex, 100);
  assert.equal(run.nextIndex, next);
  assert.equal(run.length, next - 100);
  assert.equal(run.payloadBytes, bytes);
  for (let trial = 0; trial < 200; trial++) {
    const from = rng.intBetween(0, run.length - 1);
    const to = rng.intBetween(from + 1, run.length);
    const packed = run.packed(from, to);
    assert.equal(packedProblem(packed, to - from), null);
    assert.deepEqual(unpackPayloads(packed).map((p) => [...p]), payloadsOf(100 + from, to - from).map((p) => [...p]));
    assert.deepEqual(run.termsOf(from, to), Array.from({ length: to - from }, (_, k) => 1 + Math.floor((100 + from + k) / 25)));
    const source = run.source(from);
    const inOneBatch = source === run.source(to - 1);
    const isView = packed.buffer === source.buffer && packed.byteOffset === source.byteOffset + run.start(from) - LENGTH_BYTES;
    assert.equal(isView, inOneBatch, `range [${from}, ${to}) ${inOneBatch ? 'in one batch is a view' : 'across batches is a copy'}`);
    assert.ok(batches.includes(source));
  }
  assert.equal(run.packed(3, 3).length, 0);
  for (let position = 0; position < run.length; position++) {
    const start = run.start(position);
    assert.deepEqual([...run.source(position).subarray(start, start + run.payloadLength(position))], [...payloadOf(100 + position)]);
  }
});

test('EntryRun: dropping from the front and truncating keep indexes and byte counts', () => {
  const run = new EntryRun(1);
  run.push(packPayloads(payloadsOf(1, 10)), new Array<number>(10).fill(1));
  run.push(packPayloads(payloadsOf(11, 10)), new Array<number>(10).fill(2));
  const bytesOf = (first: number, count: number): number => payloadsOf(first, count).reduce((sum, p) => sum + p.length, 0);
  run.dropFront(4);
  assert.equal(run.firstIndex, 5);
  assert.equal(run.length, 16);
  assert.equal(run.payloadBytes, bytesOf(5, 16));
  assert.deepEqual(unpackPayloads(run.packed(0, 16)).map((p) => [...p]), payloadsOf(5, 16).map((p) => [...p]));
  run.truncate(9);
  assert.equal(run.nextIndex, 14);
  assert.equal(run.payloadBytes, bytesOf(5, 9));
  assert.equal(run.termAt(8), 2);
  run.truncate(20);
  assert.equal(run.length, 9, 'truncating past the end keeps everything');
  run.push(packPayloads(payloadsOf(14, 2)), [3, 3]);
  assert.deepEqual(unpackPayloads(run.packed(7, 11)).map((p) => [...p]), payloadsOf(12, 4).map((p) => [...p]));
});

test('EntryRun: held bytes count each batch\'s objects as well as its bytes, and come back to 0 however entries leave', () => {
  const rng = new SeededRng(5);
  for (let round = 0; round < 50; round++) {
    const run = new EntryRun(1);
    let next = 1;
    for (let step = 0; step < 40; step++) {
      const roll = rng.nextFloat();
      if (roll < 0.6 || run.length === 0) {
        const count = 1 + Math.floor(rng.nextFloat() * 5);
        const payloads = Array.from({ length: count }, (_, k) => payloadOf(next + k));
        const packed = packPayloads(payloads);
        run.push(packed, payloads.map(() => 1));
        next += count;
      } else if (roll < 0.8) {
        run.dropFront(Math.floor(rng.nextFloat() * (run.length + 1)));
      } else {
        const keep = Math.floor(rng.nextFloat() * (run.length + 1));
        run.truncate(keep);
        next = run.firstIndex + keep;
      }
      assert.ok(run.heldBytes >= 0, `held ${run.heldBytes} after step ${step}`);
    }
    run.dropFront(run.length);
    assert.equal(run.heldBytes, 0, `round ${round}: nothing held once empty`);
    assert.equal(run.payloadBytes, 0);
  }
  // A batch of one 60-byte entry holds far more than 60 bytes; a bound on held bytes keeps fewer.
  const small = new EntryRun(1);
  for (let index = 1; index <= 1000; index++) small.push(packPayloads([new Uint8Array(60)]), [1]);
  assert.ok(small.heldBytes >= 1000 * (60 + LENGTH_BYTES + 256), `held ${small.heldBytes}`);
  small.dropFrontTo(16 * 1024);
  assert.ok(small.heldBytes <= 16 * 1024 && small.length > 0 && small.length < 60, `kept ${small.length} entries, ${small.heldBytes} bytes`);
  assert.equal(small.nextIndex, 1001);
});
