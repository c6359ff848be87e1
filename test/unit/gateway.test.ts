/**
 * The input gateway's rules, one input each: the frame shape walk (what it accepts of raftline's
 * own messages, where each bound starts to refuse), the frame reader's length checks and
 * reassembly, the AppendEntries term rules, and the limits that configure them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frameShapeProblem } from '../../src/messages/frame-shape.js';
import { FrameReader, encodeFrame } from '../../src/messages/framing.js';
import { decodeInboundMessage, decodeServerToClientMessage, defaultFrameShape } from '../../src/messages/validate.js';
import { encode } from '../../src/messages/codec.js';
import { Kind } from '../../src/messages/kinds.js';
import { packPayloads } from '../../src/messages/packed-entries.js';
import { batchCallsMax, defaultLimits, indexMax, resolveLimits, termMax } from '../../src/limits.js';
import { encodeClockData, encodeEntry, EntryType, noopPayload } from '../../src/messages/entry.js';
import { parseLimits } from '../../src/server/options.js';
import { array32Header, map32Header, message, nestedArrays, packValue } from '../support/raw-msgpack.js';

const limits = { nestingDepthMax: 16, itemsMax: 65_536 };

function appendEntries(count: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    k: Kind.AppendEntries, g: 'default', from: 'n1', term: 3, prevIndex: 10, prevTerm: 2, leaderCommit: 9,
    terms: Array.from({ length: count }, () => 3),
    entries: packPayloads(Array.from({ length: count }, (_, i) => encodeEntry({ type: EntryType.write, clientId: 'c', callId: i + 1, firstUnacked: 1, data: new Uint8Array(128) }))),
    seq: 1, round: 0, ...fields,
  };
}

test('shape: raftline\'s own messages pass, a full AppendEntries batch included', () => {
  assert.equal(frameShapeProblem(encode(appendEntries(defaultLimits.appendBatchEntriesMax)), limits), null);
  assert.equal(frameShapeProblem(encode({ k: Kind.ClientRequest, g: 'default', clientId: 'c', callId: 1, firstUnacked: 1, type: 0, data: new Uint8Array(70_000) }), limits), null);
  const status = { id: 'n1', groupId: 'default', role: 'leader', term: 2 ** 40, leader: null, commit: 1, applied: 1, synced: 1, lastIndex: 1,
    stages: { receive: { count: 3, p50: 1.5, p99: -2, buckets: [[1, 2], [3, 4]] } } };
  assert.equal(frameShapeProblem(encode({ k: Kind.StatusReply, callId: 1, status }), limits), null);
});

test('shape: a full client batch passes the default limits, requests and error replies alike', () => {
  const calls = batchCallsMax;
  const requests = { k: Kind.ClientRequestBatch, g: 'default', clientId: 'c', firstUnacked: 1,
    callIds: Array.from({ length: calls }, (_, i) => i + 1), types: new Array<number>(calls).fill(0), data: new Array(calls).fill(new Uint8Array(16)) };
  assert.equal(frameShapeProblem(encode(requests), defaultFrameShape), null);
  const error = { code: 'NOT_LEADER', message: 'server n1 is not the leader', details: { leaderId: 'n2', leaderAddress: '127.0.0.1:7102' } };
  const replies = { k: Kind.ClientReplyBatch, callIds: requests.callIds, indexes: new Array<number>(calls).fill(0),
    results: new Array(calls).fill(null), errors: new Array(calls).fill(error) };
  assert.equal(frameShapeProblem(encode(replies), defaultFrameShape), null);
});

test('shape: nesting is refused one level past nestingDepthMax, not at it', () => {
  // The message map is level 1, so `extra` may hold 15 levels of arrays.
  assert.equal(frameShapeProblem(message({ k: 1 }, { extra: nestedArrays(15) }), limits), null);
  assert.match(frameShapeProblem(message({ k: 1 }, { extra: nestedArrays(16) }), limits) ?? '', /nesting deeper than 16/);
  assert.match(frameShapeProblem(message({ k: 1 }, { extra: nestedArrays(100_000) }), limits) ?? '', /nesting/);
});

test('shape: values are counted; one past itemsMax is refused', () => {
  // A map of one pair (3 values: the map, a key, the array) holding an array of n zeros.
  const withZeros = (n: number): Uint8Array => message({}, { x: Buffer.concat([array32Header(n), Buffer.alloc(n, 0)]) });
  assert.equal(frameShapeProblem(withZeros(100 - 3), { nestingDepthMax: 16, itemsMax: 100 }), null);
  assert.match(frameShapeProblem(withZeros(100 - 2), { nestingDepthMax: 16, itemsMax: 100 }) ?? '', /more than 100 values/);
});

test('shape: counts and lengths beyond the bytes left are refused at their header', () => {
  assert.match(frameShapeProblem(message({}, { x: Buffer.concat([array32Header(0xffffffff), Buffer.alloc(1000)]) }), limits) ?? '', /declares 4294967295 elements, 1000 bytes/);
  // A map needs two bytes per pair at least.
  assert.match(frameShapeProblem(message({}, { x: Buffer.concat([map32Header(10), Buffer.alloc(19)]) }), limits) ?? '', /map declares 10/);
  assert.equal(frameShapeProblem(message({}, { x: Buffer.concat([map32Header(1), packValue('a'), packValue(1)]) }), limits), null);
  assert.match(frameShapeProblem(message({}, { x: Buffer.from([0xc6, 0, 0, 1, 0, 1, 2]) }), limits) ?? '', /declares 260 bytes/);
  assert.match(frameShapeProblem(Buffer.from([0x81, 0xa1, 0x6b, 0xdb, 0, 0]), limits) ?? '', /ends inside a length/);
  assert.match(frameShapeProblem(Buffer.from([0x82, 0xa1, 0x6b, 0x01]), limits) ?? '', /map declares 2 elements, 3 bytes/);
  assert.match(frameShapeProblem(Buffer.from([0x82, 0xa1, 0x6b, 0x01, 0xa1, 0x6a]), limits) ?? '', /ends inside a value/);
});

test('shape: empty frames, non-map tops, extension types, 0xc1, non-string keys and trailing bytes are refused', () => {
  assert.equal(frameShapeProblem(new Uint8Array(0), limits), 'empty frame');
  assert.equal(frameShapeProblem(encode([1, 2]), limits), 'frame is not a message map');
  assert.equal(frameShapeProblem(encode(5), limits), 'frame is not a message map');
  assert.match(frameShapeProblem(message({}, { x: Buffer.from([0xd4, 0x01, 0x00]) }), limits) ?? '', /extension type 0xd4/);
  assert.match(frameShapeProblem(message({}, { x: Buffer.from([0xc7, 0x01, 0x05, 0x00]) }), limits) ?? '', /extension type 0xc7/);
  assert.match(frameShapeProblem(message({}, { x: Buffer.from([0xc1]) }), limits) ?? '', /0xc1/);
  assert.equal(frameShapeProblem(Buffer.from([0x81, 0x01, 0x01]), limits), 'a map key is not a string');
  assert.match(frameShapeProblem(Buffer.concat([encode({ k: 1 }), Buffer.from([0])]), limits) ?? '', /1 trailing bytes/);
});

test('frame reader: an empty body or a length over the limit throws at the header', () => {
  assert.throws(() => new FrameReader(100).push(Buffer.from([0, 0, 0, 0])), { code: 'MALFORMED_MESSAGE', message: /empty body/ });
  assert.throws(() => new FrameReader(100).push(Buffer.from([0, 0, 0, 101])), { code: 'MALFORMED_MESSAGE', message: /101 bytes is over the limit of 100/ });
  assert.throws(() => new FrameReader(100).push(Buffer.from([0xff, 0xff, 0xff, 0xff])), { code: 'MALFORMED_MESSAGE' });
});

test('frame reader: a frame in one-byte chunks and a large frame in many chunks come out whole, with partialBytes between', () => {
  const small = encodeFrame({ k: 1, v: 'x' });
  const reader = new FrameReader(1 << 24);
  for (let i = 0; i < small.length - 1; i++) {
    assert.deepEqual(reader.push(small.subarray(i, i + 1)), []);
    assert.equal(reader.partialBytes, i + 1);
  }
  const [body] = reader.push(small.subarray(small.length - 1));
  assert.deepEqual(body, small.subarray(4));
  assert.equal(reader.partialBytes, 0);

  const large = encodeFrame({ k: 1, data: new Uint8Array(4 << 20).fill(7) });
  const two = Buffer.concat([large, small]);
  const bodies: Buffer[] = [];
  for (let offset = 0; offset < two.length; offset += 65_536) bodies.push(...reader.push(two.subarray(offset, offset + 65_536)));
  assert.equal(bodies.length, 2);
  assert.deepEqual(bodies[0], large.subarray(4));
  assert.deepEqual(bodies[1], small.subarray(4));
});

test('AppendEntries: entry terms must be >= 1, non-decreasing, from prevTerm up to the request term', () => {
  const decodes = (fields: Record<string, unknown>): unknown => decodeInboundMessage(encode(appendEntries(2, fields)));
  assert.equal((decodes({}) as { k: number }).k, Kind.AppendEntries);
  assert.equal((decodes({ terms: [2, 3] }) as { k: number }).k, Kind.AppendEntries);
  assert.throws(() => decodes({ terms: [3, 2] }), { code: 'MALFORMED_MESSAGE', message: /entry term 2 at position 1/ });
  assert.throws(() => decodes({ terms: [1, 3] }), { code: 'MALFORMED_MESSAGE', message: /entry term 1 at position 0 is not in \[2, 3\]/ });
  assert.throws(() => decodes({ terms: [3, 4] }), { code: 'MALFORMED_MESSAGE', message: /entry term 4/ });
  assert.throws(() => decodes({ prevIndex: 0, prevTerm: 0, terms: [0, 1] }), { code: 'MALFORMED_MESSAGE', message: /entry term 0/ });
  assert.throws(() => decodes({ terms: [3, 2 ** 53] }), { code: 'MALFORMED_MESSAGE' });
  assert.throws(() => decodes({ prevIndex: 0, prevTerm: 1 }), { code: 'MALFORMED_MESSAGE', message: /previous entry/ });
  assert.throws(() => decodes({ prevTerm: 4 }), { code: 'MALFORMED_MESSAGE', message: /previous entry/ });
  assert.throws(() => decodes({ terms: [3] }), { code: 'MALFORMED_MESSAGE', message: /do not match their 1 terms: \d+ bytes after the last/ });
});

test('AppendEntries: the packed entries must hold exactly one payload per term, each inside the bytes', () => {
  const decodes = (fields: Record<string, unknown>): unknown => decodeInboundMessage(encode(appendEntries(2, fields)));
  const first = encodeEntry({ type: EntryType.write, clientId: 'c', callId: 1, firstUnacked: 1, data: new Uint8Array(0) });
  const two = packPayloads([first, noopPayload]);
  assert.equal((decodes({ entries: two }) as { k: number }).k, Kind.AppendEntries, 'an entry with no data is an entry');
  assert.throws(() => decodes({ terms: [3, 3, 3], entries: two }), { code: 'MALFORMED_MESSAGE', message: /entry 2 of 3: length word past the end/ });
  const tooLong = Buffer.from(two);
  tooLong.writeUInt32BE(two.length - 4 - 2, 0); // entry 0 swallows all but two bytes
  assert.throws(() => decodes({ entries: tooLong }), { code: 'MALFORMED_MESSAGE', message: /entry 1 of 2: length word past the end/ });
  const huge = Buffer.from(two);
  huge.writeUInt32BE(0xffff_ffff, 0);
  assert.throws(() => decodes({ entries: huge }), { code: 'MALFORMED_MESSAGE', message: /entry 0 of 2: payload runs past the end/ });
  assert.throws(() => decodes({ entries: Buffer.concat([two, Buffer.from([0])]) }), { code: 'MALFORMED_MESSAGE', message: /1 bytes after the last of 2/ });
  assert.throws(() => decodes({ entries: [new Uint8Array(5), new Uint8Array(0)] }), { code: 'MALFORMED_MESSAGE', message: /entries/ });
});

test('AppendEntries: every entry must be one this server can apply, or the frame is refused before it reaches the log', () => {
  const decodes = (payloads: Uint8Array[]): unknown => decodeInboundMessage(encode(appendEntries(payloads.length, { entries: packPayloads(payloads) })));
  const good = encodeEntry({ type: EntryType.write, clientId: 'client-7', callId: 12, firstUnacked: 9, data: new Uint8Array(128) });
  assert.equal((decodes([good, noopPayload, good]) as { k: number }).k, Kind.AppendEntries);
  const unknownType = Buffer.from(good);
  unknownType[0] = 71;
  assert.throws(() => decodes([good, unknownType]), { code: 'MALFORMED_MESSAGE', message: /entry 1 of 2: unknown entry type 71/ });
  assert.throws(() => decodes([good.subarray(0, 10)]), { code: 'MALFORMED_MESSAGE', message: /entry 0 of 1: 10 bytes, shorter than/ });
  const longId = Buffer.from(good);
  longId.writeUInt16BE(5000, 1);
  assert.throws(() => decodes([longId]), { code: 'MALFORMED_MESSAGE', message: /client id runs past the end/ });
  const clock = encodeEntry({ type: EntryType.clock, clientId: '', callId: 0, firstUnacked: 0, data: encodeClockData(1000, 60_000) });
  assert.equal((decodes([clock]) as { k: number }).k, Kind.AppendEntries);
  const badClock = encodeEntry({ type: EntryType.clock, clientId: '', callId: 0, firstUnacked: 0, data: encodeClockData(Number.NaN, 60_000) });
  assert.throws(() => decodes([badClock]), { code: 'MALFORMED_MESSAGE', message: /clock entry/ });
  assert.throws(() => decodes([clock.subarray(0, clock.length - 1)]), { code: 'MALFORMED_MESSAGE', message: /clock entry/ });
  for (const callId of [Number.NaN, -1, 1.5, 2 ** 53]) {
    const badCall = Buffer.from(good);
    badCall.writeDoubleBE(callId, 3 + 'client-7'.length);
    assert.throws(() => decodes([badCall]), { code: 'MALFORMED_MESSAGE', message: /call ids/ }, `callId ${callId}`);
  }
});

test('terms, indexes and counters over their ceilings are refused with the value and the ceiling, and never reach the core', () => {
  const vote = { k: Kind.VoteResponse, g: 'default', from: 'n2', preVote: false, term: termMax, granted: false };
  assert.equal((decodeInboundMessage(encode(vote)) as { term: number }).term, termMax, 'the ceiling itself is a term');
  assert.throws(() => decodeInboundMessage(encode({ ...vote, term: termMax + 1 })),
    { code: 'MALFORMED_MESSAGE', message: new RegExp(`field 'term' is ${termMax + 1}, over the ceiling of ${termMax}`) });
  assert.throws(() => decodeInboundMessage(encode({ ...vote, term: 2 ** 53 - 1 })), { code: 'MALFORMED_MESSAGE', message: /over the ceiling/ });
  const request = { k: Kind.VoteRequest, g: 'default', from: 'n2', preVote: true, term: 5, candidateId: 'n2', lastIndex: 3, lastTerm: 2 };
  assert.throws(() => decodeInboundMessage(encode({ ...request, lastTerm: termMax + 1 })), { code: 'MALFORMED_MESSAGE', message: /'lastTerm'/ });
  assert.throws(() => decodeInboundMessage(encode({ ...request, lastIndex: indexMax + 1 })), { code: 'MALFORMED_MESSAGE', message: /'lastIndex' is \d+, over the ceiling/ });
  assert.throws(() => decodeInboundMessage(encode(appendEntries(0, { seq: indexMax + 1 }))), { code: 'MALFORMED_MESSAGE', message: /'seq'/ });
  assert.throws(() => decodeInboundMessage(encode(appendEntries(0, { prevTerm: termMax + 1, term: termMax + 1 }))), { code: 'MALFORMED_MESSAGE', message: /'term'/ });
  const batch = { k: Kind.ClientRequestBatch, g: 'default', clientId: 'c', firstUnacked: 1, callIds: [1, indexMax + 1], types: [0, 0], data: [new Uint8Array(1), new Uint8Array(1)] };
  assert.throws(() => decodeInboundMessage(encode(batch)), { code: 'MALFORMED_MESSAGE', message: /'callIds'/ });
  assert.ok(termMax + 1 < Number.MAX_SAFE_INTEGER / 2 && indexMax * 2 < Number.MAX_SAFE_INTEGER, 'room to spare under 2^53');
});

test('the gateway refuses by shape before decoding, on the client side too', () => {
  const deep = message({ k: Kind.StatusReply, callId: 1 }, { status: nestedArrays(50) });
  assert.throws(() => decodeServerToClientMessage(deep), { code: 'MALFORMED_MESSAGE', message: /before decoding: nesting/ });
  assert.throws(() => decodeInboundMessage(deep, { nestingDepthMax: 64, itemsMax: 20 }), { code: 'MALFORMED_MESSAGE', message: /more than 20 values/ });
});

test('limits: the new bounds are positive integers with their relations checked; --limits parses names and integers', () => {
  assert.equal(resolveLimits().frameDeadlineMs, defaultLimits.frameDeadlineMs);
  assert.throws(() => resolveLimits({ frameItemsMax: 2 * defaultLimits.appendBatchEntriesMax }), { code: 'CONFIGURATION', message: /frameItemsMax must hold a full client batch/ });
  assert.throws(() => resolveLimits({ appendBatchEntriesMax: defaultLimits.frameItemsMax }), { code: 'CONFIGURATION', message: /frameItemsMax must hold a full AppendEntries batch/ });
  assert.equal(resolveLimits({ appendBatchEntriesMax: defaultLimits.frameItemsMax - 64 }).appendBatchEntriesMax, defaultLimits.frameItemsMax - 64);
  assert.throws(() => resolveLimits({ frameNestingDepthMax: 7 }), { code: 'CONFIGURATION', message: /frameNestingDepthMax/ });
  assert.throws(() => resolveLimits({ connectionsMax: 1 }), { code: 'CONFIGURATION', message: /connectionsMax/ });
  assert.throws(() => resolveLimits({ frameDeadlineMs: 0 }), { code: 'CONFIGURATION', message: /frameDeadlineMs/ });
  assert.throws(() => resolveLimits({ idleBeforeFirstFrameMs: 1.5 }), { code: 'CONFIGURATION', message: /idleBeforeFirstFrameMs/ });
  assert.deepEqual(parseLimits('frameDeadlineMs=2000,connectionsMax=64'), { frameDeadlineMs: 2000, connectionsMax: 64 });
  assert.deepEqual(parseLimits(''), {});
  assert.throws(() => parseLimits('frameDeadline=2000'), { code: 'CONFIGURATION', message: /does not set a limit/ });
  assert.throws(() => parseLimits('connectionsMax=lots'), { code: 'CONFIGURATION', message: /must be an integer/ });
});
