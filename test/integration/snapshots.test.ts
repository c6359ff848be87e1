/**
 * Snapshots end to end on real server processes, with the actors as workers and inline: small
 * thresholds, so that every server takes snapshots and purges its log under a write load; then a
 * follower killed with SIGKILL while the writes go far past the purge, restarted on its old
 * directory and again on an empty one, catches up by InstallSnapshot; a follower killed in the
 * middle of an install completes it after its restart. Every acknowledged write is then present,
 * once, with its last value, and every replica's state is the same (read key by key from each).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalCluster, sleep, withTimeout, type LocalNode } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { decodeStringOrNullResult, encodeGet } from '../../src/statemachines/kv-ops.js';
import type { DivisionStatus } from '../../src/messages/messages.js';
import { testPort } from '../support/ports.js';

const snapshotEvery = 2000;
const logKeep = 500;

for (const [actors, basePort] of [['workers', 21001], ['inline', 21101]] as const) {
  describe(`snapshots, actors ${actors}`, () => {
    let dir: string;
    let cluster: LocalCluster;
    let client: RaftClient;
    /** key -> the value of its last acknowledged put. */
    const written = new Map<string, string>();

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `raftline-snapshots-${actors}-`));
      cluster = new LocalCluster({
        nodes: 3, dir, basePort: testPort(basePort), actors, logLevel: 'info', logFile: path.join(dir, 'servers.log'),
        snapshotEvery, logKeep, limits: {
          segmentBytesMax: 64 * 1024, electionTicksMin: 40, electionTicksMax: 80, snapshotChunkBytes: 64 * 1024,
          // A small replication cache: a follower behind the purge must need the snapshot, not find its entries in the leader's memory.
          appenderCacheBytesMax: 128 * 1024,
        },
      });
      cluster.startAll();
      await cluster.waitForLeader(30_000);
      client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 20_000 });
    });

    after(async () => {
      await client?.close();
      await cluster?.stopAll();
      if (process.env['KEEP'] === undefined) fs.rmSync(dir, { recursive: true, force: true });
      else console.log('kept', dir);
    });

    const statusOf = (node: LocalNode): Promise<DivisionStatus> => withTimeout(client.status(node.address), 5000);

    /** `count` puts over `keys` keys, 100 at a time; values name the round, so a lost or stale write shows. */
    async function put(count: number, keys: number, round: string, valueBytes = 16): Promise<void> {
      const store = kv(client);
      const pad = 'x'.repeat(Math.max(0, valueBytes - round.length - 8));
      for (let i = 0; i < count; i += 100) {
        await Promise.all(Array.from({ length: Math.min(100, count - i) }, async (_, k) => {
          const key = `k${(i + k) % keys}`;
          const value = `${round}-${i + k}-${pad}`;
          await store.put(key, value);
          written.set(key, value);
        }));
      }
    }

    /** Snapshots the servers sent to followers, all together (the counter of whichever led). */
    async function snapshotsSent(): Promise<number> {
      const counts = await Promise.all(cluster.nodes.map(async (node) => (await client.metrics(node.address).catch(() => null))?.counters['snapshotsSent'] ?? 0));
      return counts.reduce((sum, count) => sum + count, 0);
    }

    async function roles(): Promise<{ leader: LocalNode; followers: LocalNode[] }> {
      const leader = await cluster.waitForLeader(30_000);
      return { leader, followers: cluster.nodes.filter((node) => node !== leader) };
    }

    /** Waits until `node` applied the leader's whole commit index (writes have stopped). */
    async function caughtUp(node: LocalNode, leader: LocalNode, timeoutMs: number): Promise<DivisionStatus> {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const [mine, theirs] = await Promise.all([statusOf(node).catch(() => null), statusOf(leader)]);
        if (mine !== null && mine.applied >= theirs.commit && mine.commit === theirs.commit) return mine;
        assert.ok(performance.now() < deadline,
          `${node.id} did not catch up in ${timeoutMs} ms: ${JSON.stringify(mine)} vs leader commit ${theirs.commit}`);
        await sleep(100);
      }
    }

    /** Every key read from every server (a stale read of its applied state) has its last acknowledged value. */
    async function replicasHoldEveryWrite(): Promise<void> {
      const { leader } = await roles();
      for (const node of cluster.nodes) await caughtUp(node, leader, 30_000);
      const keys = [...written.keys()];
      for (const node of cluster.nodes) {
        for (let i = 0; i < keys.length; i += 200) {
          await Promise.all(keys.slice(i, i + 200).map(async (key) => {
            const held = decodeStringOrNullResult(await client.sendStaleRead(encodeGet(key), node.address));
            assert.equal(held, written.get(key), `${node.id} holds ${JSON.stringify(held)} for ${key}, the last acknowledged put was ${written.get(key)}`);
          }));
        }
      }
    }

    test('every server takes snapshots and purges its log under load; status says so', { timeout: 120_000 }, async () => {
      await put(3 * snapshotEvery + 700, 400, 'load');
      const { leader } = await roles();
      for (const node of cluster.nodes) {
        await caughtUp(node, leader, 20_000);
        const status = await statusOf(node);
        assert.equal(status.snapshots, 'supported');
        assert.ok(status.snapshotIndex >= 2 * snapshotEvery, `${node.id} snapshot index ${status.snapshotIndex}`);
        assert.ok(status.firstLogIndex > 1, `${node.id} purged nothing: first log index ${status.firstLogIndex}`);
        assert.ok(status.firstLogIndex <= status.snapshotIndex - logKeep + 1, `${node.id} purged into the kept window`);
        assert.ok(status.logBytes > 0 && status.logBytes < 2 * 1024 * 1024, `${node.id} log bytes ${status.logBytes}`);
        const files = fs.readdirSync(path.join(node.dir, 'default', 'current', 'sm')).filter((name) => name.endsWith('.manifest'));
        assert.ok(files.length >= 1 && files.length <= 2, `${node.id} keeps ${files.length} snapshots`);
      }
      const metrics = await client.metrics(leader.address);
      assert.ok(metrics.counters['snapshotsTaken']! >= 1);
      assert.ok(metrics.gauges['snapshotIndex']! >= 2 * snapshotEvery);
      await replicasHoldEveryWrite();
    });

    test('an admin snapshot is taken on demand and covers what was applied', async () => {
      await put(50, 50, 'admin');
      const { leader } = await roles();
      const applied = (await statusOf(leader)).applied;
      const info = await client.admin().snapshot(leader.address);
      assert.ok(info.index >= applied, `snapshot ${info.index} below applied ${applied}`);
      assert.deepEqual(info.configuration.voters.slice().sort(), ['n1', 'n2', 'n3']);
      assert.ok(info.files.some((file) => file.size > 0));
      assert.equal((await statusOf(leader)).snapshotIndex, info.index);
    });

    test('a follower killed while writes go past the purge catches up by snapshot, on its old directory and on an empty one', { timeout: 180_000 }, async () => {
      for (const wipe of [false, true]) {
        const { leader, followers } = await roles();
        const victim = followers[0]!;
        cluster.kill(victim.id);
        await cluster.waitExit(victim.id);
        await put(3 * snapshotEvery, 600, wipe ? 'wiped' : 'old-dir');
        const leaderStatus = await statusOf(leader);
        assert.ok(leaderStatus.firstLogIndex > 1, 'the leader purged its log');
        if (wipe) fs.rmSync(victim.dir, { recursive: true, force: true });
        const sentBefore = await snapshotsSent();
        cluster.start(victim.id);
        const status = await caughtUp(victim, leader, 60_000);
        assert.ok(status.snapshotIndex >= leaderStatus.firstLogIndex - 1, `${victim.id} snapshot index ${status.snapshotIndex}`);
        const sent = await snapshotsSent();
        assert.ok(sent > sentBefore, `no snapshot was sent (${sent} in all)`);
        assert.equal((await cluster.waitForLeader(5000)).id, leader.id, 'the leader stayed in office');
        await replicasHoldEveryWrite();
      }
    });

    test('a follower killed in the middle of an install completes it after a restart', { timeout: 180_000 }, async () => {
      const { leader, followers } = await roles();
      const victim = followers[1]!;
      cluster.kill(victim.id);
      await cluster.waitExit(victim.id);
      // Large values: a snapshot of several MiB, sent in 64 KiB chunks, takes long enough to interrupt.
      await put(3 * snapshotEvery, 3000, 'big', 2048);
      fs.rmSync(victim.dir, { recursive: true, force: true });
      cluster.start(victim.id);
      const sm = path.join(victim.dir, 'default', 'current', 'sm');
      const deadline = performance.now() + 30_000;
      let interrupted = false;
      while (performance.now() < deadline) {
        const names = fs.existsSync(sm) ? fs.readdirSync(sm) : [];
        if (names.some((name) => name.startsWith('install_'))) {
          cluster.kill(victim.id);
          interrupted = true;
          break;
        }
        await sleep(2);
      }
      assert.ok(interrupted, 'no install was seen in progress');
      await cluster.waitExit(victim.id);
      cluster.start(victim.id);
      const status = await caughtUp(victim, leader, 60_000);
      assert.ok(status.snapshotIndex > 0);
      assert.ok(!fs.readdirSync(sm).some((name) => name.startsWith('install_')), 'install files left behind');
      await replicasHoldEveryWrite();
    });
  });
}
