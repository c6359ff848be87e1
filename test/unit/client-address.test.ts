/**
 * A client's peer addresses are checked when the client is made: `host:port` (an IPv6 host in
 * brackets) passes; anything else, such as a server's `id=host:port`, is a ConfigurationError at
 * once instead of a name lookup failing when the address is first dialed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftClient } from '../../src/client/raft-client.js';
import { ConfigurationError } from '../../src/errors.js';

test('peers in the server form, without a port, or with a port out of range are refused at connect', async () => {
  for (const peer of ['n1=127.0.0.1:7101', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', 'host name:7101', '127.0.0.1:71a']) {
    await assert.rejects(RaftClient.connect({ peers: [peer] }), (error: unknown) => {
      assert.ok(error instanceof ConfigurationError, `${peer}: ${String(error)}`);
      assert.match(error.message, /is not host:port/);
      return true;
    }, peer);
  }
});

test('host:port, host names and bracketed IPv6 addresses are taken', async () => {
  const client = await RaftClient.connect({ peers: ['127.0.0.1:7101', 'node-1.example:7102', '[::1]:7103'] });
  await client.close();
});
