/**
 * Reads beside the leader's, with real server processes, worker threads and TCP: follower reads
 * (a follower asks the leader for a read index) see writes acknowledged before them, from any
 * client; a stale read with a minIndex waits until the server has applied it; a watch at ALL is
 * answered once every follower has the entry and times out with a coded error while a follower
 * is down; and a follower whose leader is dead answers a follower read with a coded, retriable
 * error instead of its possibly stale state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalCluster, sleep } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { RaftlineError } from '../../src/errors.js';
import { decodeStringOrNullResult, encodeGet, encodePut } from '../../src/statemachines/kv-ops.js';
import { testPort } from '../support/ports.js';

const basePort = testPort(20601);

async function withCluster(body: (cluster: LocalCluster) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-reads-'));
  const cluster = new LocalCluster({ nodes: 3, dir, basePort, logFile: path.join(dir, 'servers.log') });
  try {
    cluster.startAll();
    await cluster.waitForLeader();
    await body(cluster);
  } finally {
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const get = async (read: Promise<Uint8Array | null>): Promise<string | null> => decodeStringOrNullResult(await read);

function codeOf(error: unknown): string {
  return error instanceof RaftlineError ? error.code : String(error);
}

test('follower reads, bounded stale reads, watches and a dead leader, on 3 processes', { timeout: 120_000 }, async () => {
  await withCluster(async (cluster) => {
    const leader = await cluster.waitForLeader();
    const followers = cluster.addresses.filter((address) => address !== leader.address);
    const writer = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 10_000 });
    const reader = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 10_000, readYourWrites: false });
    try {
      // Read-after-write from another client: each value written on the leader is what a follower read returns at once.
      for (let i = 0; i < 50; i++) {
        await writer.send(encodePut('k', `v${i}`));
        const follower = followers[i % followers.length]!;
        assert.equal(await get(reader.sendReadOnly(encodeGet('k'), { server: follower })), `v${i}`, `follower read ${i} at ${follower}`);
      }
      assert.ok(writer.lastWriteIndex > 0, 'the client knows the index of its acknowledged writes');

      // Spread over the followers (readFrom 'followers'): still every acknowledged write seen.
      const spread = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 10_000, readFrom: 'followers' });
      try {
        for (let i = 0; i < 20; i++) {
          await writer.send(encodePut('s', `w${i}`));
          assert.equal(await get(spread.sendReadOnly(encodeGet('s'))), `w${i}`);
        }
      } finally {
        await spread.close();
      }
      const served = (await Promise.all(followers.map((address) => writer.status(address)))).map((status) => status.reads?.followerReadsServed ?? 0);
      assert.ok(served.every((count) => count > 0), `every follower served follower reads: ${served.join(', ')}`);

      // A stale read with a minIndex the follower has not reached waits until it applies it.
      const next = writer.lastWriteIndex + 1;
      let settled = false;
      const waiting = get(reader.sendStaleRead(encodeGet('late'), { server: followers[0]!, minIndex: next })).finally(() => {
        settled = true;
      });
      await sleep(300);
      assert.equal(settled, false, 'the stale read waits for its minIndex');
      await writer.send(encodePut('late', 'here'));
      assert.ok(writer.lastWriteIndex >= next);
      assert.equal(await waiting, 'here', 'served once the entry at minIndex is applied');
      // Far beyond anything written: TIMEOUT naming the index reached.
      await assert.rejects(reader.sendStaleRead(encodeGet('late'), { server: followers[0]!, minIndex: next + 1_000_000 }), (error: unknown) => {
        assert.equal(codeOf(error), 'TIMEOUT');
        const details = (error as RaftlineError).details;
        assert.equal(details['index'], next + 1_000_000);
        assert.ok(typeof details['appliedIndex'] === 'number' && details['appliedIndex'] >= next);
        return true;
      });
      // Read-your-writes: the writer's stale read on a follower never misses its own last write.
      for (let i = 0; i < 20; i++) {
        await writer.send(encodePut('mine', `m${i}`));
        assert.equal(await get(writer.sendStaleRead(encodeGet('mine'), followers[i % 2]!)), `m${i}`);
      }

      // Watch ALL: answered once every voter stores the entry.
      await writer.send(encodePut('w', '1'));
      const index = writer.lastWriteIndex;
      const all = await writer.watch(index, 'ALL', { timeoutMs: 5000 });
      assert.equal(all.level, 'ALL');
      assert.ok(all.reached.ALL >= index && all.servers.length === 3 && all.servers.every((server) => server.match >= index), JSON.stringify(all));
      const committed = await writer.watch(index, 'ALL_COMMITTED', { timeoutMs: 5000 });
      assert.ok(committed.servers.every((server) => server.commit >= index), JSON.stringify(committed));

      // A follower down: MAJORITY still answers, ALL times out naming what it reached.
      const downId = cluster.nodes.find((node) => node.address === followers[1])!.id;
      cluster.kill(downId);
      await cluster.waitExit(downId);
      await writer.send(encodePut('w', '2'));
      const later = writer.lastWriteIndex;
      assert.ok((await writer.watch(later, 'MAJORITY', { timeoutMs: 5000 })).reached.MAJORITY >= later);
      await assert.rejects(writer.watch(later, 'ALL', { timeoutMs: 600 }), (error: unknown) => {
        assert.equal(codeOf(error), 'TIMEOUT');
        const details = (error as RaftlineError).details;
        assert.equal(details['level'], 'ALL');
        assert.equal(details['index'], later);
        assert.ok((details['reached'] as number) < later);
        return true;
      });

      // The leader killed too: the remaining follower cannot get a read index (no majority to elect
      // or confirm one) and answers a follower read with LEADER_NOT_READY, retried until the deadline.
      cluster.kill(leader.id);
      await cluster.waitExit(leader.id);
      const lonely = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 3000, readYourWrites: false });
      try {
        await assert.rejects(lonely.sendReadOnly(encodeGet('w'), { server: followers[0]! }), (error: unknown) => {
          assert.equal(codeOf(error), 'RETRY_FAILURE', String(error));
          assert.equal(((error as RaftlineError).details['cause'] as RaftlineError).code, 'LEADER_NOT_READY');
          return true;
        });
        // Its stale state is there (a stale read gives it), but the follower read did not return it.
        assert.equal(await get(lonely.sendStaleRead(encodeGet('w'), followers[0]!)), '2');
      } finally {
        await lonely.close();
      }
    } finally {
      await writer.close().catch(() => {});
      await reader.close().catch(() => {});
    }
  });
});
