/**
 * Requests the state machine refuses, against a real 3-server group on loopback (actors inline):
 * each comes back as STATE_MACHINE_ERROR with nothing appended, an entry exactly at
 * entryBytesMax passes the gateway, and the group keeps serving. Also the happy paths a client
 * leans on: linearizable get after put, missing keys, cas, and following a NOT_LEADER hint from a
 * follower. Hostile input at the wire (frames, kinds, groups, peers, terms, sizes, deadlines,
 * connection floods) is in hostile.test.ts.
 */
import { test } from 'node:test';
import { testPort } from '../support/ports.js';
import { withGroup, type Group } from '../support/group.js';
import assert from 'node:assert/strict';
import { RaftServer } from '../../src/server/raft-server.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { encode } from '../../src/messages/codec.js';
import { sleep } from '../../src/cluster/local-cluster.js';




function addressOf(group: Group, server: RaftServer): string {
  return group.addresses[group.servers.indexOf(server)]!;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error & { code: string; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    const coded = error as Error & { code: string; details: Record<string, unknown> };
    assert.equal(coded.code, code, `expected ${code}, got ${coded.code}: ${coded.message}`);
    return coded;
  }
  assert.fail(`expected a rejection with code ${code}`);
}

test('refused writes get STATE_MACHINE_ERROR with nothing appended; reads, cas and NOT_LEADER hints work', { timeout: 30_000 }, async () => {
  // A long session bound: no clock entry lands between the log index checks below.
  await withGroup(testPort(19111), { entryBytesMax: 1024, sessionIdleMsMax: 3_600_000 }, async (group) => {
    const client = await RaftClient.connect({ peers: group.addresses, requestTimeoutMs: 10_000 });
    const viaFollower = await RaftClient.connect({
      peers: [addressOf(group, group.followers[0]!), addressOf(group, group.leader), addressOf(group, group.followers[1]!)],
      requestTimeoutMs: 10_000,
    });
    try {
      const store = kv(client);
      await store.put('warm', 'up');

      const lastIndex = group.leader.status().lastIndex;
      // Exactly at the limit is not over it; the kv state machine then refuses the bytes.
      await expectCode(client.send(new Uint8Array(1024)), 'STATE_MACHINE_ERROR');

      // A write the kv state machine refuses: STATE_MACHINE_ERROR, nothing appended.
      const refused = await expectCode(client.send(encode(['nope'])), 'STATE_MACHINE_ERROR');
      assert.match(refused.message, /nope/);
      await expectCode(client.send(encode(['get', 'warm'])), 'STATE_MACHINE_ERROR');
      await sleep(200);
      assert.equal(group.leader.status().lastIndex, lastIndex, 'refused writes appended nothing');

      // A normal write after the refusals is appended once.
      await store.put('after-refusals', 'ok');
      assert.equal(group.leader.status().lastIndex, lastIndex + 1);

      // Linearizable reads through the real group.
      assert.equal(await store.get('after-refusals'), 'ok');
      assert.equal(await store.get('missing'), null);
      assert.equal(await store.cas('c', null, 'one'), true, 'cas on an absent key with expected null sets it');
      assert.equal(await store.cas('c', null, 'two'), false, 'cas with a stale expectation fails');
      assert.equal(await store.cas('c', 'one', 'two'), true);
      assert.equal(await store.get('c'), 'two');
      assert.equal(await store.delete('c'), true);
      assert.equal(await store.delete('c'), false);
      assert.equal(await store.get('c'), null);

      // A client that dials a follower first follows its NOT_LEADER hint.
      const hinted = kv(viaFollower);
      await hinted.put('hinted', 'h');
      assert.equal(await hinted.get('hinted'), 'h');
      assert.equal(viaFollower.leader, addressOf(group, group.leader));
      assert.equal(await store.get('hinted'), 'h');
    } finally {
      await Promise.all([client.close(), viaFollower.close()]);
    }
  });
});
