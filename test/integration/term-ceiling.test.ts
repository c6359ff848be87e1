/**
 * A group whose term a forged message pushed past the ceiling before the gateway refused such
 * terms (every server's `raft-meta` at 2^53 - 1, as the issue that found it left them), against
 * three real server processes and the real CLI: each server refuses to start, saying how to
 * recover; `raftline reset-term` reads each server's last log term, then sets one term above the
 * highest on every server; the group elects a leader again, with every acknowledged write kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { readRaftMeta, writeRaftMeta } from '../../src/log/raft-meta.js';
import { testPort } from '../support/ports.js';

const run = promisify(execFile);
const mainScript = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

async function raftline(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [mainScript, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test('a group whose term is past the ceiling refuses to start, says how to recover, and recovers with reset-term', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-term-ceiling-'));
  const cluster = new LocalCluster({ nodes: 3, dir, basePort: testPort(19801), logFile: path.join(dir, 'servers.log') });
  try {
    cluster.startAll();
    await cluster.waitForLeader(30_000);
    const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 15_000 });
    const store = kv(client);
    for (let i = 0; i < 20; i++) await store.put(`key-${i}`, `value-${i}`);
    await client.close();
    await cluster.stopAll();

    const groupDirs = cluster.nodes.map((node) => path.join(node.dir, 'default', 'current'));
    for (const groupDir of groupDirs) writeRaftMeta(groupDir, { term: 2 ** 53 - 1, votedFor: null });
    const refused = await raftline('server', '--id', 'n1', '--peers', cluster.nodes.map((node) => `${node.id}=${node.address}`).join(','),
      '--dir', cluster.nodes[0]!.dir, '--log-level', 'fatal');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /holds term 9007199254740991, over the ceiling/);
    assert.match(refused.stderr, /raftline reset-term --dir <data dir>/);

    const reports = await Promise.all(cluster.nodes.map(async (node) => {
      const shown = await raftline('reset-term', '--dir', node.dir);
      assert.equal(shown.code, 0, shown.stderr);
      return JSON.parse(shown.stdout) as { term: number; lastLogTerm: number; lastIndex: number };
    }));
    for (const report of reports) assert.equal(report.term, 2 ** 53 - 1);
    const highest = Math.max(...reports.map((report) => report.lastLogTerm));
    assert.ok(highest >= 1);
    const tooLow = await raftline('reset-term', '--dir', cluster.nodes[0]!.dir, '--term', String(highest));
    assert.equal(tooLow.code, 2, 'a term not above the log\'s last term is refused');
    for (const node of cluster.nodes) {
      const reset = await raftline('reset-term', '--dir', node.dir, '--term', String(highest + 1));
      assert.equal(reset.code, 0, reset.stderr);
    }
    for (const groupDir of groupDirs) assert.deepEqual(readRaftMeta(groupDir), { term: highest + 1, votedFor: null });

    cluster.startAll();
    await cluster.waitForLeader(30_000);
    const after = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 15_000 });
    try {
      const again = kv(after);
      for (let i = 0; i < 20; i++) assert.equal(await again.get(`key-${i}`), `value-${i}`);
      await again.put('after-recovery', 'yes');
      assert.equal(await again.get('after-recovery'), 'yes');
      for (const status of await cluster.statuses()) {
        assert.ok(status !== null && status.term > highest && status.term < 2 ** 48 && !status.termCeilingReached);
      }
    } finally {
      await after.close();
    }
  } finally {
    await cluster.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
