/**
 * The server's events (src/events.ts) on three real servers in this process (actors inline, short
 * ticks): configurationChanged first, leaderChanged on every server, leaderReady once on the
 * leader at its no-op, a new leader announced after a transfer and after the leader is closed,
 * followerSlow / followerCaughtUp around a follower that is closed, written past and restarted,
 * and noLeader on the last server standing. The state machine's hooks see each server's sequence
 * exactly, and their throwing (events-sm.ts) is logged and changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { RaftServer } from '../../src/server/raft-server.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { sleep } from '../../src/cluster/local-cluster.js';
import { serverEventNames, type ServerEventName, type ServerEvents } from '../../src/events.js';
import type { Limits } from '../../src/limits.js';
import { waitForLeader } from '../support/group.js';
import { hookCalls, type HookCall } from '../support/events-sm.js';
import { testPort } from '../support/ports.js';

const eventsModule = fileURLToPath(new URL('../support/events-sm.js', import.meta.url));
const caseTimeout = { timeout: 60_000 };
/** Short ticks: elections in a few hundred milliseconds, so that every case runs in seconds. */
const fastLimits: Partial<Limits> = { tickMs: 20, electionTicksMin: 10, electionTicksMax: 20, heartbeatMs: 50, sessionIdleMsMax: 3_600_000 };

type Recorded = HookCall;
type RecordedOf<E extends ServerEventName> = Extract<Recorded, { event: E }>;

/** Three servers whose events (listeners) and warnings are recorded from before they start. */
class EventGroup {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-events-'));
  readonly peers: { id: string; address: string }[];
  readonly servers = new Map<string, RaftServer>();
  /** Per server instance: what its listeners saw, in order. */
  readonly events = new Map<RaftServer, Recorded[]>();
  readonly warnings: string[] = [];

  constructor(prefix: string, basePort: number, private readonly limits: Partial<Limits>) {
    this.peers = [1, 2, 3].map((n) => ({ id: `${prefix}${n}`, address: `127.0.0.1:${testPort(basePort + n - 1)}` }));
  }

  get addresses(): string[] {
    return this.peers.map((peer) => peer.address);
  }

  /** A server for `id` (again, after a close: same folder), listened to before it starts. */
  async start(id: string): Promise<RaftServer> {
    const logger = pino({ level: 'warn' }, { write: (line: string) => { this.warnings.push(line); } });
    const server = new RaftServer({
      id, peers: this.peers, dir: path.join(this.dir, id), actors: 'inline', stateMachine: eventsModule, limits: this.limits, logger,
    });
    const seen: Recorded[] = [];
    this.events.set(server, seen);
    for (const name of serverEventNames) listen(server, name, seen);
    this.servers.set(id, server);
    await server.start();
    return server;
  }

  async startAll(): Promise<RaftServer> {
    for (const peer of this.peers) await this.start(peer.id);
    return waitForLeader([...this.servers.values()]);
  }

  seen(server: RaftServer): Recorded[] {
    return this.events.get(server)!;
  }

  /** The payloads of one event on one server, in order. */
  payloads<E extends ServerEventName>(server: RaftServer, event: E): ServerEvents[E][] {
    const payloads: ServerEvents[E][] = [];
    // The payload of a record named E is E's (Recorded pairs them); TypeScript cannot follow that through E.
    for (const recorded of this.seen(server)) if (recorded.event === event) payloads.push(recorded.payload as ServerEvents[E]);
    return payloads;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.servers.values()].map((server) => server.close()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function listen<E extends ServerEventName>(server: RaftServer, event: E, seen: Recorded[]): void {
  // The listener of E gets E's payload; TypeScript cannot pair the two inside the union by itself.
  server.on(event, (payload) => { seen.push({ event, payload } as Recorded); });
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The index of `term`'s first entry in the server's log: the no-op its leader appended. */
function noopIndex(server: RaftServer, term: number): number {
  const run = server.raftCore().termRuns().find((candidate) => candidate.term === term);
  assert.ok(run !== undefined, `${server.id} holds entries of term ${term}`);
  return run.firstIndex;
}

const leaderChangedTo = (term: number, leaderId: string | null) => (recorded: Recorded): boolean =>
  recorded.event === 'leaderChanged' && recorded.payload.term === term && recorded.payload.leaderId === leaderId;

/** The documented order: configurationChanged first; each leaderReady after its term's leaderChanged naming this server. */
function checkOrder(server: RaftServer, seen: Recorded[]): void {
  assert.equal(seen[0]?.event, 'configurationChanged', `${server.id}: the first event`);
  seen.forEach((recorded, at) => {
    if (recorded.event !== 'leaderReady') return;
    const { term } = recorded.payload;
    assert.ok(seen.slice(0, at).some(leaderChangedTo(term, server.id)), `${server.id}: leaderChanged of term ${term} before its leaderReady`);
  });
}

test('configurationChanged first, leaderChanged everywhere, leaderReady once at the no-op; a transfer announces the new leader; hooks see the same', caseTimeout, async () => {
  const group = new EventGroup('ev', 21401, { ...fastLimits, noLeaderMsMax: 60_000 });
  try {
    const leader = await group.startAll();
    const servers = [...group.servers.values()];
    const term = leader.status().term;
    await waitFor('leaderChanged naming the leader on every server', () => servers.every((server) => group.seen(server).some(leaderChangedTo(term, leader.id))));
    await waitFor('leaderReady on the leader', () => group.payloads(leader, 'leaderReady').length > 0);

    for (const server of servers) {
      const [first] = group.seen(server);
      assert.deepEqual(first, { event: 'configurationChanged', payload: { voters: group.peers, learners: [], outgoing: null, index: 0 } }, server.id);
    }
    assert.deepEqual(group.payloads(leader, 'leaderReady'), [{ term, index: noopIndex(leader, term) }]);
    assert.ok(leader.status().applied >= noopIndex(leader, term), 'applied through the no-op when ready');
    for (const server of servers.filter((server) => server !== leader)) assert.equal(group.payloads(server, 'leaderReady').length, 0, server.id);

    // The group takes writes although every notifyLeaderChanged threw and every notifyLeaderReady rejected.
    const client = await RaftClient.connect({ peers: group.addresses });
    try {
      await client.send(new Uint8Array([1]));

      const target = servers.find((server) => server !== leader)!;
      const outcome = await leader.transferLeadership(target.id);
      assert.equal(outcome.leader, target.id);
      const newTerm = target.status().term;
      assert.ok(newTerm > term);
      await waitFor('leaderChanged naming the new leader on every server', () => servers.every((server) => group.seen(server).some(leaderChangedTo(newTerm, target.id))));
      await waitFor('leaderReady on the new leader', () => group.payloads(target, 'leaderReady').length > 0);
      assert.deepEqual(group.payloads(target, 'leaderReady'), [{ term: newTerm, index: noopIndex(target, newTerm) }]);
      assert.equal(group.payloads(leader, 'leaderReady').length, 1, 'the old leader was ready once, in its own term');
      await client.send(new Uint8Array([2]));
    } finally {
      await client.close();
    }

    for (const server of servers) {
      const seen = group.seen(server);
      checkOrder(server, seen);
      // Changes only: no two consecutive leaderChanged name the same (term, leader).
      const changes = group.payloads(server, 'leaderChanged');
      changes.slice(1).forEach((change, i) => assert.notDeepEqual(change, changes[i], `${server.id}: a repeated leaderChanged`));
      assert.deepEqual(hookCalls.get(server.id), seen, `${server.id}: the state machine's hooks saw what the listeners saw`);
      assert.equal(server.metrics().counters['leaderChanges'], changes.length, `${server.id}: leaderChanges counts the events`);
    }
    const hookWarnings = group.warnings.filter((line) => line.includes('state machine hook threw'));
    assert.ok(hookWarnings.some((line) => line.includes('"event":"leaderChanged"')), 'a throwing hook is logged');
    assert.ok(hookWarnings.some((line) => line.includes('"event":"leaderReady"')), 'a rejected hook is logged');
  } finally {
    await group.close();
  }
});

test('followerSlow once when a closed follower falls behind the bound, followerCaughtUp once it is back', caseTimeout, async () => {
  const lagMax = 20;
  const group = new EventGroup('fs', 21411, { ...fastLimits, noLeaderMsMax: 60_000, followerSlowLagEntries: lagMax });
  try {
    const leader = await group.startAll();
    const follower = [...group.servers.values()].find((server) => server !== leader)!;
    const client = await RaftClient.connect({ peers: group.addresses });
    try {
      await client.send(new Uint8Array([0]));
      await follower.close();
      for (let i = 1; i <= 3 * lagMax; i++) await client.send(new Uint8Array([i]));
      await waitFor('followerSlow', () => group.payloads(leader, 'followerSlow').length > 0);
      // More writes and ticks within the same episode: no second report.
      for (let i = 0; i < lagMax; i++) await client.send(new Uint8Array([i]));
      await sleep(200);
      const slow = group.payloads(leader, 'followerSlow');
      assert.equal(slow.length, 1, 'once per episode');
      const event = slow[0]!;
      assert.equal(event.follower, follower.id);
      assert.ok(event.lag > lagMax, `lag ${event.lag}`);
      assert.equal(event.lag, event.commitIndex - event.matchIndex);
      assert.equal(leader.metrics().counters['followerSlowEvents'], 1);

      await group.start(follower.id);
      await waitFor('followerCaughtUp', () => group.payloads(leader, 'followerCaughtUp').length > 0);
      const back = group.payloads(leader, 'followerCaughtUp')[0]!;
      assert.equal(back.follower, follower.id);
      assert.ok(back.lag * 2 < lagMax, `lag ${back.lag} below half the bound`);
    } finally {
      await client.close();
    }
    const sequence = group.seen(leader).filter((recorded) => recorded.event === 'followerSlow' || recorded.event === 'followerCaughtUp');
    assert.deepEqual(sequence.map((recorded) => recorded.event), ['followerSlow', 'followerCaughtUp']);
    assert.deepEqual(hookCalls.get(leader.id), group.seen(leader), 'the hooks saw the same sequence');
  } finally {
    await group.close();
  }
});

test('closing the leader: the survivors announce the new leader; closing it too: noLeader once on the last server', caseTimeout, async () => {
  const noLeaderMsMax = 1000;
  const group = new EventGroup('nl', 21421, { ...fastLimits, noLeaderMsMax });
  try {
    const first = await group.startAll();
    const firstTerm = first.status().term;
    await first.close();
    const survivors = [...group.servers.values()].filter((server) => server !== first);
    const second = await waitForLeader(survivors);
    const secondTerm = second.status().term;
    assert.ok(secondTerm > firstTerm);
    await waitFor('leaderChanged naming the new leader on both survivors', () => survivors.every((server) => group.seen(server).some(leaderChangedTo(secondTerm, second.id))));
    await waitFor('leaderReady on the new leader', () => group.payloads(second, 'leaderReady').length > 0);

    const last = survivors.find((server) => server !== second)!;
    const before = group.seen(last).length;
    const closedAtMs = Date.now();
    await second.close();
    await waitFor('noLeader on the last server', () => group.seen(last).slice(before).some((recorded) => recorded.event === 'noLeader'), 10_000);
    const tookMs = Date.now() - closedAtMs;
    // It fires once the bound has passed after the leader was lost (an election timeout after the close at the latest).
    assert.ok(tookMs >= noLeaderMsMax, `noLeader after ${tookMs} ms`);
    await sleep(3 * noLeaderMsMax);
    const after = group.seen(last).slice(before);
    const reports = after.filter((recorded): recorded is RecordedOf<'noLeader'> => recorded.event === 'noLeader');
    assert.equal(reports.length, 1, 'once per stretch without a leader');
    const report = reports[0]!.payload;
    assert.ok(report.sinceMs > noLeaderMsMax, `sinceMs ${report.sinceMs}`);
    assert.equal(report.term, last.status().term);
    // The stretch began with a leaderChanged to no leader, which came before the report.
    const lost = after.findIndex((recorded) => recorded.event === 'leaderChanged' && recorded.payload.leaderId === null);
    assert.ok(lost >= 0 && lost < after.findIndex((recorded) => recorded.event === 'noLeader'));
    assert.ok(last.metrics().counters['noLeaderEvents']! >= 1);
    for (const server of [first, ...survivors]) {
      checkOrder(server, group.seen(server));
      assert.deepEqual(hookCalls.get(server.id), group.seen(server), `${server.id}: the hooks saw the same sequence`);
    }
  } finally {
    await group.close();
  }
});
