/**
 * LocalCluster (what `raftline cluster` and `raftline bench` run) recognises its own servers: a
 * server of another group or another cluster answering on one of its ports — here a leader with
 * the id `n3` on the port meant for this cluster's `n2` — is neither taken for the leader nor lets
 * the cluster start (`checkPorts` names the port).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { LocalCluster } from '../../src/cluster/local-cluster.js';
import { ConfigurationError, TimeoutError } from '../../src/errors.js';
import { RaftServer } from '../../src/server/raft-server.js';
import { waitForLeader } from '../support/group.js';
import { withTempDirAsync } from '../support/temp-dir.js';
import { testPort } from '../support/ports.js';

test('another cluster\'s leader on one of its ports is not taken for its own, and the ports check names it', { timeout: 30_000 }, async () => {
  await withTempDirAsync('raftline-local-cluster-', async (dir) => {
    const basePort = testPort(19861);
    const strangerAddress = `127.0.0.1:${basePort + 1}`;
    const stranger = new RaftServer({
      id: 'n3', peers: [{ id: 'n3', address: strangerAddress }], dir: `${dir}/stranger`, actors: 'inline', logger: pino({ level: 'silent' }),
    });
    await stranger.start();
    try {
      await waitForLeader([stranger]);
      const cluster = new LocalCluster({ nodes: 3, dir: `${dir}/cluster`, basePort });
      // Never started: no status it gets is its own, whatever id the answer names.
      await assert.rejects(cluster.waitForLeader(2000), TimeoutError);
      await assert.rejects(cluster.checkPorts(), (error: unknown) => {
        assert.ok(error instanceof ConfigurationError, String(error));
        assert.match(error.message, new RegExp(`port ${basePort + 1} for server n2 is not free`));
        return true;
      });
      await cluster.stopAll();
    } finally {
      await stranger.close();
    }
  });
});
