/**
 * CRC-32C: the standard check value, the empty input, incremental use and agreement of the
 * slicing-by-8 path with a bit-at-a-time reference on every length and alignment up to 64 bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '../../src/log/crc32c.js';

/** Bit-at-a-time reference, independent of the tables. */
function crc32cReference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test('crc32c of "123456789" is the standard check value 0xE3069283', () => {
  assert.equal(crc32c(Buffer.from('123456789', 'ascii')), 0xe3069283);
});

test('crc32c of the empty input is 0', () => {
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test('crc32c of 32 zero bytes matches RFC 3720 B.4', () => {
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
});

test('crc32c continues from an initial value', () => {
  const bytes = Buffer.from('The quick brown fox jumps over the lazy dog', 'ascii');
  for (let split = 0; split <= bytes.length; split++) {
    const partial = crc32c(bytes.subarray(0, split));
    assert.equal(crc32c(bytes.subarray(split), partial), crc32c(bytes));
  }
});

test('crc32c agrees with a bit-at-a-time reference on every length and offset', () => {
  const bytes = new Uint8Array(80);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 151 + 7) & 0xff;
  for (let start = 0; start < 8; start++) {
    for (let end = start; end <= start + 64; end++) {
      const expected = crc32cReference(bytes.subarray(start, end));
      assert.equal(crc32c(bytes, 0, start, end), expected, `range [${start}, ${end})`);
      assert.equal(crc32c(bytes.subarray(start, end)), expected);
    }
  }
});
