/**
 * The safety check shared by the kill -9 tests (cluster.test.ts, soak.test.ts): wait until every
 * replica has applied everything committed, read each replica's ledger (test/support/ledger-sm.ts),
 * and check that every acknowledged write is on every replica exactly once and that the replicas
 * applied the same sequence.
 */
import assert from 'node:assert/strict';
import { sleep, type LocalCluster } from '../../src/cluster/local-cluster.js';
import type { RaftClient } from '../../src/client/raft-client.js';
import { decode, encode } from '../../src/messages/codec.js';

export async function waitForConvergence(cluster: LocalCluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await cluster.statuses();
    const commits = statuses.map((status) => status?.commit ?? -1);
    if (statuses.every((status) => status !== null && status.applied > 0 && status.applied === Math.max(...commits))) return;
    assert.ok(Date.now() < deadline, `replicas did not converge: ${JSON.stringify(statuses)}`);
    await sleep(200);
  }
}

export async function checkLedgers(cluster: LocalCluster, reader: RaftClient, acknowledged: ReadonlySet<string>): Promise<void> {
  const ledgers = await Promise.all(cluster.addresses.map(async (address) =>
    decode((await reader.sendStaleRead(encode('dump'), address))!) as string[]));
  for (const [i, ledger] of ledgers.entries()) {
    const id = cluster.nodes[i]!.id;
    const seen = new Set<string>();
    for (const value of ledger) {
      assert.ok(!seen.has(value), `${id} applied ${value} twice`);
      seen.add(value);
    }
    for (const value of acknowledged) assert.ok(seen.has(value), `${id} lost acknowledged write ${value}`);
  }
  for (let i = 1; i < ledgers.length; i++) {
    assert.deepEqual(ledgers[i], ledgers[0], `replicas ${cluster.nodes[0]!.id} and ${cluster.nodes[i]!.id} applied the same sequence`);
  }
}
