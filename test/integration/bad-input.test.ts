/**
 * Bad input against a real 3-server group on loopback (actors inline): malformed frames close
 * only their own connection, a wrong group id, an oversized entry and a write the state machine
 * refuses each come back as a coded error with nothing appended, and the group keeps serving.
 * Also the happy paths a client leans on: linearizable get after put, missing keys, cas, and
 * following a NOT_LEADER hint from a follower.
 */
import { test } from 'node:test';
import { testPort } from '../support/ports.js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { RaftServer } from '../../src/server/raft-server.js';
import type { Limits } from '../../src/limits.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { encode } from '../../src/messages/codec.js';
import { encodeFrame } from '../../src/messages/framing.js';
import { sleep } from '../../src/cli/local-cluster.js';

interface Group {
  servers: RaftServer[];
  addresses: string[];
  leader: RaftServer;
  followers: RaftServer[];
}

async function waitForLeader(servers: RaftServer[], timeoutMs = 15_000): Promise<RaftServer> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const leader = servers.find((server) => {
      const status = server.status();
      return status.role === 'leader' && status.commit > 0;
    });
    if (leader !== undefined) return leader;
    await sleep(50);
  }
  throw new Error('no leader elected in time');
}

async function withGroup(basePort: number, limits: Partial<Limits>, body: (group: Group) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-bad-input-'));
  const peers = [1, 2, 3].map((n) => ({ id: `n${n}`, address: `127.0.0.1:${basePort + n - 1}` }));
  const servers = peers.map((peer) => new RaftServer({
    id: peer.id, peers, dir: path.join(dir, peer.id), actors: 'inline', stateMachine: 'kv', limits,
    logger: pino({ level: 'silent' }),
  }));
  const started: RaftServer[] = [];
  try {
    for (const server of servers) {
      await server.start();
      started.push(server);
    }
    const leader = await waitForLeader(servers);
    await body({
      servers, addresses: peers.map((peer) => peer.address), leader,
      followers: servers.filter((server) => server !== leader),
    });
  } finally {
    await Promise.allSettled(started.map((server) => server.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function addressOf(group: Group, server: RaftServer): string {
  return group.addresses[group.servers.indexOf(server)]!;
}

/** Opens a raw socket to `address`, writes `bytes`, and resolves once the server closes it. */
async function sendAndExpectClose(address: string, bytes: Buffer, timeoutMs = 5000): Promise<void> {
  const [host, port] = address.split(':');
  const socket = net.connect(Number(port), host!);
  socket.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not close the connection within ${timeoutMs} ms`)), timeoutMs);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('connect', () => socket.write(bytes));
      socket.resume();
    });
  } finally {
    socket.destroy();
  }
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error & { code: string; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    const coded = error as Error & { code: string; details: Record<string, unknown> };
    assert.equal(coded.code, code, `expected ${code}, got ${coded.code}: ${coded.message}`);
    return coded;
  }
  assert.fail(`expected a rejection with code ${code}`);
}

test('malformed frames close only their own connection; the group keeps serving', { timeout: 30_000 }, async () => {
  await withGroup(testPort(19101), {}, async (group) => {
    const client = await RaftClient.connect({ peers: group.addresses, requestTimeoutMs: 10_000 });
    try {
      const store = kv(client);
      await store.put('before', '1');
      const term = group.leader.status().term;
      const leaderAddress = addressOf(group, group.leader);

      // A header declaring 10 bytes, then 10 bytes that are not msgpack.
      const garbage = Buffer.alloc(14, 0xc1);
      garbage.writeUInt32BE(10, 0);
      await sendAndExpectClose(leaderAddress, garbage);
      await store.put('after-garbage', '2');
      assert.equal(await store.get('after-garbage'), '2');

      // A header declaring more than the frame limit: refused before any body is buffered.
      const oversized = Buffer.alloc(4);
      oversized.writeUInt32BE(0xfffffff0, 0);
      await sendAndExpectClose(leaderAddress, oversized);
      await store.put('after-oversized', '3');
      assert.equal(await store.get('after-oversized'), '3');

      // Well-formed msgpack with a kind nobody speaks.
      await sendAndExpectClose(leaderAddress, encodeFrame({ k: 99 }));
      // A client reply sent to a server is a known kind in the wrong direction.
      await sendAndExpectClose(leaderAddress, encodeFrame({ k: 21, callId: 1, ok: true, result: null, error: null, index: 0 }));
      // A known kind with a field of the wrong type.
      await sendAndExpectClose(leaderAddress, encodeFrame({ k: 20, g: 'default', clientId: 'x', callId: 'one', firstUnacked: 1, type: 0, data: new Uint8Array(1) }));
      // A client request of a type that does not exist is not taken for a write.
      const lastIndex = group.leader.status().lastIndex;
      await sendAndExpectClose(leaderAddress, encodeFrame({
        k: 20, g: 'default', clientId: 'raw', callId: 1, firstUnacked: 1, type: 7, data: encode(['put', 'typed', 'x']),
      }));
      await sleep(100);
      assert.equal(group.leader.status().lastIndex, lastIndex, 'a request of unknown type appended nothing');
      // The same garbage at a follower closes that connection too.
      await sendAndExpectClose(addressOf(group, group.followers[0]!), garbage);

      await store.put('after-unknown-kind', '4');
      assert.equal(await store.get('after-unknown-kind'), '4');
      assert.equal(await store.get('before'), '1');
      assert.equal(group.leader.status().role, 'leader');
      assert.equal(group.leader.status().term, term, 'bad frames did not disturb the leader');
    } finally {
      await client.close();
    }
  });
});

test('coded errors for wrong group, oversized entry and refused writes; nothing appended; reads, cas and NOT_LEADER hints work', { timeout: 30_000 }, async () => {
  await withGroup(testPort(19111), { entryBytesMax: 1024 }, async (group) => {
    const client = await RaftClient.connect({ peers: group.addresses, requestTimeoutMs: 10_000 });
    const other = await RaftClient.connect({ peers: group.addresses, groupId: 'other', requestTimeoutMs: 5000 });
    const viaFollower = await RaftClient.connect({
      peers: [addressOf(group, group.followers[0]!), addressOf(group, group.leader), addressOf(group, group.followers[1]!)],
      requestTimeoutMs: 10_000,
    });
    try {
      const store = kv(client);
      await store.put('warm', 'up');

      // The wrong group: GROUP_MISMATCH naming the group asked for; the right group still works.
      const mismatch = await expectCode(kv(other).put('k', 'v'), 'GROUP_MISMATCH');
      assert.match(mismatch.message, /other/);
      const statusMismatch = await expectCode(other.status(addressOf(group, group.leader)), 'GROUP_MISMATCH');
      assert.match(statusMismatch.message, /other/);
      await store.put('right-group', 'yes');
      assert.equal(await store.get('right-group'), 'yes');

      // An entry over entryBytesMax: ENTRY_TOO_LARGE with the sizes, nothing appended.
      const lastIndex = group.leader.status().lastIndex;
      const tooLarge = await expectCode(client.send(new Uint8Array(2000)), 'ENTRY_TOO_LARGE');
      assert.equal(tooLarge.details['sizeBytes'], 2000);
      assert.equal(tooLarge.details['limitBytes'], 1024);
      // Exactly at the limit is not over it; the kv state machine then refuses the bytes.
      await expectCode(client.send(new Uint8Array(1024)), 'STATE_MACHINE_ERROR');

      // A write the kv state machine refuses: STATE_MACHINE_ERROR, nothing appended.
      const refused = await expectCode(client.send(encode(['nope'])), 'STATE_MACHINE_ERROR');
      assert.match(refused.message, /nope/);
      await expectCode(client.send(encode(['get', 'warm'])), 'STATE_MACHINE_ERROR');
      await sleep(200);
      assert.equal(group.leader.status().lastIndex, lastIndex, 'refused writes appended nothing');

      // A normal write after the refusals is appended once.
      await store.put('after-refusals', 'ok');
      assert.equal(group.leader.status().lastIndex, lastIndex + 1);

      // Linearizable reads through the real group.
      assert.equal(await store.get('after-refusals'), 'ok');
      assert.equal(await store.get('missing'), null);
      assert.equal(await store.cas('c', null, 'one'), true, 'cas on an absent key with expected null sets it');
      assert.equal(await store.cas('c', null, 'two'), false, 'cas with a stale expectation fails');
      assert.equal(await store.cas('c', 'one', 'two'), true);
      assert.equal(await store.get('c'), 'two');
      assert.equal(await store.delete('c'), true);
      assert.equal(await store.delete('c'), false);
      assert.equal(await store.get('c'), null);

      // A client that dials a follower first follows its NOT_LEADER hint.
      const hinted = kv(viaFollower);
      await hinted.put('hinted', 'h');
      assert.equal(await hinted.get('hinted'), 'h');
      assert.equal(viaFollower.leader, addressOf(group, group.leader));
      assert.equal(await store.get('hinted'), 'h');
    } finally {
      await Promise.all([client.close(), other.close(), viaFollower.close()]);
    }
  });
});
