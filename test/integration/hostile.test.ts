/**
 * Hostile input against a live cluster of three real server processes, one test per case. Each
 * case runs inside `HostileCluster.attack`, which checks around it that a well-behaved client
 * keeps writing, that no server's term, leader or log moved except by that client's writes, and
 * that the attacked server's RSS stayed within a bound. The case itself checks what the hostile
 * side got back: a typed error, the protocol's own refusal, or a closed connection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { testPort } from '../support/ports.js';
import { appendEntries, errorOf, HostileCluster, hostileLimits } from '../support/hostile-cluster.js';
import { RawConnection, type Reply } from '../support/raw-connection.js';
import {
  array32Header, float64, frame, header, map32Header, message, nestedArrays, packValue, uint64,
} from '../support/raw-msgpack.js';
import { Kind } from '../../src/messages/kinds.js';
import { encodeFrame } from '../../src/messages/framing.js';
import { encode } from '../../src/messages/codec.js';
import { packPayloads } from '../../src/messages/packed-entries.js';
import { encodeEntry, EntryType } from '../../src/messages/entry.js';
import { sleep, type LocalNode } from '../../src/cluster/local-cluster.js';

let hostile: HostileCluster;

before(async () => {
  hostile = await HostileCluster.start(testPort(19601));
});

after(async () => {
  await hostile?.stop();
});

const caseTimeout = { timeout: 30_000 };
/** How soon a refused frame must close its connection (generous: the machine may be loaded). */
const closeWithinMs = 3000;

/** Sends `bytes` on a fresh connection and expects the server to close it without a reply. */
async function expectClosed(node: LocalNode, bytes: Uint8Array, what: string): Promise<void> {
  const connection = await RawConnection.open(node.address);
  try {
    connection.write(bytes);
    await connection.closed(closeWithinMs).catch((error: Error) => assert.fail(`${what}: ${error.message}`));
    assert.equal(connection.replies.length, 0, `${what}: the server replied before closing`);
  } finally {
    connection.destroy();
  }
}


function clientRequest(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { k: Kind.ClientRequest, g: 'default', clientId: 'hostile', callId: 1, firstUnacked: 1, type: 0, data: encode(['put', 'hostile', 'x']), ...fields };
}

function requestBatch(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    k: Kind.ClientRequestBatch, g: 'default', clientId: 'hostile', firstUnacked: 1, callIds: [1, 2], types: [0, 0],
    data: [encode(['put', 'hostile', 'x']), encode(['put', 'hostile', 'y'])], ...fields,
  };
}

/** Packed entries as a leader sends them: one client write per value. */
function entriesOf(...values: unknown[]): Uint8Array {
  return packPayloads(values.map((value, i) => encodeEntry({ type: EntryType.write, clientId: 'hostile', callId: i + 1, firstUnacked: 1, data: encode(value) })));
}


test('truncated frame: a frame cut short by the end of the stream closes the connection', caseTimeout, async () => {
  const leader = await hostile.leader();
  await hostile.attack(leader, async () => {
    const whole = encodeFrame(clientRequest());
    const connection = await RawConnection.open(leader.address);
    connection.write(whole.subarray(0, whole.length - 3));
    connection.socket.end();
    const afterMs = await connection.closed(closeWithinMs);
    assert.ok(afterMs < hostileLimits.frameDeadlineMs, `closed on the end of the stream, not by the frame deadline (${afterMs} ms)`);
    assert.equal(connection.replies.length, 0);
    // A header cut in two, then the end of the stream.
    const half = await RawConnection.open(leader.address);
    half.write(header(100).subarray(0, 2));
    half.socket.end();
    await half.closed(closeWithinMs);
  });
});

test('zero length: a frame with an empty body closes the connection, and what follows it is not read', caseTimeout, async () => {
  const leader = await hostile.leader();
  await hostile.attack(leader, async () => {
    await expectClosed(leader, Buffer.concat([header(0), encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: 1 })]), 'zero length');
  });
});

test('negative length: a header with the top bit set (a negative i32, a huge u32) closes the connection', caseTimeout, async () => {
  const leader = await hostile.leader();
  await hostile.attack(leader, async () => {
    for (const length of [0xffffffff, 0x80000000, 0x80000001]) {
      await expectClosed(leader, Buffer.concat([header(length), Buffer.alloc(64, 0x01)]), `length 0x${length.toString(16)}`);
    }
  });
});

test('oversized length: a frame over frameBytesMax is refused at its header, before its body is buffered', caseTimeout, async () => {
  const leader = await hostile.leader();
  await hostile.attack(leader, async () => {
    const connection = await RawConnection.open(leader.address);
    connection.write(header(hostileLimits.frameBytesMax + 1));
    // The body keeps coming; the server must not wait for it nor keep it.
    for (let i = 0; i < 8 && !connection.isClosed; i++) connection.write(Buffer.alloc(256 * 1024, 0x01));
    await connection.closed(closeWithinMs);
    assert.equal(connection.replies.length, 0);
  });
});

test('malformed msgpack: bytes that are not msgpack, or end inside a value, close the connection', caseTimeout, async () => {
  const leader = await hostile.leader();
  await hostile.attack(leader, async () => {
    await expectClosed(leader, frame(Buffer.alloc(10, 0xc1)), 'bytes 0xc1');
    // A map declaring five pairs, holding one.
    await expectClosed(leader, frame(Buffer.concat([Buffer.from([0x85]), packValue('k'), packValue(Kind.StatusRequest)])), 'short map');
    // A string that runs past the end of the frame.
    await expectClosed(leader, frame(Buffer.concat([Buffer.from([0x81]), packValue('k'), Buffer.from([0xdb, 0, 0, 1, 0]), Buffer.alloc(10)])), 'long string');
    // A msgpack extension type (raftline sends none).
    await expectClosed(leader, frame(message(clientRequest(), { data: Buffer.from([0xd4, 0x01, 0x00]) })), 'extension type');
    // Trailing bytes after a whole message.
    await expectClosed(leader, frame(Buffer.concat([encode({ k: Kind.StatusRequest, g: 'default', callId: 1 }), Buffer.from([0x00])])), 'trailing bytes');
  });
});

test('deep nesting: arrays nested past frameNestingDepthMax close the connection before decoding', caseTimeout, async () => {
  const leader = await hostile.leader();
  await hostile.attack(leader, async () => {
    // Deep enough to overflow a recursive decoder's stack, in a field no schema names.
    await expectClosed(leader, frame(message(clientRequest(), { extra: nestedArrays(200_000) })), '200,000 levels');
    // Just past the default limit of 16 (the message map is level 1).
    await expectClosed(leader, frame(message(clientRequest(), { extra: nestedArrays(16) })), '17 levels');
    // Maps nest the same way.
    const nestedMaps = Buffer.concat([...Array.from({ length: 40 }, () => Buffer.concat([Buffer.from([0x81]), packValue('a')])), packValue(0)]);
    await expectClosed(leader, frame(message(clientRequest(), { extra: nestedMaps })), '40 nested maps');
  });
  // Within the limit, an unknown field does not close the connection: the request is served.
  const connection = await RawConnection.open(leader.address);
  try {
    connection.write(frame(message({ k: Kind.StatusRequest, g: 'default', callId: 7 }, { extra: nestedArrays(10) })));
    const reply = await connection.reply(0, 5000);
    assert.equal(reply['k'], Kind.StatusReply);
  } finally {
    connection.destroy();
  }
});

test('declared count: an array or map header declaring 2^32 - 1 elements over a few MiB is refused without allocating', caseTimeout, async () => {
  const leader = await hostile.leader();
  const report = await hostile.attack(leader, async () => {
    const fill = Buffer.alloc(hostileLimits.frameBytesMax - 1024, 0x00);
    await expectClosed(leader, frame(message(clientRequest(), { extra: Buffer.concat([array32Header(0xffffffff), fill]) })), 'array32 of 2^32-1');
    await expectClosed(leader, frame(message(clientRequest(), { extra: Buffer.concat([map32Header(0xffffffff), fill]) })), 'map32 of 2^32-1');
    // The top level itself declaring 2^32 - 1 pairs.
    await expectClosed(leader, frame(Buffer.concat([map32Header(0xffffffff), packValue('k'), packValue(Kind.ClientRequest), fill.subarray(0, 1024 * 1024)])), 'top-level map32');
    // A truthful count of four million empty arrays: each one byte on the wire, tens of bytes
    // decoded; more values than frameItemsMax.
    const many = Buffer.concat([array32Header(fill.length), Buffer.alloc(fill.length, 0x90)]);
    await expectClosed(leader, frame(message(clientRequest(), { extra: many })), 'four million empty arrays');
    // A batch of a legitimate kind with 30,000 calls: 90,000 values, over frameItemsMax.
    const calls = 30_000;
    await expectClosed(leader, encodeFrame(requestBatch({
      callIds: Array.from({ length: calls }, (_, i) => i + 1), types: new Array<number>(calls).fill(0), data: new Array(calls).fill(new Uint8Array(1)),
    })), 'a batch of 30,000 calls');
  });
  assert.ok(report.rssGrowthBytes < 48 * 2 ** 20);
});

test('unknown message kinds: unknown, wrong-direction, missing or non-numeric kinds close the connection', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  await hostile.attack(leader, async () => {
    for (const target of [leader, follower]) {
      await expectClosed(target, encodeFrame({ k: 99, g: 'default' }), 'kind 99');
      await expectClosed(target, encodeFrame({ k: Kind.LogAppend, seq: 1, firstIndex: 1, terms: [1], entries: packPayloads([new Uint8Array(1)]) }), 'an actor kind');
      await expectClosed(target, encodeFrame({ k: Kind.ClientReply, callId: 1, ok: true, result: null, error: null, index: 0 }), 'a reply sent to a server');
      await expectClosed(target, encodeFrame({ k: Kind.AppendEntriesReply, g: 'default', from: 'n2', term: 1, success: true, matchIndex: 1, nextIndexHint: 2, seq: 1, round: 0 }), 'an AppendEntries reply on an inbound connection');
      await expectClosed(target, encodeFrame({ g: 'default', callId: 1 }), 'no kind');
      await expectClosed(target, encodeFrame({ k: 'ClientRequest', g: 'default' }), 'a string kind');
      await expectClosed(target, encodeFrame([Kind.StatusRequest, 'default', 1]), 'an array, not a map');
      await expectClosed(target, encodeFrame(clientRequest({ type: 7 })), 'an unknown request type');
      await expectClosed(target, encodeFrame(requestBatch({ types: [0, 7] })), 'an unknown request type in a batch');
      await expectClosed(target, encodeFrame(requestBatch({ callIds: [1, 2, 3] })), 'batch columns of different lengths');
    }
  });
});

test('wrong group id: clients get GROUP_MISMATCH for their call, servers a GROUP_MISMATCH refusal; the connection serves on', caseTimeout, async () => {
  const leader = await hostile.leader();
  const { term } = await hostile.statusOf(leader);
  await hostile.attack(leader, async () => {
    const connection = await RawConnection.open(leader.address);
    try {
      connection.write(encodeFrame(clientRequest({ g: 'other', callId: 11 })));
      let reply = await connection.reply(0, 5000);
      assert.equal(reply['k'], Kind.ClientReply);
      assert.equal(reply['callId'], 11);
      assert.equal(errorOf(reply).code, 'GROUP_MISMATCH');
      assert.match(errorOf(reply).message, /other/);

      connection.write(encodeFrame({ k: Kind.StatusRequest, g: 'other', callId: 12 }));
      reply = await connection.reply(1, 5000);
      assert.equal(reply['callId'], 12);
      assert.equal(errorOf(reply).code, 'GROUP_MISMATCH');

      connection.write(encodeFrame(appendEntries({ g: 'other', from: 'n2', term: term + 5 })));
      reply = await connection.reply(2, 5000);
      assert.equal(reply['k'], Kind.Refused);
      assert.equal(errorOf(reply).code, 'GROUP_MISMATCH');

      connection.write(encodeFrame({ k: Kind.PeerHello, g: 'other', from: 'n2' }));
      reply = await connection.reply(3, 5000);
      assert.equal(errorOf(reply).code, 'GROUP_MISMATCH');

      connection.write(encodeFrame(requestBatch({ g: 'other', callIds: [31, 32] })));
      reply = await connection.reply(4, 5000);
      assert.equal(reply['k'], Kind.ClientReplyBatch);
      assert.deepEqual(reply['callIds'], [31, 32]);
      assert.deepEqual((reply['errors'] as { code: string }[]).map((error) => error.code), ['GROUP_MISMATCH', 'GROUP_MISMATCH']);

      connection.write(encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: 13 }));
      reply = await connection.reply(5, 5000);
      assert.equal(reply['k'], Kind.StatusReply, 'the same connection is served after the refusals');
    } finally {
      connection.destroy();
    }
  });
});

test('unknown sender id: election messages from a non-member get UNKNOWN_PEER, even with a higher term; its AppendEntries only on its own hello', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const { term, lastIndex } = await hostile.statusOf(leader);
  await hostile.attack(leader, async () => {
    for (const target of [leader, follower]) {
      let connection = await RawConnection.open(target.address);
      try {
        const messages = [
          { k: Kind.VoteRequest, g: 'default', from: 'mallory', preVote: false, term: term + 100, candidateId: 'mallory', lastIndex: 1e9, lastTerm: term + 100 },
          { k: Kind.VoteRequest, g: 'default', from: 'n2', preVote: false, term: term + 100, candidateId: 'mallory', lastIndex: 1e9, lastTerm: term + 100 },
          { k: Kind.VoteResponse, g: 'default', from: 'mallory', preVote: false, term: term + 100, granted: true },
          { k: Kind.TimeoutNow, g: 'default', from: 'mallory', term: term + 100 },
          { k: Kind.PeerHello, g: 'default', from: 'mallory' },
          appendEntries({ from: target.id, term: term + 100 }),
        ];
        for (let i = 0; i < messages.length; i++) {
          connection.write(encodeFrame(messages[i]));
          const reply = await connection.reply(i, 5000);
          assert.equal(reply['k'], Kind.Refused, `message ${i}`);
          assert.equal(errorOf(reply).code, 'UNKNOWN_PEER', `message ${i}`);
        }
      } finally {
        connection.destroy();
      }
      // A leader's AppendEntries is heard from an id outside the configuration (Raft thesis §4.1),
      // but only on a connection opened with that id's hello; here with a stale term, which it is
      // answered with the current one, as any stale leader is.
      connection = await RawConnection.open(target.address);
      try {
        connection.write(encodeFrame(appendEntries({ from: 'mallory', term: term + 100 })));
        const refused = await connection.reply(0, 5000);
        assert.deepEqual([refused['k'], errorOf(refused).code], [Kind.Refused, 'PROTOCOL_VIOLATION'], 'AppendEntries without a hello');
        await connection.closed(5000);
      } finally {
        connection.destroy();
      }
      connection = await RawConnection.asPeer(target.address, 'mallory');
      try {
        connection.write(encodeFrame(appendEntries({ from: 'mallory', term: term - 1, prevIndex: lastIndex, prevTerm: term - 1 })));
        const answers = [await connection.reply(0, 5000), await connection.reply(1, 5000)];
        const answer = answers.find((reply) => reply['k'] === Kind.AppendEntriesReply)!;
        assert.deepEqual([answer['success'], answer['term']], [false, term]);
      } finally {
        connection.destroy();
      }
    }
  });
});

test('stale term: server messages with a term below the current one are answered with the current term and change nothing', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const other = hostile.cluster.nodes.find((node) => node.id !== leader.id && node.id !== follower.id)!;
  const { term, lastIndex } = await hostile.statusOf(leader);
  const stale = term - 1;
  await hostile.attack(follower, async () => {
    // To a follower, from the leader's id; and to the leader, from a follower's id. The reply is
    // the protocol's refusal: success false with the current term, which makes a real stale
    // leader step down (§5.1). The log and term stay as they are.
    for (const [target, from] of [[follower, leader.id], [leader, other.id]] as const) {
      const connection = await RawConnection.asPeer(target.address, from);
      try {
        connection.write(encodeFrame(appendEntries({
          from, term: stale, prevIndex: lastIndex, prevTerm: stale, leaderCommit: lastIndex + 10,
          terms: [stale, stale], entries: entriesOf(['put', 'stale', '1'], ['put', 'stale', '2']),
        })));
        const reply = await connection.reply(0, 5000);
        assert.equal(reply['k'], Kind.AppendEntriesReply);
        assert.equal(reply['success'], false);
        assert.equal(reply['term'], term);
        // Stale votes: refused by the core; the answer goes to the real member, not here.
        connection.write(encodeFrame({ k: Kind.VoteRequest, g: 'default', from, preVote: false, term: stale, candidateId: from, lastIndex: 1e9, lastTerm: stale }));
        connection.write(encodeFrame({ k: Kind.VoteResponse, g: 'default', from, preVote: false, term: stale, granted: true }));
        connection.write(encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: 5 }));
        const status = await connection.reply(1, 5000);
        assert.equal(status['k'], Kind.StatusReply, 'nothing but the status reply came back, and the connection is open');
      } finally {
        connection.destroy();
      }
    }
  });
});

test('AppendEntries far past the log: a follower refuses with its own next index; a second leader for the term is refused', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const other = hostile.cluster.nodes.find((node) => node.id !== leader.id && node.id !== follower.id)!;
  const { term } = await hostile.statusOf(leader);
  await hostile.attack(follower, async () => {
    const { lastIndex } = await hostile.statusOf(follower);
    const connection = await RawConnection.asPeer(follower.address, leader.id);
    const fromOther = await RawConnection.asPeer(follower.address, other.id);
    try {
      connection.write(encodeFrame(appendEntries({
        from: leader.id, term, prevIndex: lastIndex + 1_000_000_000, prevTerm: term, leaderCommit: lastIndex + 1_000_000_000,
        terms: [term], entries: entriesOf(['put', 'far', 'x']),
      })));
      const reply = await connection.reply(0, 5000);
      assert.equal(reply['k'], Kind.AppendEntriesReply);
      assert.equal(reply['success'], false);
      assert.equal(reply['term'], term);
      assert.ok((reply['nextIndexHint'] as number) <= lastIndex + 1 + 1000, `hint ${String(reply['nextIndexHint'])} is near the follower's log end ${lastIndex}`);
      // The same term from another member than the leader this follower knows: a second leader.
      fromOther.write(encodeFrame(appendEntries({ from: other.id, term, prevIndex: lastIndex + 1_000_000_000, prevTerm: term })));
      const second = await fromOther.reply(0, 5000);
      assert.equal(second['k'], Kind.Refused);
      assert.equal(errorOf(second).code, 'PROTOCOL_VIOLATION');
      assert.match(errorOf(second).message, /claims to lead term/);
    } finally {
      connection.destroy();
      fromOther.destroy();
    }
    // To the leader itself, in its own term: once an assertion that stopped the server.
    const toLeader = await RawConnection.asPeer(leader.address, follower.id);
    try {
      toLeader.write(encodeFrame(appendEntries({ from: follower.id, term, prevIndex: 1_000_000_000, prevTerm: term })));
      const reply = await toLeader.reply(0, 5000);
      assert.equal(reply['k'], Kind.Refused);
      assert.equal(errorOf(reply).code, 'PROTOCOL_VIOLATION');
    } finally {
      toLeader.destroy();
    }
  });
});

test('AppendEntries contradicting committed entries is refused with PROTOCOL_VIOLATION, not asserted', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const { term } = await hostile.statusOf(leader);
  await hostile.attack(follower, async () => {
    const { commit } = await hostile.statusOf(follower);
    assert.ok(commit >= 3);
    // From the leader's id in its term: entries 1-3 in the current term, where the committed
    // entries 1-3 are of earlier terms (the cluster failed over once before the tests).
    const connection = await RawConnection.asPeer(follower.address, leader.id);
    try {
      connection.write(encodeFrame(appendEntries({
        from: leader.id, term, prevIndex: 0, prevTerm: 0, leaderCommit: commit,
        terms: [term, term, term], entries: entriesOf(['put', 'a', '1'], ['put', 'b', '2'], ['put', 'c', '3']),
      })));
      const reply = await connection.reply(0, 5000);
      assert.equal(reply['k'], Kind.Refused);
      assert.equal(errorOf(reply).code, 'PROTOCOL_VIOLATION');
      assert.equal(errorOf(reply).details['index'], 1);
    } finally {
      connection.destroy();
    }
  });
});

test('terms and indexes over 2^53, negative or not integers, packed entries that do not match their terms close the connection', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const { term } = await hostile.statusOf(leader);
  await hostile.attack(follower, async () => {
    const base = appendEntries({ from: leader.id, term, prevIndex: 0, prevTerm: 0 });
    const cases: [string, Uint8Array][] = [
      ['term 2^60 as uint64', message(base, { term: uint64(2n ** 60n) })],
      ['term 2^53 as uint64', message(base, { term: uint64(2n ** 53n) })],
      ['prevIndex 2^64-1', message(base, { prevIndex: uint64(2n ** 64n - 1n) })],
      ['leaderCommit 1.5', message(base, { leaderCommit: float64(1.5) })],
      ['term NaN', message(base, { term: float64(Number.NaN) })],
      ['term Infinity', message(base, { term: float64(Number.POSITIVE_INFINITY) })],
      ['term -1', message(base, { term: packValue(-1) })],
      ['entry term 2^53', message({ ...base, entries: entriesOf(['put', 'a', 'b']) }, { terms: Buffer.concat([Buffer.from([0x91]), float64(2 ** 53)]) })],
      ['entry term 0', encode({ ...base, terms: [0], entries: entriesOf(['put', 'a', 'b']) })],
      ['entry terms decreasing', encode({ ...base, terms: [term, term - 1 || 0], entries: entriesOf(['x'], ['y']) })],
      ['entry term above the request term', encode({ ...base, terms: [term + 1], entries: entriesOf(['x']) })],
      ['prevTerm without prevIndex', encode({ ...base, prevIndex: 0, prevTerm: term })],
      ['packed entries fewer than their terms', encode({ ...base, terms: [term, term], entries: entriesOf(['x']) })],
      ['a packed length past the end', encode({ ...base, terms: [term], entries: Buffer.from([0, 0, 1, 0, 0x91, 0x01]) })],
      ['entries as one value per entry', encode({ ...base, terms: [term], entries: [encode(['put', 'a', 'b'])] })],
      ['vote term 2^53 + 2', encode({ k: Kind.VoteRequest, g: 'default', from: leader.id, preVote: true, term: 2 ** 53 + 2, candidateId: leader.id, lastIndex: 1, lastTerm: 1 })],
      ['callId 2^53', message(clientRequest(), { callId: float64(2 ** 53) })],
      ['callId 0.5', message(clientRequest(), { callId: float64(0.5) })],
    ];
    for (const [what, body] of cases) await expectClosed(follower, frame(body), what);
    for (const [what, body] of cases.slice(-2)) await expectClosed(leader, frame(body), what);
  });
});

test('oversized client entry: ENTRY_TOO_LARGE with the sizes, nothing appended', caseTimeout, async () => {
  const leader = await hostile.leader();
  await hostile.attack(leader, async () => {
    const size = hostileLimits.entryBytesMax + 1;
    const connection = await RawConnection.open(leader.address);
    try {
      connection.write(encodeFrame(clientRequest({ callId: 21, data: new Uint8Array(size) })));
      const reply = await connection.reply(0, 5000);
      assert.equal(reply['callId'], 21);
      assert.equal(errorOf(reply).code, 'ENTRY_TOO_LARGE');
      assert.equal(errorOf(reply).details['sizeBytes'], size);
      assert.equal(errorOf(reply).details['limitBytes'], hostileLimits.entryBytesMax);
    } finally {
      connection.destroy();
    }
    // In a batch, each oversized call gets its own ENTRY_TOO_LARGE.
    const batched = await RawConnection.open(leader.address);
    try {
      batched.write(encodeFrame(requestBatch({ callIds: [41, 42], data: [new Uint8Array(size), new Uint8Array(size * 2)] })));
      const reply = await batched.reply(0, 5000);
      assert.equal(reply['k'], Kind.ClientReplyBatch);
      assert.deepEqual(reply['callIds'], [41, 42]);
      const errors = reply['errors'] as { code: string; details: Record<string, unknown> }[];
      assert.deepEqual(errors.map((error) => [error.code, error.details['sizeBytes']]), [['ENTRY_TOO_LARGE', size], ['ENTRY_TOO_LARGE', size * 2]]);
    } finally {
      batched.destroy();
    }
    // Through the client API, the same coded error.
    await assert.rejects(hostile.client.send(new Uint8Array(size)), (error: Error & { code?: string }) => error.code === 'ENTRY_TOO_LARGE');
  });
});

test('slow loris: a silent connection is closed after idleBeforeFirstFrameMs, a dribbled frame after frameDeadlineMs', caseTimeout, async () => {
  const leader = await hostile.leader();
  const report = await hostile.attack(leader, async () => {
    const silent = await Promise.all(Array.from({ length: 8 }, () => RawConnection.open(leader.address)));
    const dribbling = await Promise.all(Array.from({ length: 8 }, () => RawConnection.open(leader.address)));
    // A first frame completes, so only the frame deadline applies to what follows.
    for (const connection of dribbling) connection.write(encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: 1 }));
    await Promise.all(dribbling.map((connection) => connection.reply(0, 5000)));
    const slow = encodeFrame(clientRequest({ callId: 2 }));
    const startedMs = performance.now();
    let sent = 0;
    while (dribbling.some((connection) => !connection.isClosed) && performance.now() - startedMs < hostileLimits.frameDeadlineMs * 4) {
      for (const connection of dribbling) connection.write(slow.subarray(sent, sent + 1));
      sent = Math.min(sent + 1, slow.length - 1); // never the last byte
      await sleep(100);
    }
    const slack = 2000;
    for (const connection of silent) {
      const closedMs = await connection.closed(hostileLimits.idleBeforeFirstFrameMs + slack);
      assert.ok(closedMs >= hostileLimits.idleBeforeFirstFrameMs - 50, `a silent connection closed after ${closedMs} ms, before its limit`);
    }
    for (const connection of dribbling) {
      await connection.closed(1);
      assert.equal(connection.replies.length, 1, 'the dribbled frame was never answered');
    }
    assert.ok(performance.now() - startedMs < hostileLimits.frameDeadlineMs + slack + 500, 'dribbling connections closed near the frame deadline');
    // A frame that started and stopped (truncated, stream left open) meets the same deadline.
    const stalled = await RawConnection.open(leader.address);
    stalled.write(encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: 1 }));
    await stalled.reply(0, 5000);
    stalled.write(header(100));
    stalled.write(Buffer.alloc(10));
    await stalled.closed(hostileLimits.frameDeadlineMs + slack);
  });
  assert.ok(report.writesDuring > 0, 'the well-behaved client wrote while the slow connections were open');
});

test('flood of connections: past connectionsMax each new one gets RESOURCE_UNAVAILABLE and is closed; clients keep working', caseTimeout, async () => {
  const leader = await hostile.leader();
  const report = await hostile.attack(leader, async () => {
    const flood = await Promise.all(Array.from({ length: hostileLimits.connectionsMax * 3 }, () => RawConnection.open(leader.address)));
    // Every flood connection ends closed: the refused at once with one frame saying why, the
    // held ones (they send nothing) by the first-frame limit, which frees their slots.
    await Promise.all(flood.map((connection) => connection.closed(hostileLimits.idleBeforeFirstFrameMs + 5000)));
    const refused = flood.filter((connection) => connection.replies.length > 0);
    const held = flood.filter((connection) => connection.replies.length === 0);
    assert.ok(held.length <= hostileLimits.connectionsMax, `${held.length} flood connections held, over the limit ${hostileLimits.connectionsMax}`);
    assert.ok(refused.length >= flood.length - hostileLimits.connectionsMax, `${refused.length} refused of ${flood.length}`);
    for (const connection of refused) {
      assert.equal(connection.replies.length, 1, 'a refused connection gets one frame');
      assert.equal(connection.replies[0]!['k'], Kind.Refused);
      assert.equal(errorOf(connection.replies[0]!).code, 'RESOURCE_UNAVAILABLE');
    }
    for (const connection of held) {
      assert.ok(connection.closedAfterMs! >= hostileLimits.idleBeforeFirstFrameMs - 50, `a held connection closed after ${connection.closedAfterMs} ms`);
    }
    // A new connection is served once the flood is gone (a few tries: the server may see the
    // last closes a moment after this side does).
    let reply: Reply | undefined;
    for (let attempt = 0; attempt < 10 && reply?.['k'] !== Kind.StatusReply; attempt++) {
      if (attempt > 0) await sleep(200);
      const fresh = await RawConnection.open(leader.address);
      try {
        fresh.write(encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: 1 }));
        reply = await fresh.reply(0, 5000);
      } finally {
        fresh.destroy();
      }
    }
    assert.equal(reply?.['k'], Kind.StatusReply, `a new connection is served once the flood is gone: ${JSON.stringify(reply)}`);
  });
  assert.ok(report.writesDuring > 0, 'the well-behaved client wrote during the flood');
});
