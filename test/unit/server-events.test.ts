/**
 * The parts of the server's events that need no server (src/server/server-events.ts): delivery
 * (hook before listeners, emission order kept when a listener emits, a throwing or rejecting
 * receiver logged and skipped, each receiver its own copy), the slow-follower bounds with their
 * gap, the no-leader stretch reported once, and the two new limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { FollowerLagWatch, NoLeaderWatch, ServerEventHub } from '../../src/server/server-events.js';
import { resolveLimits } from '../../src/limits.js';
import { ConfigurationError } from '../../src/errors.js';
import type { StateMachine } from '../../src/state-machine.js';

function hubWithLog(): { hub: ServerEventHub; warnings: string[] } {
  const warnings: string[] = [];
  const hub = new ServerEventHub(pino({ level: 'warn' }, { write: (line: string) => { warnings.push(line); } }));
  return { hub, warnings };
}

const baseMachine: StateMachine = { applyTransaction: () => null, query: () => null };

test('the hook runs before the listeners; an event emitted by a listener waits for the one being delivered', () => {
  const { hub } = hubWithLog();
  const order: string[] = [];
  hub.setHooks({ ...baseMachine, notifyLeaderChanged: (event) => { order.push(`hook ${event.leaderId}`); } });
  hub.on('leaderChanged', (event) => {
    order.push(`first ${event.leaderId}`);
    if (event.leaderId === 'a') hub.emit('leaderChanged', { term: 2, leaderId: 'b' });
  });
  hub.on('leaderChanged', (event) => { order.push(`second ${event.leaderId}`); });
  hub.emit('leaderChanged', { term: 1, leaderId: 'a' });
  assert.deepEqual(order, ['hook a', 'first a', 'second a', 'hook b', 'first b', 'second b']);
});

test('a throwing hook or listener, or a rejected hook, is logged and the others still run', async () => {
  const { hub, warnings } = hubWithLog();
  const seen: string[] = [];
  hub.setHooks({
    ...baseMachine,
    notifyNoLeader: () => { throw new Error('hook fails'); },
    notifyLeaderReady: () => Promise.reject(new Error('hook rejects')),
  });
  hub.on('noLeader', () => { throw new Error('listener fails'); });
  hub.on('noLeader', (event) => { seen.push(`noLeader ${event.sinceMs}`); });
  hub.on('leaderReady', (event) => { seen.push(`leaderReady ${event.index}`); });
  hub.emit('noLeader', { sinceMs: 5, term: 1 });
  hub.emit('leaderReady', { term: 1, index: 7 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(seen, ['noLeader 5', 'leaderReady 7']);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0]!, /noLeader state machine hook threw/);
  assert.match(warnings[0]!, /hook fails/);
  assert.match(warnings[1]!, /noLeader listener threw/);
  assert.match(warnings[2]!, /leaderReady state machine hook threw/);
  assert.match(warnings[2]!, /hook rejects/);
});

test('off removes a listener; each receiver gets its own copy of the payload', () => {
  const { hub } = hubWithLog();
  const counts: number[] = [];
  const listener = (event: { voters: { id: string }[] }): void => {
    counts.push(event.voters.length);
    event.voters.length = 0;
  };
  hub.setHooks({ ...baseMachine, notifyConfigurationChanged: (event) => { event.voters.pop(); } });
  hub.on('configurationChanged', listener);
  hub.on('configurationChanged', listener);
  const payload = { voters: [{ id: 'a', address: 'x:1' }, { id: 'b', address: 'x:2' }], learners: [], outgoing: null, index: 0 };
  hub.emit('configurationChanged', payload);
  assert.deepEqual(counts, [2, 2]);
  assert.equal(payload.voters.length, 2, 'the emitter\'s own object is untouched');
  hub.off('configurationChanged', listener);
  hub.emit('configurationChanged', payload);
  assert.deepEqual(counts, [2, 2, 2]);
});

test('a follower is slow past the bound once, and caught up only below half of it', () => {
  const watch = new FollowerLagWatch(100);
  assert.equal(watch.check('f', 0, 100), null, 'at the bound: not slow');
  assert.equal(watch.check('f', 0, 101), 'slow');
  assert.equal(watch.check('f', 0, 500), null, 'once per episode');
  assert.equal(watch.check('f', 450, 500), null, 'lag 50: not below half');
  assert.equal(watch.check('g', 0, 500), 'slow', 'followers are watched apart');
  assert.equal(watch.check('f', 451, 500), 'caughtUp');
  assert.equal(watch.check('f', 451, 500), null);
  assert.equal(watch.check('f', 0, 600), 'slow', 'a new episode');
  watch.reset();
  assert.equal(watch.check('g', 0, 600), 'slow', 'a new leadership starts over');
});

test('a stretch without a leader is reported once, after the bound; knowing a leader ends it', () => {
  const watch = new NoLeaderWatch(1000, 0);
  assert.equal(watch.check(1000), null, 'at the bound: not yet');
  assert.equal(watch.check(1001), 1001, 'since the start');
  assert.equal(watch.check(5000), null, 'once per stretch');
  watch.onLeader('n1', 5000);
  assert.equal(watch.check(9000), null, 'a leader is known');
  watch.onLeader(null, 9000);
  watch.onLeader(null, 9500);
  assert.equal(watch.check(9900), null);
  assert.equal(watch.check(10_100), 1100, 'counted from the loss, not from a later report of it');
});

test('noLeaderMsMax follows the election ticks unless given, and must cover an election timeout', () => {
  assert.equal(resolveLimits().noLeaderMsMax, 3000);
  assert.equal(resolveLimits({ tickMs: 100, electionTicksMax: 40 }).noLeaderMsMax, 12_000);
  assert.equal(resolveLimits({ noLeaderMsMax: 1000 }).noLeaderMsMax, 1000);
  assert.throws(() => resolveLimits({ noLeaderMsMax: 999 }), (error: unknown) => error instanceof ConfigurationError && /noLeaderMsMax/.test(error.message));
  assert.equal(resolveLimits().followerSlowLagEntries, 10_000);
  assert.throws(() => resolveLimits({ followerSlowLagEntries: 0 }), ConfigurationError);
});
