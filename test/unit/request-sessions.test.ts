/**
 * The leader's side of client sessions: the request path appends a session's open and close as
 * their own entry types, past none of the state machine's hooks and outside the retry cache; the
 * retry cache forgets a client when the updater reports its session ended or forgotten (so a
 * retry is appended again, for the updater to answer); a clock entry goes to the log on its own.
 * The session clock appends only for a leader whose no-op is applied, only while sessions are
 * held, once per period, with the log's time continued from the last clock entry of the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestPath, type RequestPathHost } from '../../src/server/request-path.js';
import { PendingRequests, type PendingWrite } from '../../src/server/pending-requests.js';
import { SessionClock } from '../../src/server/session-clock.js';
import { StageRecorder } from '../../src/metrics/stage-recorder.js';
import { resolveLimits } from '../../src/limits.js';
import { Kind } from '../../src/messages/kinds.js';
import { RequestType, type ClientRequestMessage } from '../../src/messages/messages.js';
import { decodeClockData, EntryDecoder, EntryType, type EntryBody } from '../../src/messages/entry.js';
import { EntryRun } from '../../src/messages/packed-entries.js';
import { NotLeaderError, TransferInProgressError, type WireError } from '../../src/errors.js';
import type { RaftCore } from '../../src/core/raft-core.js';
import type { StateMachine } from '../../src/state-machine.js';
import type { Inbound } from '../../src/server/listener.js';
import { encode } from '../../src/messages/codec.js';

interface Reply { callId: number; index: number; error: WireError | null }

/** A request path on a leader whose log is a list of decoded entries, its turns run by hand. */
function leaderPath() {
  const log: EntryBody[] = [];
  const decoder = new EntryDecoder();
  const core = {
    role: 'leader', leaderId: 'n1', term: 1,
    propose: (count: number) => ({ ok: true, firstIndex: log.length + 1, term: 1, count }),
  } as unknown as RaftCore;
  const host: RequestPathHost = {
    id: 'n1',
    limits: resolveLimits(),
    raftCore: () => core,
    notLeader: (leaderId) => new NotLeaderError('not the leader', { leaderId }),
    transferInProgress: (target, _count) => new TransferInProgressError('transferring', { target }),
    appendEntries: (firstIndex, terms, entries) => {
      const run = new EntryRun(firstIndex);
      run.push(entries, terms);
      for (let i = 0; i < terms.length; i++) {
        const start = run.start(i);
        log.push(decoder.decodeAt(run.source(i), start, start + run.payloadLength(i)));
      }
      return log.length;
    },
    sendQueryBatch: () => {},
    processReady: () => {},
    sendReadIndexRequest: () => {},
    sendReadIndexReply: () => {},
    monotonicMs: () => 0,
  };
  const hookCalls: string[] = [];
  const hooks: StateMachine = {
    startTransaction: (transaction) => { hookCalls.push(`start ${transaction.clientId}`); return transaction; },
    applyTransaction: () => null,
    query: () => null,
  };
  const turns: (() => void)[] = [];
  const path = new RequestPath(host, hooks, new StageRecorder(false, 1), (run) => turns.push(run));
  const replies: Reply[] = [];
  const connection: Inbound = {
    id: 1, closed: false, receivedUs: 0, peerId: null, identity: null, messagesReceived: 1, identifyPeer: () => {}, close: () => {},
    send: (message) => {
      const reply = message as { callId: number; index: number; error: WireError | null };
      replies.push({ callId: reply.callId, index: reply.index, error: reply.error });
    },
    replyBatched: (callId, index, _result, error) => replies.push({ callId, index, error }),
  };
  const request = (clientId: string, callId: number, type: ClientRequestMessage['type'], data: Uint8Array = new Uint8Array(0)): void =>
    path.onClientRequest(connection, { k: Kind.ClientRequest, g: 'default', clientId, callId, firstUnacked: 1, type, data });
  const endTurn = (): void => { for (const run of turns.splice(0)) run(); };
  /** The updater applied everything appended so far, with no result. */
  const applyAll = (): void => path.onApplied(log.length, [], [], [], []);
  return { path, log, hookCalls, replies, request, endTurn, applyAll };
}

test('a session open and close are their own entries, past no hook and not in the retry cache; a write goes through both', () => {
  const { path, log, hookCalls, replies, request, endTurn, applyAll } = leaderPath();
  request('c', 0, RequestType.openSession);
  endTurn();
  assert.deepEqual(log.map((entry) => [entry.type, entry.clientId, entry.callId, entry.data.length]), [[EntryType.sessionOpen, 'c', 0, 0]]);
  request('c@1', 1, RequestType.write, encode('v'));
  request('c@1', 2, RequestType.closeSession);
  endTurn();
  assert.deepEqual(log.slice(1).map((entry) => [entry.type, entry.clientId, entry.callId]),
    [[EntryType.write, 'c@1', 1], [EntryType.sessionEnd, 'c@1', 2]]);
  assert.deepEqual(hookCalls, ['start c@1'], 'only the write passed the state machine\'s hook');
  assert.equal(path.retryCacheClients, 1, 'the write is cached, the open and close are not');
  applyAll();
  assert.deepEqual(replies.map((reply) => [reply.callId, reply.index, reply.error]), [[0, 1, null], [1, 2, null], [2, 3, null]]);
  assert.equal(path.pendingCount, 0, 'every permit released');
});

test('the retry cache forgets a client when the updater reports its session ended or forgotten: a retry is appended again', () => {
  const { path, log, replies, request, endTurn, applyAll } = leaderPath();
  request('c@7', 1, RequestType.write, encode('v'));
  request('d@8', 1, RequestType.write, encode('w'));
  endTurn();
  applyAll();
  // A retry of an answered call is answered from the cache: nothing appended.
  request('c@7', 1, RequestType.write, encode('v'));
  endTurn();
  assert.equal(log.length, 2);
  assert.equal(replies.length, 3);
  assert.equal(path.retryCacheClients, 2);
  path.onSessions({ held: 1, logTimeMs: 1234, opened: 2, ended: 0, expired: 1, forgotten: ['c@7'] });
  assert.equal(path.retryCacheClients, 1);
  assert.deepEqual(path.sessions, { held: 1, logTimeMs: 1234, opened: 2, ended: 0, expired: 1 });
  // Now the retry goes to the log, where the updater answers it SESSION_EXPIRED.
  request('c@7', 1, RequestType.write, encode('v'));
  endTurn();
  assert.equal(log.length, 3);
  assert.deepEqual([log[2]!.clientId, log[2]!.callId], ['c@7', 1]);
});

test('a clock entry goes to the log at once, on its own, carrying the log time and the bound', () => {
  const { path, log, replies } = leaderPath();
  assert.equal(path.appendClock(4321.5, 60_000), true);
  assert.equal(log.length, 1);
  assert.equal(log[0]!.type, EntryType.clock);
  assert.deepEqual(decodeClockData(log[0]!.data), { logTimeMs: 4321.5, sessionIdleMsMax: 60_000 });
  path.onApplied(1, [], [], [], []);
  assert.deepEqual(replies, [], 'no one waits for a clock entry');
  assert.equal(path.pendingCount, 0);
});

test('the session clock: not before the no-op is applied, not while no session is held, once a period, log time continued', () => {
  let nowMs = 10_000;
  const clock = new SessionClock(() => nowMs, 4000);
  clock.onLeaderStart(3, 20);
  assert.equal(clock.due(3, 19, 5, 700), null, 'the no-op at 20 is not applied: the log time is not known');
  assert.equal(clock.due(3, 20, 5, 700), null, 'base taken: log time 700 at 10000');
  nowMs += 999;
  assert.equal(clock.due(3, 21, 5, 700), null, 'within the period (a quarter of 4000)');
  nowMs += 1;
  assert.equal(clock.due(3, 21, 0, 700), null, 'no session held: nothing to append');
  assert.equal(clock.due(3, 21, 5, 700), 1700, 'a period on, sessions held: 700 + 1000');
  assert.equal(clock.due(3, 22, 5, 1700), null);
  nowMs += 2500;
  assert.equal(clock.due(3, 22, 5, 1700), 4200);
  assert.equal(clock.due(4, 30, 5, 4200), null, 'another term: the next leader start decides');
  clock.onLeaderStart(5, 40);
  nowMs += 5000;
  assert.equal(clock.due(5, 40, 5, 4200), null, 'a new term takes its base afresh');
  nowMs += 1000;
  assert.equal(clock.due(5, 41, 5, 4200), 5200, 'from the log time at its no-op, not the time it was away');
});

test('pending requests: forgetClient drops a client\'s table, and the cache counts its clients', () => {
  const pending = new PendingRequests(16, 1 << 20);
  const write = (clientId: string, callId: number): PendingWrite => ({
    clientId, callId, index: 0, bytes: 1, waiters: [], sample: null, done: true, result: null, error: null,
  });
  pending.register(write('a', 1));
  pending.register(write('a', 2));
  pending.register(write('b', 1));
  assert.equal(pending.clientCount, 2);
  pending.forgetClient('a');
  assert.equal(pending.clientCount, 1);
  assert.equal(pending.find('a', 1), undefined);
  assert.notEqual(pending.find('b', 1), undefined);
  pending.forgetClient('never');
  assert.equal(pending.clientCount, 1);
});
