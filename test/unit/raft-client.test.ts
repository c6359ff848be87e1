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
  ClosedError, EntryTooLargeError, errorFromWire, GroupMismatchError, RetryFailureError, SessionExpiredError, StateMachineError, TimeoutError,
  type RaftlineError,
} from '../../src/errors.js';
import { encode } from '../../src/messages/codec.js';
import { Kind } from '../../src/messages/kinds.js';
import { RequestType, type ClientRequestMessage, type DivisionStatus } from '../../src/messages/messages.js';
import createKvStateMachine from '../../src/statemachines/kv.js';
import { decodeKvOperation } from '../../src/statemachines/kv-ops.js';
import { asRequest, bytes, echo, reply, replyError, replyOk, TestServer, text, type Handler } from '../support/scripted-server.js';
import type { Socket } from 'node:net';


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

test('requests carry the type, group, the session id and firstUnacked; the session is opened under the client id', async () => {
  const held: ClientRequestMessage[] = [];
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    held.push(request);
    // Answer call 2 only once call 4 arrives, so calls 3 and 4 see call 2 outstanding.
    if (request.callId === 1 || request.callId === 5) replyOk(socket, request.callId, null);
    if (request.callId === 4) for (const h of held) if (h.callId >= 2) replyOk(socket, h.callId, null);
  });
  try {
    await withClient([server.address], async (client) => {
      assert.equal(client.sessionId, null, 'no session before the first write');
      await client.send(bytes('w0'));
      assert.equal(client.sessionId, 'client-a@1');
      await Promise.all([client.send(bytes('w')), client.sendReadOnly(bytes('r')), client.sendStaleRead(bytes('s'))]);
      await client.send(bytes('w2'));
    }, { groupId: 'g1', clientId: 'client-a' });
    assert.deepEqual(server.opens.map((m) => [m.g, m.clientId, m.callId, m.type]), [['g1', 'client-a', 0, RequestType.openSession]]);
    assert.deepEqual(held.map((m) => [m.g, m.clientId, m.callId, m.firstUnacked, m.type]), [
      ['g1', 'client-a@1', 1, 1, RequestType.write],
      ['g1', 'client-a@1', 2, 2, RequestType.write],
      ['g1', 'client-a@1', 3, 2, RequestType.readOnly],
      ['g1', 'client-a@1', 4, 2, RequestType.staleRead],
      ['g1', 'client-a@1', 5, 5, RequestType.write],
    ]);
    assert.deepEqual(server.closes.map((m) => [m.clientId, m.callId, m.type]), [['client-a@1', 6, RequestType.closeSession]], 'close ends the session');
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
    id: 'n2', groupId: 'default', role: 'follower', term: 3, leader: 'n1', commit: 7, applied: 7, synced: 7, lastIndex: 7, sessions: 0,
    logTailCut: null, termCeilingReached: false, snapshotIndex: 0, snapshots: 'supported', firstLogIndex: 1, logBytes: 0,
    electionPaused: false, transferTarget: null, voters: ['n1', 'n2', 'n3'], learners: [], joint: false, configurationIndex: 0, tls: false,
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
    // The session's open, the first write, then the five.
    assert.deepEqual(server.batchSizes, [1, 1, 5]);
    assert.deepEqual(server.callIds, [1, 2, 3, 4, 5, 6]);
  } finally {
    await client.close();
    await server.close();
  }
});

/** A server that opens sessions `<clientId>@<n>` (n counting its opens) with idle bound `idleMsMax`, and answers writes with `write`. */
async function sessionServer(idleMsMax: number, write: Handler, onClose?: (request: ClientRequestMessage, socket: Socket) => void): Promise<TestServer> {
  let opens = 0;
  return TestServer.start((message, socket, server) => {
    const request = asRequest(message);
    if (request.type === RequestType.openSession) {
      opens++;
      replyOk(socket, request.callId, encode({ session: `${request.clientId}@${opens}`, idleMsMax }));
    } else if (request.type === RequestType.closeSession) {
      onClose?.(request, socket);
    } else {
      write(message, socket, server);
    }
  }, { handleSessions: true });
}

const requests = (server: TestServer, type: number): ClientRequestMessage[] =>
  server.seen.filter((m): m is ClientRequestMessage => m.k === Kind.ClientRequest && m.type === type);

test('close ends the session through the log, and waits for it at most sessionCloseWaitMsMax', async () => {
  const server = await sessionServer(60_000, echo);
  try {
    const client = await RaftClient.connect({ peers: [server.address], sessionCloseWaitMsMax: 300 });
    await client.send(bytes('w'));
    const began = performance.now();
    await client.close();
    const tookMs = performance.now() - began;
    assert.ok(tookMs >= 250 && tookMs < 1500, `close took ${tookMs.toFixed(0)} ms with no answer to the session's end`);
    assert.deepEqual(requests(server, RequestType.closeSession).map((m) => m.clientId), [`${client.clientId}@1`]);
    assert.equal(client.sessionId, null);
    await assert.rejects(client.send(bytes('late')), ClosedError);
  } finally {
    await server.close();
  }
});

test('a client that never wrote opens no session and ends none', async () => {
  const server = await TestServer.start(echo);
  try {
    await withClient([server.address], async (client) => {
      assert.equal(text(await client.sendReadOnly(bytes('r'))), 'r');
    });
    assert.deepEqual([server.opens.length, server.closes.length], [0, 0]);
  } finally {
    await server.close();
  }
});

test('a write answered SESSION_EXPIRED within a deadline shorter than the bound goes again in a new session, with its callId', async () => {
  const server = await sessionServer(60_000, (message, socket) => {
    const request = asRequest(message);
    if (request.clientId.endsWith('@1')) replyError(socket, request.callId, 'SESSION_EXPIRED', { session: request.clientId });
    else replyOk(socket, request.callId, request.data);
  });
  try {
    await withClient([server.address], async (client) => {
      assert.equal(text(await client.send(bytes('v'))), 'v');
      assert.equal(client.sessionId, `${client.clientId}@2`);
    }, { clientId: 'k' });
    assert.deepEqual(requests(server, RequestType.openSession).length, 2);
    assert.deepEqual(requests(server, RequestType.write).map((m) => [m.clientId, m.callId]), [['k@1', 1], ['k@2', 1]]);
  } finally {
    await server.close();
  }
});

test('a write answered SESSION_EXPIRED with a deadline as long as the bound rejects with SessionExpiredError (it may have been applied)', async () => {
  const server = await sessionServer(2000, (message, socket) => {
    replyError(socket, asRequest(message).callId, 'SESSION_EXPIRED', { session: asRequest(message).clientId });
  });
  try {
    await withClient([server.address], async (client) => {
      await assert.rejects(client.send(bytes('v')), (error: unknown) => error instanceof SessionExpiredError && error.code === 'SESSION_EXPIRED');
    });
    assert.equal(requests(server, RequestType.write).length, 1, 'not sent again');
  } finally {
    await server.close();
  }
});

test('a client idle for half the servers\' bound opens a new session before its next write', async () => {
  const server = await sessionServer(200, echo);
  try {
    await withClient([server.address], async (client) => {
      await client.send(bytes('a'));
      await client.send(bytes('b'));
      assert.equal(client.sessionId, 'idle@1');
      await new Promise((resolve) => setTimeout(resolve, 150));
      await client.send(bytes('c'));
      assert.equal(client.sessionId, 'idle@2');
    }, { clientId: 'idle' });
    assert.deepEqual(requests(server, RequestType.write).map((m) => m.clientId), ['idle@1', 'idle@1', 'idle@2']);
  } finally {
    await server.close();
  }
});

test('writes waiting for a session that cannot be opened reject with the open\'s error', async () => {
  const server = await TestServer.start((message, socket) => {
    const request = asRequest(message);
    if (request.type === RequestType.openSession) replyError(socket, request.callId, 'GROUP_MISMATCH');
    else replyOk(socket, request.callId, null);
  }, { handleSessions: true });
  try {
    await withClient([server.address], async (client) => {
      const results = await Promise.allSettled([client.send(bytes('a')), client.send(bytes('b'))]);
      for (const result of results) assert.ok(result.status === 'rejected' && result.reason instanceof GroupMismatchError);
      assert.equal(client.sessionId, null);
    });
    assert.equal(requests(server, RequestType.write).length, 0, 'no write went out without a session');
  } finally {
    await server.close();
  }
});
