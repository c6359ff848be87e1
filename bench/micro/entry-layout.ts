/**
 * Why a log entry's payload has a fixed layout and the log records a table-driven CRC: one write
 * entry with a 128-byte value encoded and decoded in the entry layout (src/messages/entry.ts)
 * against the same fields as a msgpack array through the project's codec, and the CRC-32C of a
 * 128-byte record (src/log/crc32c.ts).
 */
import { decode, encode } from '../../src/messages/codec.js';
import { EntryDecoder, encodeEntry, EntryType } from '../../src/messages/entry.js';
import { crc32c } from '../../src/log/crc32c.js';
import { measureSync, type MeasureOptions, type MicroResult } from './measure.js';

const valueBytes = 128;

export function entryLayoutBenchmarks(options: MeasureOptions): MicroResult[] {
  const data = new Uint8Array(valueBytes).fill(120);
  const clientId = 'client-0123456789abcdef';
  const body = { type: EntryType.write, clientId, callId: 1, firstUnacked: 1, data };
  const layout = encodeEntry(body);
  const packed = encode([body.type, clientId, body.callId, body.firstUnacked, data]);
  const decoder = new EntryDecoder();
  let sink = 0;
  let callId = 1;
  const results = [
    measureSync('entry layout encode', 'entries', 1, () => {
      sink += encodeEntry({ ...body, callId: callId++ }).length;
    }, options, { valueBytes }),
    measureSync('entry as msgpack array encode', 'entries', 1, () => {
      sink += encode([body.type, clientId, callId++, body.firstUnacked, data]).length;
    }, options, { valueBytes }),
    measureSync('entry layout decode', 'entries', 1, () => {
      sink += decoder.decode(layout).callId;
    }, options, { valueBytes }),
    measureSync('entry as msgpack array decode', 'entries', 1, () => {
      sink += (decode(packed) as [number, string, number, number, Uint8Array])[2];
    }, options, { valueBytes }),
    measureSync('crc32c of a 128-byte record', 'records', 1, () => {
      sink += crc32c(data);
    }, options, { bytes: valueBytes }),
  ];
  if (sink < 0) throw new Error('unreachable');
  return results;
}
