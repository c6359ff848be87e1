/**
 * Codec micro-benchmark: a batch of 100 write entries with 128-byte values through the project's
 * codec — each entry encoded once (encodeEntry), the entries packed into one byte string, the
 * batch packed as an AppendEntries message (encode), and the reverse on the receiving side
 * (decode, the packed entries checked, then each entry decoded in place).
 */
import { decode, encode } from '../../src/messages/codec.js';
import { EntryDecoder, encodeEntry, EntryType } from '../../src/messages/entry.js';
import { LENGTH_BYTES, packedProblem, packPayloads, payloadLengthAt } from '../../src/messages/packed-entries.js';
import { Kind } from '../../src/messages/kinds.js';
import { measureSync, type MeasureOptions, type MicroResult } from './measure.js';

export const batchEntries = 100;
export const valueBytes = 128;

export function codecBenchmarks(options: MeasureOptions): MicroResult[] {
  const data = new Uint8Array(valueBytes).fill(120);
  const clientId = 'client-0123456789abcdef';
  const entries = (): Uint8Array[] => Array.from({ length: batchEntries }, (_, i) =>
    encodeEntry({ type: EntryType.write, clientId, callId: i + 1, firstUnacked: 1, data }));
  const message = (payloads: Uint8Array[]): unknown => ({
    k: Kind.AppendEntries, g: 'default', from: 'n1', term: 3, prevIndex: 1000, prevTerm: 3, leaderCommit: 990,
    terms: new Array<number>(batchEntries).fill(3), entries: packPayloads(payloads), requestId: 7,
  });
  const decoder = new EntryDecoder();
  const encoded = encode(message(entries()));
  let sink = 0;
  const results = [
    measureSync('codec encode', 'entries', batchEntries, () => { sink += encode(message(entries())).length; }, options,
      { batchEntries, valueBytes, batchBytes: encoded.length }),
    measureSync('codec decode', 'entries', batchEntries, () => {
      const decoded = decode(encoded) as { terms: number[]; entries: Uint8Array };
      const packed = decoded.entries;
      if (packedProblem(packed, decoded.terms.length) !== null) throw new Error('codec bench: malformed entries');
      for (let offset = 0; offset < packed.length;) {
        const start = offset + LENGTH_BYTES;
        const end = start + payloadLengthAt(packed, start);
        sink += decoder.decodeAt(packed, start, end).callId;
        offset = end;
      }
    }, options, { batchEntries, valueBytes, batchBytes: encoded.length }),
  ];
  if (sink < 0) throw new Error('unreachable');
  return results;
}
