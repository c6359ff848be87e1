/**
 * Reads beside the leader's, piece by piece: the gateway's rules for the new fields and peer
 * messages (old frames stay valid, malformed new fields are refused), the client's read options,
 * the watch levels computed from a leader's view of its voters, and a follower's read-index
 * requests (one per turn for every read held, failed on a leader change or without an answer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeInboundMessage } from '../../src/messages/validate.js';
import { encode } from '../../src/messages/codec.js';
import { Kind } from '../../src/messages/kinds.js';
import { RequestType } from '../../src/messages/messages.js';
import { ConfigurationError, LeaderNotReadyError, MalformedMessageError, TimeoutError, type RaftlineError } from '../../src/errors.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { levelsReached, Watches, type ReplicationView } from '../../src/server/watches.js';
import { FollowerReadIndex } from '../../src/server/follower-read-index.js';

const request = (fields: Record<string, unknown> = {}): Uint8Array => encode({
  k: Kind.ClientRequest, g: 'default', clientId: 'c', callId: 1, firstUnacked: 1, type: RequestType.staleRead, data: new Uint8Array(1), ...fields,
});
const batch = (fields: Record<string, unknown> = {}): Uint8Array => encode({
  k: Kind.ClientRequestBatch, g: 'default', clientId: 'c', firstUnacked: 1, callIds: [1, 2], types: [RequestType.write, RequestType.followerRead],
  data: [new Uint8Array(1), new Uint8Array(1)], ...fields,
});
const refused = (body: Uint8Array, field: string): void => {
  assert.throws(() => decodeInboundMessage(body), (error: unknown) => error instanceof MalformedMessageError && String(error.message).includes(field));
};

test('gateway: a request without minIndex (an older client) is valid; with one, it is a count', () => {
  assert.equal((decodeInboundMessage(request()) as { minIndex?: number }).minIndex, undefined);
  assert.equal((decodeInboundMessage(request({ minIndex: 42 })) as { minIndex?: number }).minIndex, 42);
  for (const bad of [-1, 1.5, 'x', null, 2 ** 60]) refused(request({ minIndex: bad }), 'minIndex');
  assert.equal(decodeInboundMessage(request({ type: RequestType.followerRead })).k, Kind.ClientRequest);
  refused(request({ type: 6 }), 'request type');
});

test('gateway: a batch\'s minIndexes column is optional and, when there, one count per call', () => {
  assert.equal((decodeInboundMessage(batch()) as { minIndexes?: number[] }).minIndexes, undefined);
  assert.deepEqual((decodeInboundMessage(batch({ minIndexes: [0, 7] })) as { minIndexes?: number[] }).minIndexes, [0, 7]);
  refused(batch({ minIndexes: [7] }), 'differ in length');
  refused(batch({ minIndexes: [0, -7] }), 'minIndexes');
  refused(batch({ minIndexes: 7 }), 'minIndexes');
});

test('gateway: ReadIndexRequest and ReadIndexReply are checked field by field', () => {
  const requestBody = { k: Kind.ReadIndexRequest, g: 'default', from: 'n2', term: 3, requestId: 1 };
  assert.equal(decodeInboundMessage(encode(requestBody)).k, Kind.ReadIndexRequest);
  refused(encode({ ...requestBody, requestId: -1 }), 'requestId');
  refused(encode({ ...requestBody, from: 2 }), 'from');
  const reply = { k: Kind.ReadIndexReply, g: 'default', from: 'n1', term: 3, requestId: 1, ok: true, readIndex: 10, error: null };
  assert.equal(decodeInboundMessage(encode(reply)).k, Kind.ReadIndexReply);
  refused(encode({ ...reply, readIndex: 'ten' }), 'readIndex');
  const { ok: _ok, ...withoutOk } = reply;
  refused(encode(withoutOk), 'ok');
});

test('gateway: a watch names a known level, an index and a timeout', () => {
  const watch = (operation: Record<string, unknown>): Uint8Array => {
    const fields: Record<string, unknown> = { op: 'watch', index: 5, level: 'ALL', timeoutMs: 100, ...operation };
    for (const name of Object.keys(fields)) if (fields[name] === undefined) delete fields[name];
    return encode({ k: Kind.AdminRequest, g: 'default', callId: 1, operation: fields });
  };
  assert.equal(decodeInboundMessage(watch({})).k, Kind.AdminRequest);
  refused(watch({ level: 'SOME' }), 'level');
  refused(watch({ index: -1 }), 'index');
  refused(watch({ timeoutMs: undefined }), 'timeoutMs');
});

test('client options: readFrom and readYourWrites are checked; bad read and watch arguments reject', async () => {
  await assert.rejects(RaftClient.connect({ peers: ['127.0.0.1:1'], readFrom: 'anywhere' as 'leader' }), ConfigurationError);
  await assert.rejects(RaftClient.connect({ peers: ['127.0.0.1:1'], readYourWrites: 'yes' as unknown as boolean }), ConfigurationError);
  const client = await RaftClient.connect({ peers: ['127.0.0.1:1'], readFrom: 'followers' });
  try {
    assert.equal(client.lastWriteIndex, 0);
    await assert.rejects(client.sendStaleRead(new Uint8Array(1), { minIndex: -1 }), ConfigurationError);
    await assert.rejects(client.sendReadOnly(new Uint8Array(1), { server: '127.0.0.1:1', minIndex: 0.5 }), ConfigurationError);
    await assert.rejects(client.watch(1, 'SOME' as 'ALL'), ConfigurationError);
    await assert.rejects(client.watch(-1, 'ALL'), ConfigurationError);
    await assert.rejects(client.watch(1, 'ALL', { timeoutMs: 0 }), ConfigurationError);
  } finally {
    await client.close();
  }
});

/** A leader n1 with voters n1..n3: matches and commits as given. */
function view(match: Record<string, number>, commit: Record<string, number>, outgoing?: string[]): ReplicationView {
  return {
    self: 'n1', quorum: { voters: ['n1', 'n2', 'n3'], ...(outgoing === undefined ? {} : { outgoing }) },
    matchOf: (voter) => match[voter] ?? 0, commitOf: (voter) => commit[voter] ?? 0,
  };
}

test('watch levels: a majority and every voter, of matches and of commit indexes', () => {
  assert.deepEqual(levelsReached(view({ n1: 10, n2: 8, n3: 3 }, { n1: 8, n2: 5, n3: 1 })),
    { MAJORITY: 8, ALL: 3, MAJORITY_COMMITTED: 5, ALL_COMMITTED: 1 });
  // While joint, the outgoing voters count too: ALL is every voter of both sets.
  assert.equal(levelsReached(view({ n1: 10, n2: 10, n3: 10, n4: 2 }, {}, ['n1', 'n4'])).ALL, 2);
});

test('watches: answered when progress reaches them, TIMEOUT with the level and index reached otherwise', async () => {
  const watches = new Watches();
  let progress = view({ n1: 5, n2: 5, n3: 1 }, { n1: 5, n2: 4, n3: 1 });
  assert.equal((await watches.add(5, 'MAJORITY', 100, 0, progress)).reached.MAJORITY, 5, 'reached already: answered at once');
  const all = watches.add(5, 'ALL', 100, 0, progress);
  const late = watches.add(9, 'ALL_COMMITTED', 100, 0, progress);
  assert.equal(watches.pending, 2);
  watches.observe(progress);
  assert.equal(watches.pending, 2, 'nothing new: still waiting');
  progress = view({ n1: 6, n2: 6, n3: 6 }, { n1: 6, n2: 5, n3: 5 });
  watches.observe(progress);
  const answered = await all;
  assert.deepEqual(answered.servers.map((server) => server.match), [6, 6, 6]);
  assert.equal(watches.pending, 1);
  watches.expire(99, progress);
  assert.equal(watches.pending, 1, 'not yet due');
  watches.expire(100, progress);
  await assert.rejects(late, (error: unknown) => {
    assert.ok(error instanceof TimeoutError);
    assert.deepEqual([error.details['level'], error.details['index'], error.details['reached']], ['ALL_COMMITTED', 9, 5]);
    return true;
  });
  assert.deepEqual([watches.answered, watches.timedOut, watches.pending], [2, 1, 0]);
});

test('follower read index: one request per turn for all reads held; a leader change or silence fails them, retriable', () => {
  const sent: [string, number, number][] = [];
  const turns: (() => void)[] = [];
  let leaderId: string | null = 'n1';
  let term = 4;
  let nowMs = 0;
  const ready: [string[], number][] = [];
  const failed: [string[], RaftlineError][] = [];
  const reads = new FollowerReadIndex<string>({
    id: 'n2', term: () => term, leaderId: () => leaderId,
    sendRequest: (leader, requestTerm, requestId) => sent.push([leader, requestTerm, requestId]),
    defer: (run) => turns.push(run),
  }, (list, index) => ready.push([list, index]), (list, error) => failed.push([list, error]), () => nowMs);
  const turn = (): void => { for (const run of turns.splice(0)) run(); };

  reads.add('a');
  reads.add('b');
  reads.add('c');
  turn();
  assert.deepEqual(sent, [['n1', 4, 1]], 'one request for the three reads');
  assert.equal(reads.waiting, 3);
  reads.onReply('n3', 4, 1, 99, null);
  assert.equal(ready.length, 0, 'an answer from another server is not the leader\'s');
  reads.onReply('n1', 4, 1, 17, null);
  assert.deepEqual(ready, [[['a', 'b', 'c'], 17]]);

  reads.add('d');
  turn();
  leaderId = 'n3';
  term = 5;
  reads.onLeaderChange(term, leaderId);
  assert.equal(failed.length, 1);
  assert.ok(failed[0]![1] instanceof LeaderNotReadyError);
  assert.equal(failed[0]![1].details['reason'], 'termChanged');
  reads.onReply('n1', 4, 2, 20, null);
  assert.equal(ready.length, 1, 'the old leader\'s late answer is dropped');

  reads.add('e');
  turn();
  nowMs = 999;
  reads.expire(1000);
  assert.equal(failed.length, 1);
  nowMs = 1000;
  reads.expire(1000);
  assert.equal(failed[1]![1].details['reason'], 'noAnswer');

  leaderId = null;
  reads.add('f');
  turn();
  assert.equal(failed[2]![1].details['reason'], 'noLeader');
  assert.equal(sent.length, 3, 'no request without a leader');
});
