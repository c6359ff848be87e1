/**
 * Failures and overload against real servers on loopback.
 *  - An actor that dies stops its server loudly: a server process whose updater worker exits
 *    stops with a non-zero code and says why, while the rest of the group keeps serving; in
 *    process, onFailure reports ACTOR_FAILURE naming the actor and the server closes without
 *    hanging.
 *  - Backpressure: a leader with a small pending-requests bound (by count or by bytes) refuses
 *    the overflow of a burst with RESOURCE_UNAVAILABLE and never holds more than the bound,
 *    while a RaftClient rides it out by backing off and retrying.
 *  - A follower whose leader was killed holds a client's request through the election and then
 *    names the new leader, instead of the dead one.
 */
import { test } from 'node:test';
import { testPort } from '../support/ports.js';
import { waitForLeader, withGroup, type Group } from '../support/group.js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { LocalCluster, sleep, withTimeout } from '../../src/cluster/local-cluster.js';
import { RaftServer } from '../../src/server/raft-server.js';
import { defaultLimits } from '../../src/limits.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { decode, encode } from '../../src/messages/codec.js';
import { encodeFrame, FrameReader } from '../../src/messages/framing.js';
import { decodeServerToClientMessage } from '../../src/messages/validate.js';
import { Kind } from '../../src/messages/kinds.js';
import { RequestType, type ClientReplyMessage, type ClientRequestMessage } from '../../src/messages/messages.js';
import { encodePut } from '../../src/statemachines/kv-ops.js';
import { acquireDirLock } from '../../src/log/dir-lock.js';
import { RawConnection } from '../support/raw-connection.js';

const fatalModule = fileURLToPath(new URL('../support/fatal-sm.js', import.meta.url));


// ---- an actor that dies -----------------------------------------------------------------------

test('a server process whose updater worker exits stops with a non-zero code and says why; the others keep serving', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-fail-proc-'));
  const logFile = path.join(dir, 'servers.log');
  const cluster = new LocalCluster({ nodes: 3, dir, basePort: testPort(19500), actors: 'workers', stateMachine: fatalModule, logFile });
  let client: RaftClient | null = null;
  try {
    cluster.startAll();
    const leader = await cluster.waitForLeader();
    client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 10_000 });
    for (let i = 0; i < 3; i++) await client.send(encode(`before-${i}`));
    const victim = cluster.nodes.find((node) => node.id !== leader.id)!;

    // The leader and the other follower apply it as nothing; only the victim's updater exits.
    await client.send(encode(`exit:${victim.id}`));
    await withTimeout(cluster.waitExit(victim.id), 15_000);
    assert.notEqual(victim.exitCode, null, `${victim.id} exited rather than being killed by a signal`);
    assert.notEqual(victim.exitCode, 0, `${victim.id} exited with a non-zero code`);

    const log = fs.readFileSync(logFile, 'utf8');
    assert.match(log, new RegExp(`raftline server ${victim.id} stopped: `), 'the server said it stopped');
    assert.match(log, /updater actor exited with code 7/, 'and why');

    // Two of three still make a majority: writes go on, and the leader did not change.
    for (let i = 0; i < 3; i++) await client.send(encode(`after-${i}`));
    const statuses = await cluster.statuses();
    for (const node of cluster.nodes) {
      const status = statuses[cluster.nodes.indexOf(node)];
      if (node.id === victim.id) assert.equal(status, null, `${victim.id} no longer answers`);
      else assert.ok(status !== null && status.applied >= 7, `${node.id} applied the writes made after the failure`);
    }
    assert.ok(cluster.node(leader.id).process !== null, 'the leader is still running');
  } catch (error) {
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
    (error as Error).message += `\nserver log tail:\n${tail}`;
    throw error;
  } finally {
    await client?.close();
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('in process: a dying updater worker reports ACTOR_FAILURE through onFailure and the server closes without hanging', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-fail-inproc-'));
  const peers = [{ id: 'n1', address: `127.0.0.1:${testPort(19510)}` }];
  const server = new RaftServer({
    id: 'n1', peers, dir, actors: 'workers', stateMachine: fatalModule, logger: pino({ level: 'silent' }),
  });
  const client = await RaftClient.connect({ peers: [`127.0.0.1:${testPort(19510)}`], requestTimeoutMs: 2000 });
  try {
    const failures: Error[] = [];
    const failed = new Promise<Error>((resolve) => server.onFailure((error) => {
      failures.push(error);
      resolve(error);
    }));
    await server.start();
    await waitForLeader([server]);
    await client.send(encode('fine'));

    // The reply may be an error, a timeout or nothing: the write's outcome is not the point.
    const write = client.send(encode('exit:n1')).catch(() => null);
    const error = await withTimeout(failed, 10_000) as Error & { code?: string; details?: Record<string, unknown> };
    assert.equal(error.code, 'ACTOR_FAILURE');
    assert.match(error.message, /updater/);
    assert.match(error.message, /code 7/);
    assert.equal(error.details?.['actor'], 'updater');
    await write;

    // The server is closing itself; close() resolves once that is done: the surviving workers
    // are stopped and the data directory is unlocked, though the updater never answers again.
    await withTimeout(server.close(), 10_000);
    assert.doesNotThrow(() => server.status());
    acquireDirLock(dir).release();
    await sleep(100);
    assert.equal(failures.length, 1, 'onFailure is called once');
  } finally {
    await client.close();
    await withTimeout(server.close(), 10_000).catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- backpressure -----------------------------------------------------------------------------



interface BurstResult {
  replies: ClientReplyMessage[];
  pendingMax: number;
}

/**
 * Opens a session on a raw socket, then sends `requests` as one write of that session and collects
 * one reply per request, sampling the leader's pending count on every reply.
 */
async function burst(group: Group, requests: Uint8Array[], timeoutMs = 20_000): Promise<BurstResult> {
  const address = group.addresses[group.servers.indexOf(group.leader)]!;
  const [host, port] = address.split(':');
  const frames = (session: string): Buffer => Buffer.concat(requests.map((data, i) => encodeFrame({
    k: Kind.ClientRequest, g: 'default', clientId: session, callId: i + 1, firstUnacked: 1, type: RequestType.write, data,
  } satisfies ClientRequestMessage)));
  const socket = net.connect(Number(port), host!);
  const reader = new FrameReader(defaultLimits.frameBytesMax);
  const replies: ClientReplyMessage[] = [];
  let pendingMax = 0;
  let sent = false;
  const sample = (): void => { pendingMax = Math.max(pendingMax, group.leader.status().pendingRequests); };
  const sampler = setInterval(sample, 1);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${replies.length} of ${requests.length} replies within ${timeoutMs} ms`)), timeoutMs);
      socket.on('error', (error) => { clearTimeout(timer); reject(error); });
      socket.once('connect', () => {
        socket.write(encodeFrame({
          k: Kind.ClientRequest, g: 'default', clientId: 'raw-burst', callId: 0, firstUnacked: 0, type: RequestType.openSession,
          data: new Uint8Array(0),
        } satisfies ClientRequestMessage));
      });
      socket.on('data', (chunk: Buffer) => {
        sample();
        for (const body of reader.push(chunk)) {
          const message = decodeServerToClientMessage(body);
          assert.equal(message.k, Kind.ClientReply);
          if (!sent) {
            assert.equal(message.ok, true, 'the session opened');
            socket.write(frames((decode(message.result!) as { session: string }).session));
            sent = true;
            sample();
            continue;
          }
          replies.push(message as ClientReplyMessage);
        }
        if (replies.length >= requests.length) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    clearInterval(sampler);
    socket.destroy();
  }
  return { replies, pendingMax };
}

function checkRefusals(result: BurstResult, count: number, bound: number, detail: string): void {
  const { replies, pendingMax } = result;
  assert.equal(replies.length, count);
  assert.deepEqual(new Set(replies.map((reply) => reply.callId)).size, count, 'one reply per call');
  const refused = replies.filter((reply) => !reply.ok);
  const accepted = replies.filter((reply) => reply.ok);
  for (const reply of refused) {
    assert.equal(reply.error?.code, 'RESOURCE_UNAVAILABLE', `call ${reply.callId}: ${reply.error?.message}`);
    assert.ok(reply.error?.details?.[detail] !== undefined, `the refusal names ${detail}`);
  }
  assert.ok(refused.length > 0, 'some writes of the burst were refused');
  assert.ok(accepted.length > 0, 'some writes of the burst were accepted');
  assert.ok(pendingMax <= bound, `the leader held ${pendingMax} pending requests, over the bound of ${bound}`);
  for (const reply of accepted) assert.ok(reply.index > 0, 'an accepted write has a log index');
}

test('backpressure by count: a raw burst of 200 writes gets ok or RESOURCE_UNAVAILABLE, never over pendingRequestsMax', { timeout: 30_000 }, async () => {
  await withGroup(testPort(19520), { pendingRequestsMax: 4 }, async (group) => {
    const requests = Array.from({ length: 200 }, (_, i) => encodePut(`raw-${i}`, `v${i}`));
    const result = await burst(group, requests);
    checkRefusals(result, 200, 4, 'pendingRequestsMax');
    await sleep(50);
    assert.equal(group.leader.status().pendingRequests, 0, 'every admitted write was released');

    // An accepted write is really there; a refused one is not.
    const client = await RaftClient.connect({ peers: group.addresses, requestTimeoutMs: 10_000 });
    try {
      const store = kv(client);
      const ok = result.replies.find((reply) => reply.ok)!;
      const refused = result.replies.find((reply) => !reply.ok)!;
      assert.equal(await store.get(`raw-${ok.callId - 1}`), `v${ok.callId - 1}`);
      assert.equal(await store.get(`raw-${refused.callId - 1}`), null);
    } finally {
      await client.close();
    }
  });
});

test('backpressure by count: a RaftClient with 200 concurrent puts backs off and retries until all succeed', { timeout: 40_000 }, async () => {
  await withGroup(testPort(19530), { pendingRequestsMax: 4, sessionIdleMsMax: 3_600_000 }, async (group) => {
    const client = await RaftClient.connect({ peers: group.addresses, requestTimeoutMs: 30_000 });
    const termBefore = group.leader.status().term;
    let pendingMax = 0;
    const sampler = setInterval(() => { pendingMax = Math.max(pendingMax, group.leader.status().pendingRequests); }, 1);
    try {
      const store = kv(client);
      const outcomes = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => store.put(`key-${i}`, `value-${i}`)));
      const failed = outcomes.flatMap((outcome, i) => outcome.status === 'rejected' ? [`key-${i}: ${(outcome.reason as Error).message}`] : []);
      assert.deepEqual(failed, [], 'every put succeeded');
      assert.ok(pendingMax <= 4, `the leader held ${pendingMax} pending requests`);
      for (const i of [0, 57, 123, 199]) assert.equal(await store.get(`key-${i}`), `value-${i}`);
      // Each put appended once: with no change of leader the log holds the no-op, the client's
      // session open and the 200 puts (the group's idle bound is too long for a clock entry).
      const status = group.leader.status();
      if (status.role === 'leader' && status.term === termBefore) assert.equal(status.lastIndex, 202, 'no put was appended twice');
    } finally {
      clearInterval(sampler);
      await client.close();
    }
  });
});

test('backpressure by bytes: a burst of large values is refused past pendingBytesMax; a RaftClient still gets them all in', { timeout: 30_000 }, async () => {
  const limits = { entryBytesMax: 4096, pendingBytesMax: 8192 };
  await withGroup(testPort(19540), limits, async (group) => {
    const large = (i: number): string => `${i}:`.padEnd(3000, 'x');
    const requests = Array.from({ length: 40 }, (_, i) => encodePut(`big-${i}`, large(i)));
    const perEntry = requests[0]!.length;
    const bound = Math.floor(limits.pendingBytesMax / perEntry);
    assert.ok(bound >= 1 && bound < 40);
    const result = await burst(group, requests);
    checkRefusals(result, 40, bound, 'pendingBytesMax');
    assert.equal(result.replies.filter((reply) => reply.ok).length > 0, true);

    const client = await RaftClient.connect({ peers: group.addresses, requestTimeoutMs: 20_000 });
    try {
      const store = kv(client);
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`big-client-${i}`, large(i))));
      assert.equal(await store.get('big-client-0'), large(0));
      assert.equal(await store.get('big-client-19'), large(19));
    } finally {
      await client.close();
    }
  });
});

// ---- a follower that lost its leader -----------------------------------------------------------

test('a follower that has lost its leader holds a client\'s write through the election, then names the new leader (not the dead one)', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-leader-wait-'));
  const cluster = new LocalCluster({ nodes: 3, dir, basePort: testPort(19550), actors: 'workers', logFile: path.join(dir, 'servers.log') });
  try {
    cluster.startAll();
    const old = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node.id !== old.id)!;
    cluster.kill(old.id);
    // Past two heartbeats without the leader, short of the shortest election timeout (500 ms).
    await sleep(300);
    const connection = await RawConnection.open(follower.address);
    try {
      connection.write(encodeFrame({
        k: Kind.ClientRequest, g: 'default', clientId: 'leader-wait', callId: 1, firstUnacked: 1, type: RequestType.write, data: encodePut('k', 'v'),
      } satisfies ClientRequestMessage));
      const reply = await connection.reply(0, 10_000) as unknown as ClientReplyMessage;
      const statuses = await cluster.statuses();
      const elected = statuses.find((status) => status !== null && status.role === 'leader' && status.term > 1);
      assert.ok(elected !== undefined && elected !== null && elected.id !== old.id, 'a new leader was elected');
      if (reply.error?.code === 'NOT_LEADER') {
        // Answered once a leader was elected: it names that one, never the one killed.
        const details = reply.error.details as { leaderId?: string };
        assert.equal(details.leaderId, elected.id, `the reply names ${details.leaderId}, after ${old.id} was killed`);
      } else {
        // Or the follower itself won, and took the request as leader (this raw write names no session).
        assert.equal(elected.id, follower.id, `answered ${JSON.stringify(reply.error)} by ${follower.id}, which does not lead`);
      }
    } finally {
      connection.destroy();
    }
    const client = await RaftClient.connect({ peers: [follower.address], requestTimeoutMs: 5000 });
    try {
      const held = (await client.metrics(follower.address)).counters['requestsHeldForLeader'];
      assert.ok(held !== undefined && held >= 1, `the follower counted the request it held: ${held}`);
    } finally {
      await client.close();
    }
  } finally {
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
