/**
 * Linearizable reads on real servers (TCP, inline actors): with a read lease the leader serves
 * them without heartbeat rounds and says so in its status and counters; with elections paused on
 * it the lease is withheld and reads go by rounds; without a lease every read goes by a round,
 * many reads to a round.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testPort } from '../support/ports.js';
import { withGroup } from '../support/group.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { sleep } from '../../src/cluster/local-cluster.js';
import { decodeStringOrNullResult, encodeGet } from '../../src/statemachines/kv-ops.js';

test('with a read lease the leader serves reads on it, reports it in status, and withholds it while elections are paused', async () => {
  await withGroup(testPort(19947), {}, async ({ servers, leader, followers, addresses }) => {
    const client = await RaftClient.connect({ peers: addresses });
    try {
      const store = kv(client);
      await store.put('k', 'v1');
      // The lease is renewed at every tick: after a few, it holds.
      await sleep(200);
      const status = leader.status();
      assert.equal(status.readLease?.enabled, true);
      // (electionTicksMin - 1) × tickMs less the drift: (10 - 1) × 50 - 50 ms.
      assert.ok(status.readLease!.validForMs > 0 && status.readLease!.validForMs <= 400, JSON.stringify(status.readLease));
      for (const follower of followers) assert.equal(follower.status().readLease?.validForMs, 0);
      const values = await Promise.all(Array.from({ length: 200 }, () => store.get('k')));
      assert.ok(values.every((value) => value === 'v1'));
      const before = leader.metrics().counters;
      assert.ok(before['leaseReads']! >= 200, `lease reads ${before['leaseReads']}`);
      // A follower read: the follower's read-index request is answered on the lease as well.
      const followerAddress = addresses[servers.indexOf(followers[0]!)]!;
      const answeredBefore = before['readIndexRequestsAnswered']!;
      const read = await client.sendReadOnly(encodeGet('k'), { server: followerAddress });
      assert.equal(decodeStringOrNullResult(read), 'v1');
      const beforePause = leader.metrics().counters;
      assert.ok(beforePause['readIndexRequestsAnswered']! > answeredBefore, 'the leader answered the follower\'s read-index request');

      leader.setElectionPaused(true);
      assert.equal(leader.status().readLease?.validForMs, 0, 'no lease with elections paused');
      await store.put('k', 'v2');
      const paused = await Promise.all(Array.from({ length: 50 }, () => store.get('k')));
      assert.ok(paused.every((value) => value === 'v2'));
      const after = leader.metrics().counters;
      assert.equal(after['leaseReads'], beforePause['leaseReads'], 'no read on the lease while paused');
      assert.ok(after['leaseFallbacks']! >= 50 && after['readRounds']! > beforePause['readRounds']!);
      leader.setElectionPaused(false);
    } finally {
      await client.close();
    }
  }, { readLease: { clockDriftMs: 50 } });
});

test('without a lease, reads go by heartbeat rounds, many to a round, and their stages are recorded', async () => {
  await withGroup(testPort(19951), {}, async ({ leader, addresses }) => {
    const client = await RaftClient.connect({ peers: addresses });
    try {
      const store = kv(client);
      await store.put('k', 'v');
      const values = await Promise.all(Array.from({ length: 500 }, () => store.get('k')));
      assert.ok(values.every((value) => value === 'v'));
      const metrics = leader.metrics();
      const { readRounds, readRoundReads, leaseReads, queryBatches, readsReceived } = metrics.counters;
      assert.equal(leaseReads, 0);
      assert.equal(leader.status().readLease?.enabled, false);
      assert.ok(readsReceived! >= 500 && readRoundReads! >= 500);
      assert.ok(readRounds! < 100 && queryBatches! < 100, `${readRounds} rounds and ${queryBatches} query batches for 500 reads`);
      const total = metrics.readStages?.find((stage) => stage.name === 'readTotal');
      assert.ok(total !== undefined && total.count >= 500, JSON.stringify(total));
    } finally {
      await client.close();
    }
  });
});
