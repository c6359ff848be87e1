/**
 * Leadership on real server processes under a continuous write load (the ledger state machine, so
 * every acknowledged write can be found on every replica): transfers to each server in turn and a
 * step-down, each done by the server asked for, with no write failing; a rolling restart of every
 * server (the leader hands over before it stops) that no client notices; elections paused on two
 * servers, which then never campaign after the leader is killed, until one is resumed; and the
 * `raftline election` / `peer list` commands. Afterwards every acknowledged write is on every
 * replica once and the replicas are identical.
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
import type { DivisionStatus } from '../../src/messages/messages.js';
import { checkLedgers, waitForConvergence } from '../support/ledger-checks.js';
import { runCli } from '../support/cli.js';
import { testPort } from '../support/ports.js';
import { LedgerWriter } from '../support/ledger-writer.js';

const ledgerModule = fileURLToPath(new URL('../support/ledger-sm.js', import.meta.url));
const caseTimeout = { timeout: 120_000 };


for (const [actors, basePort] of [['workers', 21201], ['inline', 21301]] as const) {
  describe(`leadership, actors ${actors}`, () => {
    let dir: string;
    let cluster: LocalCluster;
    let client: RaftClient;
    let writer: LedgerWriter;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `raftline-leadership-${actors}-`));
      cluster = new LocalCluster({
        nodes: 3, dir, basePort: testPort(basePort), actors, stateMachine: ledgerModule, logLevel: 'info', logFile: path.join(dir, 'servers.log'),
        // Long election timeouts: on a loaded machine an election of its own would blur what a transfer did.
        limits: { electionTicksMin: 40, electionTicksMax: 80 },
      });
      cluster.startAll();
      await cluster.waitForLeader(30_000);
      client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 20_000 });
      writer = new LedgerWriter(client);
    });

    after(async () => {
      await writer?.stop();
      await client?.close();
      await cluster?.stopAll();
      if (process.env['KEEP'] === undefined) fs.rmSync(dir, { recursive: true, force: true });
      else console.log('kept', dir);
    });

    const statusOf = (node: LocalNode): Promise<DivisionStatus> => withTimeout(client.status(node.address), 5000);
    const leaderNode = (): Promise<LocalNode> => cluster.waitForLeader(30_000);

    test('transfers to each server in turn and a step-down under load: each done by its target, no write fails', caseTimeout, async () => {
      writer.start();
      await writer.more(500);
      for (let round = 0; round < 4; round++) {
        const leader = await leaderNode();
        const target = cluster.nodes[(cluster.nodes.indexOf(leader) + 1) % cluster.nodes.length]!;
        const termBefore = (await statusOf(leader)).term;
        const outcome = await client.admin().transferLeadership(target.id, { timeoutMs: 3000 });
        assert.equal(outcome.leader, target.id, `round ${round}: ${target.id} leads`);
        assert.ok(outcome.term > termBefore, `round ${round}: a later term`);
        const status = await statusOf(target);
        assert.equal(status.role, 'leader');
        assert.equal(status.transferTarget, null);
        await writer.more(300);
      }
      const leader = await leaderNode();
      const stepped = await client.admin().stepDown({ timeoutMs: 3000 });
      assert.notEqual(stepped.leader, leader.id, 'a step-down hands over to another server');
      await writer.more(300);
      // The target of a transfer that is already leader: done at once.
      const current = await client.admin().transferLeadership(stepped.leader);
      assert.equal(current.leader, stepped.leader);
      await writer.stop();
      assert.deepEqual(writer.failures, [], 'no write failed');
      const counters = await Promise.all(cluster.nodes.map(async (node) => (await client.metrics(node.address)).counters));
      const sum = (name: string): number => counters.reduce((total, each) => total + (each[name] ?? 0), 0);
      assert.equal(sum('transfersCompleted'), 5, 'four transfers and a step-down completed');
      assert.equal(sum('transfersFailed'), 0);
      assert.ok(sum('timeoutNowReceived') >= 5);
      // Each handover's stages are counted: by the old leader until TimeoutNow, by the target after.
      assert.equal(sum('takeovers'), 5, 'five elections won on TimeoutNow');
      assert.ok(sum('transferCatchUpMs') <= sum('transferMs'), 'the catch-up wait is part of the transfer');
      assert.ok(sum('takeoverElectionMs') > 0 && sum('takeoverReadyMs') > 0);
      console.log(`# ${actors}: longest gap between acknowledged writes over 5 transfers: ${writer.longestGapMs.toFixed(1)} ms`);
    });

    if (actors === 'workers') {
      test('a rolling restart with transfers: every server stopped and started in turn, and no client notices', caseTimeout, async () => {
        writer.start();
        await writer.more(300);
        for (const node of cluster.nodes) {
          const leader = await leaderNode();
          if (leader === node) {
            const outcome = await client.admin().stepDown({ timeoutMs: 3000 });
            assert.notEqual(outcome.leader, node.id);
          }
          node.process?.kill('SIGTERM');
          await cluster.waitExit(node.id);
          await writer.more(200);
          cluster.start(node.id);
          // Back and caught up before the next one stops: then a majority is always there.
          const deadline = performance.now() + 30_000;
          for (;;) {
            const status = await statusOf(node).catch(() => null);
            const commit = (await statusOf(await leaderNode())).commit;
            if (status !== null && status.applied >= commit - 1000) break;
            assert.ok(performance.now() < deadline, `${node.id} did not catch up after its restart`);
            await sleep(100);
          }
          await writer.more(200);
        }
        await writer.stop();
        assert.deepEqual(writer.failures, [], 'no write failed');
        console.log(`# rolling restart: longest gap between acknowledged writes ${writer.longestGapMs.toFixed(1)} ms`);
      });

      test('raftline election and peer list: transfer, pause, resume, a refused transfer', caseTimeout, async () => {
        const peers = cluster.addresses.join(',');
        const list = await runCli(['peer', 'list', '--peers', peers]);
        assert.equal(list.code, 0, list.stderr);
        const configuration = JSON.parse(list.stdout) as { voters: { id: string; address: string }[]; leader: string };
        assert.deepEqual(configuration.voters.map((voter) => voter.id), cluster.nodes.map((node) => node.id));
        const target = cluster.nodes.find((node) => node.id !== configuration.leader)!;
        const moved = await runCli(['election', 'transfer', '--to', target.id, '--peers', peers]);
        assert.equal(moved.code, 0, moved.stderr);
        assert.equal((JSON.parse(moved.stdout) as { leader: string }).leader, target.id);
        const paused = await runCli(['election', 'pause', '--server', target.id, '--peers', peers]);
        assert.deepEqual(JSON.parse(paused.stdout), { server: target.id, electionPaused: true });
        assert.equal((await statusOf(target)).electionPaused, true);
        const resumed = await runCli(['election', 'resume', '--server', target.id, '--peers', peers]);
        assert.deepEqual(JSON.parse(resumed.stdout), { server: target.id, electionPaused: false });
        const status = await runCli(['status', '--peers', peers]);
        assert.equal(status.code, 0, status.stderr);
        for (const record of JSON.parse(status.stdout) as { voters: string[]; joint: boolean; electionPaused: boolean }[]) {
          assert.deepEqual([record.voters.sort(), record.joint, record.electionPaused], [cluster.nodes.map((node) => node.id).sort(), false, false]);
        }
        const refused = await runCli(['election', 'transfer', '--to', 'n9', '--peers', peers]);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /^raftline: cannot transfer leadership: n9 is not a voter of group default\n$/);
      });
    }

    test('paused elections: with the leader killed, paused servers never campaign; a resumed one takes over', caseTimeout, async () => {
      const leader = await leaderNode();
      const others = cluster.nodes.filter((node) => node !== leader);
      for (const node of others) await client.admin().pauseElection(node.address);
      const term = (await statusOf(others[0]!)).term;
      cluster.kill(leader.id);
      await cluster.waitExit(leader.id);
      // Four election timeouts at most (80 ticks of 50 ms): nobody campaigns.
      await sleep(4 * 80 * 50);
      for (const node of others) {
        const status = await statusOf(node);
        assert.equal(status.term, term, `${node.id} stayed in term ${term}`);
        assert.equal(status.role, 'follower');
        assert.equal(status.electionPaused, true);
      }
      await client.admin().resumeElection(others[0]!.address);
      const next = await cluster.waitForLeader(30_000);
      assert.equal(next.id, others[0]!.id, 'only the resumed server could win');
      await client.admin().resumeElection(others[1]!.address);
      cluster.start(leader.id);
      writer.start();
      await writer.more(200, 30_000);
      await writer.stop();
      assert.deepEqual(writer.failures, [], 'no write failed');
      await waitForConvergence(cluster, 30_000);
      await checkLedgers(cluster, client, writer.acknowledged);
    });
  });
}
