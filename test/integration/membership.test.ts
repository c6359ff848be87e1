/**
 * Membership changes on real server processes under a continuous write load (the ledger state
 * machine, so that every acknowledged write can be found on every replica): a follower killed
 * with SIGKILL is replaced by an empty server started with `--join` (added, then the dead one
 * removed), after which the leader is killed too and the group goes on with the new server
 * counting; the group grows from three voters to five in one change and shrinks back to three,
 * the leader among those removed; refusals leave the configuration as it was. Afterwards every
 * acknowledged write is on every member once, and the members applied the same sequence.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LocalCluster, sleep, withTimeout, type LocalNode } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { decode, encode } from '../../src/messages/codec.js';
import type { ConfigurationReport, DivisionStatus } from '../../src/messages/messages.js';
import { RaftlineError } from '../../src/errors.js';
import { testPort } from '../support/ports.js';
import { LedgerWriter } from '../support/ledger-writer.js';

const ledgerModule = fileURLToPath(new URL('../support/ledger-sm.js', import.meta.url));
const caseTimeout = { timeout: 180_000 };


const ids = (report: { voters: { id: string }[] }): string[] => report.voters.map((member) => member.id).sort();

for (const [actors, basePort] of [['workers', 21501], ['inline', 21601]] as const) {
  describe(`membership, actors ${actors}`, () => {
    let dir: string;
    let cluster: LocalCluster;
    let client: RaftClient;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `raftline-membership-${actors}-`));
      cluster = new LocalCluster({
        nodes: 3, dir, basePort: testPort(basePort), actors, stateMachine: ledgerModule, logLevel: 'info', logFile: path.join(dir, 'servers.log'),
        limits: { electionTicksMin: 20, electionTicksMax: 40 },
      });
      cluster.startAll();
      await cluster.waitForLeader(30_000);
      // The client knows the three first servers only: it finds the others through the servers' hints.
      client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 30_000 });
    });

    after(async () => {
      await client?.close();
      await cluster?.stopAll();
      if (process.env['KEEP'] === undefined) fs.rmSync(dir, { recursive: true, force: true });
      else console.log('kept', dir);
    });

    const statusOf = (node: LocalNode): Promise<DivisionStatus> => withTimeout(client.status(node.address), 5000);

    async function leaderOf(members: readonly LocalNode[]): Promise<LocalNode> {
      const deadline = performance.now() + 30_000;
      for (;;) {
        for (const node of members) {
          const status = await statusOf(node).catch(() => null);
          if (status?.role === 'leader') return node;
        }
        assert.ok(performance.now() < deadline, 'no leader among the members');
        await sleep(100);
      }
    }

    /** Every member applied the leader's commit; then every acknowledged write is on each once, in the same order everywhere. */
    async function checkMembers(members: readonly LocalNode[], acknowledged: ReadonlySet<string>): Promise<void> {
      const deadline = performance.now() + 30_000;
      for (;;) {
        const statuses = await Promise.all(members.map((node) => statusOf(node).catch(() => null)));
        const commit = Math.max(...statuses.map((status) => status?.commit ?? 0));
        if (statuses.every((status) => status !== null && status.applied === commit)) break;
        assert.ok(performance.now() < deadline, `members did not converge: ${JSON.stringify(statuses.map((status) => status?.applied))}`);
        await sleep(100);
      }
      const ledgers = await Promise.all(members.map(async (node) => decode((await client.sendStaleRead(encode('dump'), node.address))!) as string[]));
      for (const [i, ledger] of ledgers.entries()) {
        const seen = new Set<string>();
        for (const value of ledger) {
          assert.ok(!seen.has(value), `${members[i]!.id} applied ${value} twice`);
          seen.add(value);
        }
        for (const value of acknowledged) assert.ok(seen.has(value), `${members[i]!.id} lost acknowledged write ${value}`);
        assert.deepEqual(ledger, ledgers[0], `${members[i]!.id} and ${members[0]!.id} applied the same sequence`);
      }
    }

    test('a dead follower replaced by a server started with --join; then the leader killed: the group goes on with it', caseTimeout, async () => {
      const writer = new LedgerWriter(client, 'replace', 16);
      writer.start();
      await writer.more(300);
      const leader = await leaderOf(cluster.nodes);
      const dead = cluster.nodes.find((node) => node !== leader)!;
      cluster.kill(dead.id);
      await cluster.waitExit(dead.id);
      await writer.more(200);
      const fresh = cluster.addNode();
      cluster.start(fresh.id);
      const added = await client.admin().addServer({ id: fresh.id, address: fresh.address });
      assert.deepEqual(ids(added), [...cluster.nodes.slice(0, 3).map((node) => node.id), fresh.id].sort());
      assert.equal(added.committed, true);
      const removed = await client.admin().removeServer(dead.id);
      assert.deepEqual(ids(removed), cluster.nodes.filter((node) => node !== dead).map((node) => node.id).sort());
      await writer.more(200);
      // The new server counts: with the leader gone too, it and the one left make the majority.
      const oldLeader = await leaderOf(cluster.nodes.filter((node) => node !== dead));
      cluster.kill(oldLeader.id);
      await cluster.waitExit(oldLeader.id);
      await writer.more(300, 60_000);
      await writer.stop();
      assert.deepEqual(writer.failures, [], 'no write failed');
      const members = cluster.nodes.filter((node) => node !== dead && node !== oldLeader);
      const status = await statusOf(fresh);
      assert.deepEqual(status.voters.sort(), cluster.nodes.filter((node) => node !== dead).map((node) => node.id).sort());
      cluster.start(oldLeader.id);
      await checkMembers([...members, oldLeader], writer.acknowledged);
    });

    if (actors === 'workers') {
      test('grow from three voters to five in one change, then back to three, the leader among those removed', caseTimeout, async () => {
        const writer = new LedgerWriter(client, 'grow', 16);
        writer.start();
        await writer.more(200);
        const before = await client.admin().configuration();
        const added = [cluster.addNode(), cluster.addNode()];
        for (const node of added) cluster.start(node.id);
        const five = await client.admin().setConfiguration({
          voters: [...before.voters, ...added.map((node) => ({ id: node.id, address: node.address }))], learners: [],
        });
        assert.equal(five.voters.length, 5);
        assert.equal(five.outgoing, null);
        await writer.more(300);
        const leaderNow = await leaderOf(cluster.nodes.filter((node) => node.process !== null));
        const keep = five.voters.filter((member) => member.id !== leaderNow.id).slice(0, 3);
        const three = await client.admin().setConfiguration({ voters: keep, learners: [] });
        assert.deepEqual(ids(three), keep.map((member) => member.id).sort());
        await writer.more(300, 60_000);
        await writer.stop();
        assert.deepEqual(writer.failures, [], 'no write failed');
        const members = cluster.nodes.filter((node) => keep.some((member) => member.id === node.id));
        for (const node of members) assert.deepEqual((await statusOf(node)).voters.sort(), ids(three));
        await checkMembers(members, writer.acknowledged);
      });
    }

    test('refused changes leave the configuration as it was: no voter left, an id that is a member elsewhere, a server that never catches up', caseTimeout, async () => {
      const before = await client.admin().configuration();
      const refusal = async (change: Promise<ConfigurationReport>, reason: string): Promise<void> => {
        const error = await change.then(() => null, (caught: unknown) => caught);
        assert.ok(error instanceof RaftlineError, `refused (${reason})`);
        assert.equal(error.code, 'MEMBERSHIP_CHANGE_REFUSED');
        assert.equal(error.details['reason'], reason);
      };
      await refusal(client.admin().setConfiguration({ voters: [] }), 'invalid');
      const member = before.voters[0]!;
      await refusal(client.admin().addServer({ id: member.id, address: '127.0.0.1:1' }), 'invalid');
      await refusal(client.admin().addServer({ id: 'n99', address: `127.0.0.1:${testPort(basePort) + 90}` }, { catchUpTimeoutMs: 1500 }), 'catchUpTimeout');
      const after = await client.admin().configuration();
      assert.deepEqual(ids(after), ids(before));
      assert.deepEqual(after.learners, [], 'the learner that never caught up was removed again');
      assert.equal(after.outgoing, null);
    });

    if (actors === 'workers') {
      test('every server replaced: a client given only the first servers\' addresses keeps writing, and finds a new leader among the new ones', caseTimeout, async () => {
        // A client of its own, knowing only the three first servers: what it knows of the others
        // comes from the members the servers name with NOT_LEADER.
        const original = await RaftClient.connect({ peers: cluster.nodes.slice(0, 3).map((node) => node.address), requestTimeoutMs: 60_000 });
        try {
          const writer = new LedgerWriter(original, 'moved', 16);
          writer.start();
          await writer.more(200);
          const before = await client.admin().configuration();
          const fresh = [cluster.addNode(), cluster.addNode(), cluster.addNode()];
          for (const node of fresh) cluster.start(node.id);
          const moved = await client.admin().setConfiguration({ voters: fresh.map((node) => ({ id: node.id, address: node.address })) });
          assert.deepEqual(ids(moved), fresh.map((node) => node.id).sort());
          await writer.more(200, 60_000);
          // Every server of before is gone for good, then the new leader too: the client's own peers are all dead.
          for (const member of before.voters) {
            cluster.kill(member.id);
            await cluster.waitExit(member.id);
          }
          const leader = await leaderOf(fresh);
          cluster.kill(leader.id);
          await cluster.waitExit(leader.id);
          await writer.more(200, 60_000);
          await writer.stop();
          assert.deepEqual(writer.failures, [], 'no write failed');
          cluster.start(leader.id);
          await checkMembers(fresh, writer.acknowledged);
        } finally {
          await original.close();
        }
      });
    }
  });
}
