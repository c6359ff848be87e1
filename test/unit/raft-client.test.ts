/**
 * RaftClient against small real TCP servers (test/support/scripted-server.ts), scripted per
 * case. Timeouts and back-offs are short, so every case ends in well under a few seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftClient, type RaftClientOptions } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { backOffDelayMs, dispositionOf } from '../../src/client/retry-policy.js';
import {
  ClosedError, EntryTooLargeError, errorFromWire, GroupMismatchError, RetryFailureError, StateMachineError, TimeoutError,
  type RaftlineError,
} from '../../src/errors.js';
import { encode } from '../../src/messages/codec.js';
import { Kind } from '../../src/messages/kinds.js';
import { RequestType, type ClientRequestMessage, type DivisionStatus } from '../../src/messages/messages.js';
import createKvStateMachine from '../../src/statemachines/kv.js';
import { decodeKvOperation } from '../../src/statemachines/kv-ops.js';
import { asRequest, bytes, echo, reply, replyError, replyOk, TestServer, text } from '../support/scripted-server.js';


async function withClient(
  peers: string[], body: (client: RaftClient) => Promise<void>, options: Partial<RaftClientOptions> = {},
): Promise<void> {
  const client = await RaftClient.connect({
    peers, requestTimeoutMs: 2000, retry: { delayMsMin: 5, delayMsMax: 20 }, ...options,
  });
  try {
    await body(client);
  } finally {
    await client.close();
  }
}

test('NOT_LEADER redirects to the suggested leader and resends the same callId', async () => {
  const leader = await TestServer.start(echo);
  // The middle peer must be skipped: the hint names the leader directly.
  const skipped = await TestServer.start((message, socket) => replyError(socket, asRequest(message).callId, 'NOT_LEADER'));
  const follower = await TestServer.start((message, socket) => {
    replyError(socket, asRequest(message).callId, 'NOT_LEADER', { leaderAddress: leader.address });
  });
  try {
    await withClient([follower.address, skipped.address, leader.address], async (client) => {
      assert.equal(text(await client.send(bytes('hello'))), 'hello');
      assert.equal(client.leader, leader.address);
      assert.equal(text(await client.send(bytes('again'))), 'again');
    });
    assert.deepEqual(follower.callIds, [1]);
    assert.deepEqual(skipped.callIds, []);
    assert.deepEqual(leader.callIds, [1, 2]);
  } finally {
    await Promise.all([leader.close(), skipped.close(), follower.close()]);
  }
});

test('NOT_LEADER without a hint moves to the next peer', async () => {
  const leader = await TestServer.start(echo);
  const follower = await TestServer.start((message, socket) => replyError(socket, asRequest(message).callId, 'NOT_LEADER'));
  try {
    await withClient([follower.address, leader.address], async (client) => {
      assert.equal(text(await client.send(bytes('x'))), 'x');
    });
    assert.deepEqual(follower.callIds, [1]);
    assert.deepEqual(leader.callIds, [1]);
  } finally {
    await Promise.all([leader.close(), follower.close()]);
  }
});

test('RESOURCE_UNAVAILABLE and LEADER_NOT_READY are retried with the same callId', async () => {
  const refusals = new Map<number, number>();
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    const count = refusals.get(request.callId) ?? 0;
    refusals.set(request.callId, count + 1);
    if (count === 0) replyError(socket, request.callId, 'RESOURCE_UNAVAILABLE');
    else if (count === 1) replyError(socket, request.callId, 'LEADER_NOT_READY');
    else replyOk(socket, request.callId, request.data);
  });
  try {
    await withClient([server.address], async (client) => {
      const [a, b] = await Promise.all([client.send(bytes('a')), client.send(bytes('b'))]);
      assert.equal(text(a), 'a');
      assert.equal(text(b), 'b');
    });
    assert.deepEqual([...server.callIds].sort(), [1, 1, 1, 2, 2, 2]);
    assert.equal(server.connectionCount, 1);
  } finally {
    await server.close();
  }
});

test('a connection the server closes is redialled and every outstanding call resent with its callId', async () => {
  let dropped = false;
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    // Hold the first two calls, then drop the connection with both unanswered.
    if (!dropped) {
      if (request.callId === 2) {
        dropped = true;
        socket.destroy();
      }
      return;
    }
    replyOk(socket, request.callId, request.data);
  });
  try {
    await withClient([server.address], async (client) => {
      const results = await Promise.all([client.send(bytes('one')), client.send(bytes('two'))]);
      assert.deepEqual(results.map(text), ['one', 'two']);
    });
    assert.deepEqual([...server.callIds].sort(), [1, 1, 2, 2]);
    assert.equal(server.connectionCount, 2);
  } finally {
    await server.close();
  }
});

test('a refused dial is retried on the next peer', async () => {
  const gone = await TestServer.start(echo);
  const goneAddress = gone.address;
  await gone.close();
  const server = await TestServer.start(echo);
  try {
    await withClient([goneAddress, server.address], async (client) => {
      assert.equal(text(await client.send(bytes('up'))), 'up');
    });
    assert.deepEqual(server.callIds, [1]);
  } finally {
    await server.close();
  }
});

test('a malformed frame closes the connection and the call is resent', async () => {
  let malformedSent = false;
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    if (!malformedSent) {
      malformedSent = true;
      reply(socket, { k: 99, callId: request.callId });
      return;
    }
    replyOk(socket, request.callId, request.data);
  });
  try {
    await withClient([server.address], async (client) => {
      assert.equal(text(await client.send(bytes('m'))), 'm');
    });
    assert.deepEqual(server.callIds, [1, 1]);
    assert.equal(server.connectionCount, 2);
  } finally {
    await server.close();
  }
});

test('out-of-order replies resolve the right calls', async () => {
  const held: ClientRequestMessage[] = [];
  const server = await TestServer.start((message, socket) => {
    held.push(asRequest(message));
    if (held.length === 5) {
      for (const request of [...held].reverse()) replyOk(socket, request.callId, request.data);
    }
  });
  try {
    await withClient([server.address], async (client) => {
      const calls = ['a', 'b', 'c', 'd', 'e'].map((value) => client.send(bytes(value)));
      assert.deepEqual((await Promise.all(calls)).map(text), ['a', 'b', 'c', 'd', 'e']);
    });
  } finally {
    await server.close();
  }
});

test('final errors reject at once with their class and code, without a retry', async () => {
  const codes: Record<string, string> = { s: 'STATE_MACHINE_ERROR', e: 'ENTRY_TOO_LARGE', g: 'GROUP_MISMATCH' };
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    replyError(socket, request.callId, codes[text(request.data)]!);
  });
  try {
    await withClient([server.address], async (client) => {
      const expectations: [string, new (...args: never[]) => RaftlineError, string][] = [
        ['s', StateMachineError, 'STATE_MACHINE_ERROR'],
        ['e', EntryTooLargeError, 'ENTRY_TOO_LARGE'],
        ['g', GroupMismatchError, 'GROUP_MISMATCH'],
      ];
      for (const [data, errorClass, code] of expectations) {
        await assert.rejects(client.send(bytes(data)), (error: RaftlineError) => {
          assert.ok(error instanceof errorClass, `${error.name} is not ${errorClass.name}`);
          assert.equal(error.code, code);
          return true;
        });
      }
    });
    assert.deepEqual(server.callIds, [1, 2, 3]);
  } finally {
    await server.close();
  }
});

test('a refused frame (group mismatch) rejects the calls sent on that connection', async () => {
  const server = await TestServer.start((_message, socket) => {
    reply(socket, { k: Kind.Refused, error: { code: 'GROUP_MISMATCH', message: 'no group other', details: {} } });
  });
  try {
    await withClient([server.address], async (client) => {
      await assert.rejects(client.send(bytes('x')), GroupMismatchError);
    }, { groupId: 'other' });
    assert.equal(server.seen[0]?.g, 'other');
  } finally {
    await server.close();
  }
});

test('a call with no reply by its deadline rejects with TimeoutError', async () => {
  const server = await TestServer.start(() => undefined);
  try {
    await withClient([server.address], async (client) => {
      const started = Date.now();
      await assert.rejects(client.send(bytes('x')), (error: Error) => {
        assert.ok(error instanceof TimeoutError);
        assert.equal(error.code, 'TIMEOUT');
        return true;
      });
      assert.ok(Date.now() - started >= 140);
    }, { requestTimeoutMs: 150 });
    assert.deepEqual(server.callIds, [1]);
  } finally {
    await server.close();
  }
});

test('retries still failing at the deadline reject with RetryFailureError and the last error', async () => {
  const server = await TestServer.start((message, socket) => replyError(socket, asRequest(message).callId, 'LEADER_NOT_READY'));
  try {
    await withClient([server.address], async (client) => {
      await assert.rejects(client.send(bytes('x')), (error: Error) => {
        assert.ok(error instanceof RetryFailureError);
        assert.equal((error.details['cause'] as RaftlineError).code, 'LEADER_NOT_READY');
        return true;
      });
    }, { requestTimeoutMs: 150 });
    assert.ok(server.callIds.length >= 2);
    assert.ok(server.callIds.every((callId) => callId === 1));
  } finally {
    await server.close();
  }
});

test('close() rejects outstanding calls with ClosedError, and later calls too', async () => {
  const server = await TestServer.start(() => undefined);
  try {
    const client = await RaftClient.connect({ peers: [server.address] });
    const pending = [client.send(bytes('a')), client.sendReadOnly(bytes('b')), client.status(server.address)];
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.close();
    for (const call of pending) await assert.rejects(call, ClosedError);
    await assert.rejects(client.send(bytes('c')), ClosedError);
  } finally {
    await server.close();
  }
});

test('requests carry the type, group, a stable clientId and firstUnacked', async () => {
  const held: ClientRequestMessage[] = [];
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    held.push(request);
    // Answer call 1 only once call 3 arrives, so call 2 and 3 see call 1 outstanding.
    if (request.callId === 3) for (const h of held) replyOk(socket, h.callId, null);
    if (request.callId === 4) replyOk(socket, 4, null);
  });
  try {
    await withClient([server.address], async (client) => {
      await Promise.all([client.send(bytes('w')), client.sendReadOnly(bytes('r')), client.sendStaleRead(bytes('s'))]);
      await client.send(bytes('w2'));
    }, { groupId: 'g1', clientId: 'client-a' });
    assert.deepEqual(held.map((m) => [m.g, m.clientId, m.callId, m.firstUnacked, m.type]), [
      ['g1', 'client-a', 1, 1, RequestType.write],
      ['g1', 'client-a', 2, 1, RequestType.readOnly],
      ['g1', 'client-a', 3, 1, RequestType.staleRead],
      ['g1', 'client-a', 4, 4, RequestType.write],
    ]);
  } finally {
    await server.close();
  }
});

test('calls made in one tick leave in one write', async () => {
  const server = await TestServer.start(echo);
  try {
    await withClient([server.address], async (client) => {
      await client.send(bytes('warm-up'));
      const before = server.chunkCount;
      const calls = Array.from({ length: 200 }, (_, i) => client.send(bytes(`v${i}`)));
      assert.deepEqual((await Promise.all(calls)).map(text), Array.from({ length: 200 }, (_, i) => `v${i}`));
      assert.ok(server.chunkCount - before <= 3, `${server.chunkCount - before} chunks for 200 frames`);
    });
  } finally {
    await server.close();
  }
});

test('stale reads and status go to the named server', async () => {
  const status: DivisionStatus = {
    id: 'n2', groupId: 'default', role: 'follower', term: 3, leader: 'n1', commit: 7, applied: 7, synced: 7, lastIndex: 7,
    logTailCut: null, termCeilingReached: false,
  };
  const leader = await TestServer.start(echo);
  const replica = await TestServer.start((message, socket) => {
    if (message.k === Kind.StatusRequest) reply(socket, { k: Kind.StatusReply, callId: message.callId, status });
    else replyOk(socket, asRequest(message).callId, bytes('replica'));
  });
  try {
    await withClient([leader.address, replica.address], async (client) => {
      assert.equal(text(await client.sendStaleRead(bytes('q'), replica.address)), 'replica');
      assert.deepEqual(await client.status(replica.address), status);
      assert.equal(text(await client.sendStaleRead(bytes('q'))), 'q');
    });
    assert.equal(replica.seen.length, 2);
    assert.deepEqual(leader.callIds, [3]);
  } finally {
    await Promise.all([leader.close(), replica.close()]);
  }
});

test('the kv facade round-trips through a server running the kv state machine', async () => {
  const machine = createKvStateMachine();
  let index = 0;
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    void (async () => {
      try {
        const result = request.type === RequestType.write
          ? (machine.startTransaction!({ clientId: request.clientId, callId: request.callId, data: request.data }),
            await machine.applyTransaction({ index: ++index, term: 1, clientId: request.clientId, callId: request.callId, data: request.data }))
          : await machine.query(request.data);
        replyOk(socket, request.callId, result);
      } catch (error) {
        replyError(socket, request.callId, 'STATE_MACHINE_ERROR', { reason: (error as Error).message });
      }
    })();
  });
  try {
    await withClient([server.address], async (client) => {
      const store = kv(client);
      assert.equal(await store.get('k'), null);
      await store.put('k', 'v1');
      assert.equal(await store.get('k'), 'v1');
      assert.equal(await store.cas('k', 'nope', 'v2'), false);
      assert.equal(await store.cas('k', 'v1', 'v2'), true);
      assert.equal(await store.get('k'), 'v2');
      assert.equal(await store.delete('k'), true);
      assert.equal(await store.delete('k'), false);
      await assert.rejects(client.send(encode(['get', 'k'])), StateMachineError);
    });
    assert.deepEqual(decodeKvOperation(asRequest(server.seen[1]!).data), ['put', 'k', 'v1']);
  } finally {
    await server.close();
  }
});

test('connect refuses options without peers or with a bad address', async () => {
  await assert.rejects(RaftClient.connect({ peers: [] }), /at least one server/);
  await assert.rejects(RaftClient.connect({ peers: ['nohost'] }), /not host:port/);
  await assert.rejects(RaftClient.connect({ peers: ['127.0.0.1:1'], retry: { delayMsMin: 50, delayMsMax: 10 } }), /must not exceed/);
});

test('results are exact-size copies, not views into the socket buffer', async () => {
  const server = await TestServer.start(echo);
  try {
    await withClient([server.address], async (client) => {
      const result = await client.send(bytes('abc'));
      assert.ok(result !== null);
      assert.equal(result.constructor, Uint8Array);
      assert.equal(result.buffer.byteLength, 3);
    });
  } finally {
    await server.close();
  }
});

test('back-off doubles its ceiling from delayMsMin, with jitter, and never passes delayMsMax', () => {
  const policy = { delayMsMin: 10, delayMsMax: 100 };
  assert.deepEqual([0, 1, 2, 3, 4, 10, 100].map((attempt) => backOffDelayMs(policy, attempt, () => 1)), [10, 20, 40, 80, 100, 100, 100]);
  assert.deepEqual([0, 1, 2, 3, 4].map((attempt) => backOffDelayMs(policy, attempt, () => 0)), [10, 10, 20, 40, 50]);
  for (let attempt = 0; attempt < 50; attempt++) {
    const delayMs = backOffDelayMs(policy, attempt);
    assert.ok(delayMs >= 10 && delayMs <= 100, String(delayMs));
  }
});

test('each error code has its disposition', () => {
  const of = (code: string) => dispositionOf(errorFromWire({ code, message: code }));
  assert.equal(of('NOT_LEADER'), 'redirect');
  assert.equal(of('LEADER_NOT_READY'), 'backOff');
  assert.equal(of('RESOURCE_UNAVAILABLE'), 'backOff');
  for (const code of ['STATE_MACHINE_ERROR', 'ENTRY_TOO_LARGE', 'GROUP_MISMATCH', 'SOMETHING_NEW']) assert.equal(of(code), 'final');
});

test('calls made in one turn leave in one ClientRequestBatch frame, each answered on its own', async () => {
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    replyOk(socket, request.callId, request.data);
  });
  const client = await RaftClient.connect({ peers: [server.address] });
  try {
    await client.send(bytes('first'));
    const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((value) => client.send(bytes(value))));
    assert.deepEqual(results.map(text), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(server.batchSizes, [1, 5]);
    assert.deepEqual(server.callIds, [1, 2, 3, 4, 5, 6]);
  } finally {
    await client.close();
    await server.close();
  }
});
