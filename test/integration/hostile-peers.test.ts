/**
 * Hostile input aimed at the consensus itself, against three real server processes (the fixture
 * of hostile.test.ts: a client writing throughout, and around every case the check that no term,
 * leader or log moved but by its writes): a forged message with a term at the edge of what a
 * number holds, a batch carrying an entry no updater can decode, server messages without or
 * against their connection's hello, and clients that take every connection slot they can.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { testPort } from '../support/ports.js';
import { appendEntries, errorOf, HostileCluster, hostileLimits } from '../support/hostile-cluster.js';
import { RawConnection } from '../support/raw-connection.js';
import { Kind } from '../../src/messages/kinds.js';
import { encodeFrame } from '../../src/messages/framing.js';
import { encode } from '../../src/messages/codec.js';
import { packPayloads } from '../../src/messages/packed-entries.js';
import { encodeEntry, EntryType } from '../../src/messages/entry.js';
import { termMax } from '../../src/limits.js';
import { crc32c } from '../../src/log/crc32c.js';
import fs from 'node:fs';
import path from 'node:path';
import { sleep, withTimeout, type LocalNode } from '../../src/cluster/local-cluster.js';

let hostile: HostileCluster;

before(async () => {
  hostile = await HostileCluster.start(testPort(19651));
});

after(async () => {
  await hostile?.stop();
});

const caseTimeout = { timeout: 60_000 };
const closeWithinMs = 3000;



/** Writes `frames` on a connection and expects it closed by the server with no reply. */
async function expectClosedSilently(connection: RawConnection, frames: Uint8Array[], what: string): Promise<void> {
  try {
    for (const frame of frames) connection.write(frame);
    await connection.closed(closeWithinMs).catch((error: Error) => assert.fail(`${what}: ${error.message}`));
    assert.equal(connection.replies.length, 0, `${what}: the server replied before closing`);
  } finally {
    connection.destroy();
  }
}

/** Expects the `index`-th reply to be a refusal with `code`, and the connection then closed. */
async function expectRefusedAndClosed(connection: RawConnection, index: number, code: string, what: string): Promise<void> {
  try {
    const reply = await connection.reply(index, 5000).catch((error: Error) => assert.fail(`${what}: ${error.message}`));
    assert.equal(reply['k'], Kind.Refused, what);
    assert.equal(errorOf(reply).code, code, what);
    await connection.closed(closeWithinMs).catch((error: Error) => assert.fail(`${what}: ${error.message}`));
  } finally {
    connection.destroy();
  }
}

test('a forged term at the edge of a number (2^53 - 1, or just over the ceiling) closes its connection; no server adopts it', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  await hostile.attack(leader, async () => {
    for (const term of [2 ** 53 - 1, termMax + 1]) {
      // To the leader in a follower's name, as the message that once moved a whole group to 2^53 - 1.
      await expectClosedSilently(await RawConnection.asPeer(leader.address, follower.id),
        [encodeFrame({ k: Kind.VoteResponse, g: 'default', from: follower.id, preVote: false, term, granted: false })], `VoteResponse of term ${term}`);
      await expectClosedSilently(await RawConnection.asPeer(follower.address, leader.id),
        [encodeFrame({ k: Kind.VoteRequest, g: 'default', from: leader.id, preVote: false, term, candidateId: leader.id, lastIndex: 1, lastTerm: 1 })],
        `VoteRequest of term ${term}`);
      await expectClosedSilently(await RawConnection.asPeer(follower.address, leader.id),
        [encodeFrame(appendEntries({ from: leader.id, term, prevIndex: 1_000_000, prevTerm: 1 }))], `AppendEntries of term ${term}`);
    }
  });
  for (const status of await hostile.statuses()) assert.equal(status.termCeilingReached, false, `${status.id} is far from the ceiling`);
});

test('an AppendEntries carrying an entry that is not a raftline entry closes its connection, and nothing of it is logged', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const { term } = await hostile.statusOf(leader);
  await hostile.attack(follower, async () => {
    const { lastIndex } = await hostile.statusOf(follower);
    const good = encodeEntry({ type: EntryType.write, clientId: 'mallory', callId: 1, firstUnacked: 1, data: encode(['put', 'k', 'v']) });
    const unknownType = Buffer.from(good);
    unknownType[0] = 71;
    // Where a real leader's next entries go: without the check these would be appended, then
    // stop the follower's updater at every restart.
    await expectClosedSilently(await RawConnection.asPeer(follower.address, leader.id), [encodeFrame(appendEntries({
      from: leader.id, term, prevIndex: lastIndex, prevTerm: term, leaderCommit: 0, terms: [term, term],
      entries: packPayloads([good, unknownType]),
    }))], 'an entry of unknown type 71');
    await expectClosedSilently(await RawConnection.asPeer(follower.address, leader.id), [encodeFrame(appendEntries({
      from: leader.id, term, prevIndex: lastIndex, prevTerm: term, leaderCommit: 0, terms: [term], entries: packPayloads([good.subarray(0, 12)]),
    }))], 'an entry cut short');
    // Configuration entries that no leader writes: not a configuration, no voter left, two servers on one address.
    for (const [what, data] of [
      ['not a configuration', encode(['put', 'k', 'v'])],
      ['no voter', encode({ voters: [], learners: [], outgoing: null })],
      ['one address twice', encode({ voters: [{ id: 'x', address: '127.0.0.1:9' }, { id: 'y', address: '127.0.0.1:9' }], learners: [], outgoing: null })],
    ] as const) {
      const forged = encodeEntry({ type: EntryType.configuration, clientId: '', callId: 0, firstUnacked: 0, data });
      await expectClosedSilently(await RawConnection.asPeer(follower.address, leader.id), [encodeFrame(appendEntries({
        from: leader.id, term, prevIndex: lastIndex, prevTerm: term, leaderCommit: 0, terms: [term], entries: packPayloads([forged]),
      }))], `a configuration entry with ${what}`);
    }
  });
  const status = await hostile.statusOf(follower);
  assert.deepEqual(status.voters.sort(), hostile.cluster.nodes.map((node) => node.id).sort(), 'the configuration is untouched');
});

test('a membership change asked of a follower is answered NOT_LEADER, and changes nothing', caseTimeout, async () => {
  const follower = await hostile.follower();
  const leader = await hostile.leader();
  await hostile.attack(follower, async () => {
    const connection = await RawConnection.open(follower.address);
    try {
      connection.write(encodeFrame({ k: Kind.AdminRequest, g: 'default', callId: 7, operation: { op: 'removeServer', id: leader.id } }));
      const reply = await connection.reply(0, 5000);
      assert.deepEqual([reply['k'], reply['ok'], errorOf(reply).code], [Kind.AdminReply, false, 'NOT_LEADER']);
    } finally {
      connection.destroy();
    }
  });
  assert.equal((await hostile.statusOf(follower)).voters.length, hostile.cluster.nodes.length);
});

test('server messages count only on a connection that opened with its sender\'s hello', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const other = hostile.cluster.nodes.find((node) => node.id !== leader.id && node.id !== follower.id)!;
  const { term } = await hostile.statusOf(leader);
  const refusedBefore = (await hostile.client.metrics(follower.address)).counters['peerMessagesRefused']!;
  await hostile.attack(follower, async () => {
    const farPast = encodeFrame(appendEntries({ from: leader.id, term, prevIndex: 1_000_000_000, prevTerm: term }));
    // No hello: in the leader's name, an AppendEntries; in the other follower's, a vote.
    let connection = await RawConnection.open(follower.address);
    connection.write(farPast);
    await expectRefusedAndClosed(connection, 0, 'PROTOCOL_VIOLATION', 'AppendEntries without a hello');
    connection = await RawConnection.open(follower.address);
    connection.write(encodeFrame({ k: Kind.VoteResponse, g: 'default', from: other.id, preVote: true, term: term + 1, granted: true }));
    await expectRefusedAndClosed(connection, 0, 'PROTOCOL_VIOLATION', 'a vote without a hello');
    // A hello as one member, a message as another.
    connection = await RawConnection.asPeer(follower.address, other.id);
    connection.write(farPast);
    await expectRefusedAndClosed(connection, 0, 'PROTOCOL_VIOLATION', 'AppendEntries in another member\'s name than the hello\'s');
    // A second hello, and a hello that is not the first frame.
    connection = await RawConnection.asPeer(follower.address, leader.id);
    connection.write(encodeFrame({ k: Kind.PeerHello, g: 'default', from: other.id }));
    await expectRefusedAndClosed(connection, 0, 'PROTOCOL_VIOLATION', 'a second hello');
    connection = await RawConnection.open(follower.address);
    connection.write(encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: 1 }));
    await connection.reply(0, 5000);
    connection.write(encodeFrame({ k: Kind.PeerHello, g: 'default', from: leader.id }));
    await expectRefusedAndClosed(connection, 1, 'PROTOCOL_VIOLATION', 'a hello after a client request');
    // With the right hello the same request is heard, and answered by the protocol.
    connection = await RawConnection.asPeer(follower.address, leader.id);
    try {
      connection.write(farPast);
      const reply = await connection.reply(0, 5000);
      assert.deepEqual([reply['k'], reply['success'], reply['term']], [Kind.AppendEntriesReply, false, term]);
    } finally {
      connection.destroy();
    }
  });
  const refused = (await hostile.client.metrics(follower.address)).counters['peerMessagesRefused']! - refusedBefore;
  assert.equal(refused, 5, 'each refusal is counted');
});

test('a TimeoutNow from anyone but the leader of the term starts no election; a malformed admin call closes only its connection', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const other = hostile.cluster.nodes.find((node) => node.id !== leader.id && node.id !== follower.id)!;
  const { term } = await hostile.statusOf(leader);
  const refusedBefore = (await hostile.client.metrics(follower.address)).counters['peerMessagesRefused']!;
  await hostile.attack(follower, async () => {
    // No hello: refused, and the connection closed.
    let connection = await RawConnection.open(follower.address);
    connection.write(encodeFrame({ k: Kind.TimeoutNow, g: 'default', from: leader.id, term }));
    await expectRefusedAndClosed(connection, 0, 'PROTOCOL_VIOLATION', 'TimeoutNow without a hello');
    // A member that does not lead, and the leader's name with a stale term: heard, and ignored.
    connection = await RawConnection.asPeer(follower.address, other.id);
    connection.write(encodeFrame({ k: Kind.TimeoutNow, g: 'default', from: other.id, term }));
    await sleep(300);
    assert.equal(connection.isClosed, false);
    connection.destroy();
    connection = await RawConnection.asPeer(follower.address, leader.id);
    connection.write(encodeFrame({ k: Kind.TimeoutNow, g: 'default', from: leader.id, term: term - 1 }));
    await sleep(300);
    connection.destroy();
    // Not a voter of the group: refused by name.
    connection = await RawConnection.asPeer(follower.address, 'n9');
    connection.write(encodeFrame({ k: Kind.TimeoutNow, g: 'default', from: 'n9', term }));
    try {
      const reply = await connection.reply(0, 5000);
      assert.deepEqual([reply['k'], errorOf(reply).code], [Kind.Refused, 'UNKNOWN_PEER']);
    } finally {
      connection.destroy();
    }
    // An admin call with an unknown operation, or a transfer without its timeout.
    for (const operation of [{ op: 'format-disk' }, { op: 'transferLeadership', to: 'n2' }]) {
      connection = await RawConnection.open(follower.address);
      await expectClosedSilently(connection, [encodeFrame({ k: Kind.AdminRequest, g: 'default', callId: 1, operation })], `admin ${JSON.stringify(operation)}`);
    }
  });
  const refused = (await hostile.client.metrics(follower.address)).counters['peerMessagesRefused']! - refusedBefore;
  assert.ok(refused >= 2, 'the TimeoutNow without a hello and the non-member\'s are counted');
  const status = await hostile.statusOf(follower);
  assert.equal(status.term, term, 'no election');
});

test('a forged InstallSnapshot is refused with SNAPSHOT_REJECTED and its reason, and installs nothing', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const { term, commit } = await hostile.statusOf(follower);
  const sm = path.join(follower.dir, 'default', 'current', 'sm');
  const filesBefore = fs.readdirSync(sm).filter((name) => name.startsWith('snapshot_') || name.startsWith('install_')).sort();
  const snapshotBefore = (await hostile.statusOf(follower)).snapshotIndex;
  const data = new Uint8Array(64).fill(7);
  const manifest = (fields: Record<string, unknown> = {}): Record<string, unknown> => ({
    index: commit + 1_000_000, term, configuration: { voters: ['n1', 'n2', 'n3'] }, files: [{ name: 'kv.state', size: 64, crc32c: crc32c(data) }], ...fields,
  });
  const chunk = (fields: Record<string, unknown>): Uint8Array => encodeFrame({
    k: Kind.InstallSnapshot, g: 'default', from: leader.id, term, seq: 1, manifest: manifest(), file: 0, offset: 0, data, crc32c: crc32c(data),
    ...fields,
  });
  const cases: [string, Uint8Array][] = [
    ['path', chunk({ manifest: manifest({ files: [{ name: '../raft-meta', size: 64, crc32c: crc32c(data) }] }) })],
    ['path', chunk({ manifest: manifest({ files: [{ name: '/etc/passwd', size: 64, crc32c: crc32c(data) }] }) })],
    ['crc', chunk({ crc32c: (crc32c(data) + 1) >>> 0 })],
    ['order', chunk({ offset: 32, data: data.subarray(0, 32), crc32c: crc32c(data.subarray(0, 32)) })],
    ['size', chunk({ data: new Uint8Array(65), crc32c: crc32c(new Uint8Array(65)) })],
    ['stale', chunk({ manifest: manifest({ index: Math.max(1, commit - 1) }) })],
    ['manifest', chunk({ manifest: manifest({ term: -1 }) })],
  ];
  await hostile.attack(follower, async () => {
    for (const [reason, frame] of cases) {
      const connection = await RawConnection.asPeer(follower.address, leader.id);
      try {
        connection.write(frame);
        const reply = await connection.reply(0, 5000);
        assert.equal(reply['k'], Kind.InstallSnapshotReply, reason);
        assert.equal(reply['success'], false, reason);
        assert.equal(reply['installed'], false, reason);
        assert.equal(errorOf(reply).code, 'SNAPSHOT_REJECTED', reason);
        assert.equal(errorOf(reply).details['reason'], reason, `${reason}: ${errorOf(reply).message}`);
      } finally {
        connection.destroy();
      }
    }
  });
  const after = fs.readdirSync(sm).filter((name) => name.startsWith('snapshot_') || name.startsWith('install_')).sort();
  assert.deepEqual(after.filter((name) => name.startsWith('install_')), [], 'no install file left');
  assert.deepEqual(after.filter((name) => !filesBefore.includes(name) && name.endsWith('.manifest')), [], 'no snapshot installed');
  assert.equal((await hostile.statusOf(follower)).snapshotIndex, snapshotBefore);
});

/** Opens `count` connections from `localAddress` that each send a status request; returns them once each got its answer. */
async function clientsFrom(target: LocalNode, localAddress: string, count: number): Promise<RawConnection[]> {
  const connections = await Promise.all(Array.from({ length: count }, () => RawConnection.open(target.address, 5000, localAddress)));
  connections.forEach((connection, i) => connection.write(encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: i + 1 })));
  await Promise.all(connections.map((connection) => connection.reply(0, 5000)));
  return connections;
}

function served(connections: RawConnection[]): RawConnection[] {
  return connections.filter((connection) => connection.replies[0]!['k'] === Kind.StatusReply);
}

function refusedFor(connections: RawConnection[], bound: RegExp): RawConnection[] {
  const refused = connections.filter((connection) => connection.replies[0]!['k'] === Kind.Refused);
  for (const connection of refused) {
    assert.equal(errorOf(connection.replies[0]!).code, 'RESOURCE_UNAVAILABLE');
    assert.match(errorOf(connection.replies[0]!).message, bound);
  }
  return refused;
}

test('clients hold at most their share of connection slots, per address and in all; a restarting server still gets in', caseTimeout, async () => {
  const leader = await hostile.leader();
  const target = await hostile.follower();
  const restarting = hostile.cluster.nodes.find((node) => node.id !== leader.id && node.id !== target.id)!;
  const gauges = async (): Promise<Record<string, number>> => (await hostile.client.metrics(target.address)).gauges;
  // The metrics channel is opened now, before the client slots fill up.
  const clientsBefore = (await gauges())['clientConnections']!;
  assert.equal((await gauges())['memberConnections'], 2, 'the leader and the other follower are connected');
  const flood: RawConnection[] = [];
  await hostile.attack(target, async () => {
    try {
      // One address: up to its bound, then refused by name.
      const first = await clientsFrom(target, '127.0.0.2', hostileLimits.clientConnectionsPerAddressMax + 6);
      flood.push(...first);
      assert.equal(served(first).length, hostileLimits.clientConnectionsPerAddressMax);
      const refusedFirst = refusedFor(first, /client connections from 127\.0\.0\.2/);
      assert.equal(refusedFirst.length, 6);
      // The refused are closed by the server; their slots free once both ends are (a moment later there).
      await Promise.all(refusedFirst.map((connection) => connection.closed(closeWithinMs)));
      await sleep(300);
      // Another address: up to the clients' bound in all (two more than it leaves; the server slots stay free).
      const room = hostileLimits.clientConnectionsMax - hostileLimits.clientConnectionsPerAddressMax - clientsBefore;
      const second = await clientsFrom(target, '127.0.0.3', room + 2);
      flood.push(...second);
      assert.equal(served(second).length, room);
      assert.equal(refusedFor(second, /limit of \d+ client connections; the slots left are kept/).length, 2);
      assert.equal((await gauges())['clientConnections'], hostileLimits.clientConnectionsMax);
      // A server restarts: its connection must get in, though every client slot is taken.
      hostile.cluster.kill(restarting.id);
      await hostile.cluster.waitExit(restarting.id);
      const deadline = performance.now() + 10_000;
      while ((await gauges())['memberConnections'] !== 1) {
        assert.ok(performance.now() < deadline, 'the dead server\'s connection was not noticed');
        await sleep(50);
      }
      hostile.cluster.start(restarting.id);
      while ((await gauges())['memberConnections'] !== 2) {
        assert.ok(performance.now() < deadline + 20_000, 'the restarted server did not get a connection in');
        await sleep(100);
      }
      // The clients already in are still served.
      const held = served(first)[0]!;
      held.write(encodeFrame({ k: Kind.StatusRequest, g: 'default', callId: 99 }));
      assert.equal((await withTimeout(held.reply(1, 5000), 6000))['k'], Kind.StatusReply);
    } finally {
      for (const connection of flood) connection.destroy();
    }
  });
  assert.ok((await hostile.client.metrics(target.address)).counters['connectionsRefused']! >= 6);
});
