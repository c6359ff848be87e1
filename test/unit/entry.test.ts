/**
 * The entry payload layout: every field comes back as written, client ids in any script (the
 * id is written as its UTF-8 bytes, encoded once per client), a run of one client's entries
 * decodes its id once and still gives each entry its own; an id over the limit is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EntryDecoder, encodeEntry, encodeEntryInto, entryClientIdBytesMax, entryClientIdUtf8, entryPayloadBytes, EntryType,
} from '../../src/messages/entry.js';
import { MalformedMessageError } from '../../src/errors.js';

test('entries written into one buffer decode to their fields, for client ids in any script', () => {
  const ids = ['c1', 'client-ü-✓-😀', '', 'c1', 'x'.repeat(300), 'c1'];
  const target = Buffer.alloc(20_000, 0xee);
  const spans: [number, number][] = [];
  let offset = 3;
  ids.forEach((id, k) => {
    const utf8 = entryClientIdUtf8(id);
    const data = Buffer.from(`data-${k}-${id}`);
    const end = encodeEntryInto(target, offset, EntryType.write, utf8, 1000 + k, 900 + k, data);
    assert.equal(end - offset, entryPayloadBytes(utf8.length, data.length));
    spans.push([offset, end]);
    offset = end;
  });
  assert.equal(target[offset], 0xee, 'nothing written past the last entry');
  const decoder = new EntryDecoder();
  ids.forEach((id, k) => {
    const entry = decoder.decodeAt(target, spans[k]![0], spans[k]![1]);
    assert.equal(entry.clientId, id);
    assert.equal(entry.callId, 1000 + k);
    assert.equal(entry.firstUnacked, 900 + k);
    assert.equal(Buffer.from(entry.data).toString(), `data-${k}-${id}`);
  });
  const single = encodeEntry({ type: EntryType.write, clientId: 'ü', callId: 7, firstUnacked: 1, data: Buffer.from('v') });
  assert.deepEqual(new EntryDecoder().decode(single).clientId, 'ü');
});

test('a client id over the limit is refused with its size', () => {
  assert.equal(entryClientIdUtf8('é'.repeat(entryClientIdBytesMax / 2)).length, entryClientIdBytesMax - 1);
  assert.throws(() => entryClientIdUtf8('é'.repeat(entryClientIdBytesMax / 2 + 1)),
    (error: unknown) => error instanceof MalformedMessageError && /client id of 65536 bytes is over 65535/.test(error.message));
});
