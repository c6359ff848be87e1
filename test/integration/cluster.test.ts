/**
 * The write path end to end, with real server processes on loopback, real worker threads, real
 * files and real TCP: elect, write 10,000 entries from concurrent clients, kill -9 the leader in
 * the middle, keep writing through the new leader, restart the killed server, and check that
 * every acknowledged write is applied exactly once on all three replicas, which end identical.
 * Runs with actors as workers and inline.
 */
import { test } from 'node:test';
import { testPort } from '../support/ports.js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { encode } from '../../src/messages/codec.js';
import { checkLedgers, waitForConvergence } from '../support/ledger-checks.js';

const ledgerModule = fileURLToPath(new URL('../support/ledger-sm.js', import.meta.url));
const clientCount = 4;
const writesPerClient = 2500;
const outstandingPerClient = 32;

for (const [actors, basePort] of [['workers', testPort(18101)], ['inline', testPort(18201)]] as const) {
  test(`3 processes (${actors}): kill -9 the leader under load, restart it; every acknowledged write applied once everywhere`, { timeout: 180_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `raftline-it-${actors}-`));
    const cluster = new LocalCluster({ nodes: 3, dir, basePort, actors, stateMachine: ledgerModule, logFile: path.join(dir, 'servers.log'), logLevel: 'info' });
    const clients: RaftClient[] = [];
    try {
      cluster.startAll();
      const firstLeader = await cluster.waitForLeader();
      const acknowledged = new Set<string>();
      const failed: string[] = [];
      let killed = false;
      const killAfter = Math.floor((clientCount * writesPerClient) / 3);
      const runClient = async (c: number): Promise<void> => {
        const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 60_000 });
        clients.push(client);
        let next = 0;
        const lane = async (): Promise<void> => {
          while (next < writesPerClient) {
            const value = `c${c}-${next++}`;
            try {
              await client.send(encode(value));
              acknowledged.add(value);
            } catch (error) {
              failed.push(`${value}: ${(error as Error).message}`);
            }
            if (!killed && acknowledged.size >= killAfter) {
              killed = true;
              cluster.kill(firstLeader.id);
            }
          }
        };
        await Promise.all(Array.from({ length: outstandingPerClient }, lane));
      };
      await Promise.all(Array.from({ length: clientCount }, (_, c) => runClient(c)));
      assert.ok(killed, 'the leader was killed during the load');
      assert.deepEqual(failed, [], 'every write was acknowledged (clients retry through the new leader)');
      assert.equal(acknowledged.size, clientCount * writesPerClient);

      const newLeader = await cluster.waitForLeader();
      assert.notEqual(newLeader.id, firstLeader.id, 'a new leader took over');
      await cluster.waitExit(firstLeader.id);
      cluster.start(firstLeader.id);

      // Every server applies everything the leader committed; then the ledgers are compared.
      await waitForConvergence(cluster, 60_000);
      const reader = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 10_000 });
      clients.push(reader);
      await checkLedgers(cluster, reader, acknowledged);
    } catch (error) {
      // The servers' own words are the quickest way to the cause: keep them with the failure.
      const logFile = path.join(dir, 'servers.log');
      const kept = path.join(os.tmpdir(), `raftline-failed-${actors}-${Date.now()}.log`);
      if (fs.existsSync(logFile)) fs.copyFileSync(logFile, kept);
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n') : '';
      (error as Error).message += `\nserver log kept at ${kept}; its tail:\n${tail}`;
      throw error;
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await cluster.stopAll();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
