/**
 * Client sessions against three real server processes (worker actors, TCP, fsync):
 *  - short-lived clients (connect, one put, close) leave no session behind: every server's
 *    updater and the leader's retry cache hold none once they are gone (status and metrics), every
 *    session ended by its close, none left to idle out;
 *  - a session idle past a short bound is forgotten on every server (clock entries from the log),
 *    and a late copy of its call is answered SESSION_EXPIRED, not applied a second time; a
 *    RaftClient idle that long just opens a new session; an idle cluster holding no session
 *    appends nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testPort } from '../support/ports.js';
import { LocalCluster, sleep, type LocalNode } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { decode, encode } from '../../src/messages/codec.js';
import { encodeFrame } from '../../src/messages/framing.js';
import { Kind } from '../../src/messages/kinds.js';
import { RequestType, type ClientRequestMessage } from '../../src/messages/messages.js';
import type { MetricsSnapshot } from '../../src/metrics/types.js';
import { RawConnection } from '../support/raw-connection.js';

async function withCluster(basePort: number, options: Partial<ConstructorParameters<typeof LocalCluster>[0]>,
  body: (cluster: LocalCluster, client: RaftClient) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-sessions-'));
  const cluster = new LocalCluster({ nodes: 3, dir, basePort, actors: 'workers', logFile: path.join(dir, 'servers.log'), ...options });
  cluster.startAll();
  // Metrics and status only: this client never writes, so it holds no session.
  const observer = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 5000 });
  try {
    await cluster.waitForLeader(30_000);
    await body(cluster, observer);
  } finally {
    await observer.close();
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function allMetrics(cluster: LocalCluster, client: RaftClient): Promise<MetricsSnapshot[]> {
  return Promise.all(cluster.nodes.map((node) => client.metrics(node.address)));
}

/** Waits until `holds` is true of every server's metrics; returns them. */
async function untilEvery(cluster: LocalCluster, client: RaftClient, holds: (metrics: MetricsSnapshot) => boolean, what: string,
  timeoutMs = 20_000): Promise<MetricsSnapshot[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metrics = await allMetrics(cluster, client);
    if (metrics.every(holds)) return metrics;
    assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(metrics.map((m) => ({ id: m.serverId, gauges: sessionGauges(m) })))}`);
    await sleep(100);
  }
}

const sessionGauges = (metrics: MetricsSnapshot): Record<string, number | undefined> => ({
  held: metrics.gauges['sessionsHeld'], cache: metrics.gauges['retryCacheClients'], applied: metrics.gauges['appliedIndex'],
  opened: metrics.counters['sessionsOpened'], ended: metrics.counters['sessionsEnded'], expired: metrics.counters['sessionsExpired'],
});

test('600 short-lived clients (connect, put, close) leave no session behind on any server', { timeout: 180_000 }, async () => {
  // A bound of 10 s: a session orphaned by a retried open (a leader change on a loaded machine)
  // idles out within the wait below; in a calm run there is none, and nothing expires.
  await withCluster(testPort(18601), { limits: { sessionIdleMsMax: 10_000 } }, async (cluster, observer) => {
    const clients = 600;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < clients) {
        const n = next++;
        const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 20_000 });
        try {
          await kv(client).put(`short-${n % 50}`, `v${n}`);
        } finally {
          await client.close();
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, lane));
    const leader = await cluster.waitForLeader();
    const settled = await untilEvery(cluster, observer, (m) => m.gauges['sessionsHeld'] === 0 && m.gauges['retryCacheClients'] === 0,
      'every session ended on every server', 30_000);
    for (const metrics of settled) {
      // Every client's session was ended by its close; any other (a retried open's) idled out.
      const { sessionsOpened, sessionsEnded, sessionsExpired } = metrics.counters;
      assert.equal(sessionsEnded, clients, `${metrics.serverId} ended each client's session by its close`);
      assert.equal(sessionsOpened, sessionsEnded! + sessionsExpired!, `${metrics.serverId}: ${JSON.stringify(sessionGauges(metrics))}`);
    }
    const statuses = await cluster.statuses();
    assert.deepEqual(statuses.map((status) => status?.sessions), [0, 0, 0], 'status shows no session held');
    assert.equal(settled.find((m) => m.serverId === leader.id)?.role, 'leader');
  });
});

/** A raw client on one connection: opens a session, sends calls of it, reads the replies. */
class RawSessionClient {
  private seen = 0;
  private constructor(private readonly connection: RawConnection) {}

  static async open(address: string): Promise<RawSessionClient> {
    return new RawSessionClient(await RawConnection.open(address));
  }

  async request(message: Omit<ClientRequestMessage, 'k' | 'g'>): Promise<Record<string, unknown>> {
    this.connection.write(encodeFrame({ k: Kind.ClientRequest, g: 'default', ...message } satisfies ClientRequestMessage));
    return this.connection.reply(this.seen++, 10_000);
  }

  close(): void {
    this.connection.destroy();
  }
}

test('a session idle past a short bound is forgotten everywhere; a late copy of its call gets SESSION_EXPIRED, applied once', { timeout: 120_000 }, async () => {
  const sessionIdleMsMax = 1500;
  await withCluster(testPort(18611), { stateMachine: 'counter', limits: { sessionIdleMsMax } }, async (cluster, observer) => {
    const leader: LocalNode = await cluster.waitForLeader();
    const raw = await RawSessionClient.open(leader.address);
    try {
      const opened = await raw.request({ clientId: 'late', callId: 0, firstUnacked: 0, type: RequestType.openSession, data: new Uint8Array(0) });
      assert.equal(opened['ok'], true, JSON.stringify(opened));
      const { session, idleMsMax } = decode(opened['result'] as Uint8Array) as { session: string; idleMsMax: number };
      assert.match(session, /^late@\d+$/);
      assert.equal(idleMsMax, sessionIdleMsMax, 'the open tells the bound');
      const add = { clientId: session, callId: 1, firstUnacked: 1, type: RequestType.write, data: encode(['add', 1]) } as const;
      const first = await raw.request(add);
      assert.equal(first['ok'], true, JSON.stringify(first));
      assert.equal(decode(first['result'] as Uint8Array), 1);
      // Within the bound a copy of the call gets the first outcome (the retry cache, then the updater).
      const again = await raw.request(add);
      assert.equal(decode(again['result'] as Uint8Array), 1);
      await untilEvery(cluster, observer, (m) => m.gauges['sessionsHeld'] === 1, 'the session held on every server');

      // Idle past the bound: every server forgets it, at the same clock entry.
      const forgotten = await untilEvery(cluster, observer, (m) => m.gauges['sessionsHeld'] === 0 && m.gauges['retryCacheClients'] === 0,
        'the idle session forgotten on every server', 15_000);
      for (const metrics of forgotten) assert.equal(metrics.counters['sessionsExpired'], 1, `${metrics.serverId} expired it`);
      const late = await raw.request(add);
      assert.equal(late['ok'], false);
      const error = late['error'] as { code: string; details: Record<string, unknown> };
      assert.equal(error.code, 'SESSION_EXPIRED');
      assert.deepEqual(error.details, { session, callId: 1 });

      // Applied once, on every replica.
      const reader = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 5000 });
      try {
        for (const node of cluster.nodes) {
          await untilEvery(cluster, observer, (m) => m.gauges['appliedIndex'] === m.gauges['commitIndex'], 'replicas caught up');
          assert.equal(decode((await reader.sendStaleRead(new Uint8Array(0), node.address))!), 1, `${node.id} applied the call once`);
        }
      } finally {
        await reader.close();
      }

      // A RaftClient idle past the bound does not meet the error: it opens a new session first.
      const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 1000 });
      try {
        await client.send(encode(['add', 1]));
        const firstSession = client.sessionId;
        await sleep(2.5 * sessionIdleMsMax);
        assert.equal(decode((await client.send(encode(['add', 1])))!), 3);
        assert.notEqual(client.sessionId, firstSession, 'a new session');
      } finally {
        await client.close();
      }

      // Once no session is held the leader appends nothing: the log stops growing.
      const quiet = await untilEvery(cluster, observer, (m) => m.gauges['sessionsHeld'] === 0, 'no session held', 15_000);
      await sleep(3 * sessionIdleMsMax);
      const later = await allMetrics(cluster, observer);
      assert.deepEqual(later.map((m) => m.gauges['lastIndex']), quiet.map((m) => m.gauges['lastIndex']), 'no clock entry on an idle cluster');
    } finally {
      raw.close();
    }
  });
});
