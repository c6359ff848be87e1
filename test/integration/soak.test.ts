/**
 * Fault soak, off by default (RAFTLINE_SOAK=<rounds> turns it on; see docs/testing.md): three server
 * processes under write load from concurrent clients, and in each round a random server — leader
 * or follower — is killed with SIGKILL at a random moment and restarted a moment later. At the end
 * every acknowledged write must be applied exactly once on every replica, and the replicas must be
 * identical. The seed is printed; RAFTLINE_SOAK_SEED replays the same schedule of kills.
 */
import { test } from 'node:test';
import { testPort } from '../support/ports.js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster, sleep } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { SeededRng } from '../../src/core/rng.js';
import { encode } from '../../src/messages/codec.js';
import { checkLedgers, waitForConvergence } from '../support/ledger-checks.js';

const rounds = Number(process.env['RAFTLINE_SOAK'] ?? 0);
const seed = Number(process.env['RAFTLINE_SOAK_SEED'] ?? Date.now() % 1_000_000);
const actors = process.env['RAFTLINE_SOAK_ACTORS'] === 'inline' ? 'inline' : 'workers';
const ledgerModule = fileURLToPath(new URL('../support/ledger-sm.js', import.meta.url));

test(`soak: ${rounds} rounds of kill -9 and restart under load (seed ${seed}, actors ${actors})`, { skip: rounds <= 0 ? 'set RAFTLINE_SOAK=<rounds> to run' : false, timeout: 120_000 + rounds * 30_000 }, async (t) => {
  const rng = new SeededRng(seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-soak-'));
  const logFile = path.join(dir, 'servers.log');
  const cluster = new LocalCluster({ nodes: 3, dir, basePort: testPort(18301), actors, stateMachine: ledgerModule, logFile, logLevel: 'info' });
  const clients: RaftClient[] = [];
  const acknowledged = new Set<string>();
  const failed: string[] = [];
  let stop = false;
  try {
    cluster.startAll();
    await cluster.waitForLeader();
    const load = Array.from({ length: 3 }, async (_, c) => {
      const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 60_000 });
      clients.push(client);
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (!stop) {
          const value = `c${c}-${next++}`;
          try {
            await client.send(encode(value));
            acknowledged.add(value);
          } catch (error) {
            failed.push(`${value}: ${(error as Error).message}`);
          }
        }
      }));
    });
    for (let round = 0; round < rounds; round++) {
      await sleep(rng.intBetween(200, 1500));
      const victim = cluster.nodes[rng.intBetween(0, 2)]!;
      cluster.kill(victim.id);
      await cluster.waitExit(victim.id);
      await sleep(rng.intBetween(100, 2000));
      cluster.start(victim.id);
    }
    await sleep(1000);
    stop = true;
    await Promise.all(load);
    assert.deepEqual(failed, [], 'every write was acknowledged');
    await waitForConvergence(cluster, 60_000);
    const reader = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 10_000 });
    clients.push(reader);
    await checkLedgers(cluster, reader, acknowledged);
    t.diagnostic(`seed ${seed}: ${rounds} kills, ${acknowledged.size} acknowledged writes, all present once on 3 replicas`);
  } catch (error) {
    const kept = path.join(os.tmpdir(), `raftline-soak-failed-${seed}.log`);
    if (fs.existsSync(logFile)) fs.copyFileSync(logFile, kept);
    (error as Error).message += `\nseed ${seed}; server log kept at ${kept}`;
    throw error;
  } finally {
    stop = true;
    await Promise.all(clients.map((client) => client.close()));
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
