/**
 * A client follows the leader that a NOT_LEADER reply names even when that address is not among
 * the peers it was given (a client that knows one follower reaches the leader through it), falls
 * back to its own peers when the named leader cannot be reached, and ignores a hint that is not
 * an address. Scripted servers (test/support/scripted-server.ts), real sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftClient } from '../../src/client/raft-client.js';
import { asRequest, bytes, echo, replyError, TestServer, text } from '../support/scripted-server.js';

const fastRetries = { requestTimeoutMs: 3000, retry: { delayMsMin: 5, delayMsMax: 20 } };

test('NOT_LEADER naming a leader outside the client\'s peers: the call goes there, with the same callId', { timeout: 10_000 }, async () => {
  const leader = await TestServer.start(echo);
  const follower = await TestServer.start((message, socket) => {
    replyError(socket, asRequest(message).callId, 'NOT_LEADER', { leaderId: 'n2', leaderAddress: leader.address });
  });
  const client = await RaftClient.connect({ peers: [follower.address], ...fastRetries });
  try {
    const started = Date.now();
    assert.equal(text(await client.send(bytes('hello'))), 'hello');
    assert.ok(Date.now() - started < 1000, `answered at once, not after retries (${Date.now() - started} ms)`);
    assert.equal(client.leader, leader.address);
    assert.equal(text(await client.sendReadOnly(bytes('read'))), 'read');
    assert.deepEqual(follower.callIds, [1]);
    assert.deepEqual(leader.callIds, [1, 2]);
  } finally {
    await client.close();
    await Promise.all([leader.close(), follower.close()]);
  }
});

test('a hinted leader that goes away: the client returns to its own peers', { timeout: 10_000 }, async () => {
  const leader = await TestServer.start(echo);
  let followerIsLeader = false;
  const follower = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    if (followerIsLeader) echo(message, socket, follower);
    else replyError(socket, request.callId, 'NOT_LEADER', { leaderAddress: leader.address });
  });
  const client = await RaftClient.connect({ peers: [follower.address], ...fastRetries });
  try {
    assert.equal(text(await client.send(bytes('first'))), 'first');
    await leader.close();
    followerIsLeader = true;
    assert.equal(text(await client.send(bytes('second'))), 'second');
    assert.equal(client.leader, follower.address);
  } finally {
    await client.close();
    await Promise.all([leader.close(), follower.close()]);
  }
});

test('the members a NOT_LEADER names are learned: with the servers it was given gone, the client finds a leader among them', { timeout: 10_000 }, async () => {
  const replacement = await TestServer.start(echo);
  let leaderUp = true;
  const leader = await TestServer.start((message, socket) => {
    if (leaderUp) echo(message, socket, leader);
  });
  const given = await TestServer.start((message, socket) => {
    replyError(socket, asRequest(message).callId, 'NOT_LEADER', {
      leaderAddress: leader.address, members: [given.address, leader.address, replacement.address, 'not an address'],
    });
  });
  const client = await RaftClient.connect({ peers: [given.address], ...fastRetries });
  try {
    assert.equal(text(await client.send(bytes('first'))), 'first');
    // The server the client was given goes away, and so does the leader it named: only the
    // replacement, which the client never was told of but by the members list, answers.
    leaderUp = false;
    await given.close();
    await leader.close();
    assert.equal(text(await client.send(bytes('second'))), 'second');
    assert.equal(client.leader, replacement.address);
    assert.deepEqual(replacement.callIds, [2]);
  } finally {
    await client.close();
    await Promise.all([replacement.close(), leader.close(), given.close()]);
  }
});

test('a hint that is not an address is ignored: the client tries its next peer', { timeout: 10_000 }, async () => {
  const leader = await TestServer.start(echo);
  const follower = await TestServer.start((message, socket) => {
    replyError(socket, asRequest(message).callId, 'NOT_LEADER', { leaderAddress: 'n2=not an address' });
  });
  const client = await RaftClient.connect({ peers: [follower.address, leader.address], ...fastRetries });
  try {
    assert.equal(text(await client.send(bytes('x'))), 'x');
    assert.equal(client.leader, leader.address);
  } finally {
    await client.close();
    await Promise.all([leader.close(), follower.close()]);
  }
});
