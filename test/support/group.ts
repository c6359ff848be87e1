/**
 * A 3-server group in this process (actors inline, logs silent) on loopback, for tests that need
 * real servers but not separate processes: started, its leader waited for, handed to the test,
 * then closed and its data removed however the test ended.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { RaftServer } from '../../src/server/raft-server.js';
import type { RaftServerOptions } from '../../src/server/options.js';
import type { Limits } from '../../src/limits.js';
import { sleep } from '../../src/cluster/local-cluster.js';

export interface Group {
  servers: RaftServer[];
  addresses: string[];
  leader: RaftServer;
  followers: RaftServer[];
}

/** The server that is leader and has committed an entry of its term. */
export async function waitForLeader(servers: RaftServer[], timeoutMs = 15_000): Promise<RaftServer> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const leader = servers.find((server) => {
      const status = server.status();
      return status.role === 'leader' && status.commit > 0;
    });
    if (leader !== undefined) return leader;
    await sleep(50);
  }
  throw new Error('no leader elected in time');
}

/** Runs `body` against a fresh group listening on `basePort` onward, with these limits (and these options for every server). */
export async function withGroup(basePort: number, limits: Partial<Limits>, body: (group: Group) => Promise<void>,
  options: Partial<Pick<RaftServerOptions, 'readLease'>> = {}): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-group-'));
  const peers = [1, 2, 3].map((n) => ({ id: `n${n}`, address: `127.0.0.1:${basePort + n - 1}` }));
  const started: RaftServer[] = [];
  try {
    const servers = peers.map((peer) => new RaftServer({
      id: peer.id, peers, dir: path.join(dir, peer.id), actors: 'inline', stateMachine: 'kv', limits,
      logger: pino({ level: 'silent' }), ...options,
    }));
    for (const server of servers) {
      await server.start();
      started.push(server);
    }
    const leader = await waitForLeader(servers);
    await body({
      servers, addresses: peers.map((peer) => peer.address), leader,
      followers: servers.filter((server) => server !== leader),
    });
  } finally {
    await Promise.allSettled(started.map((server) => server.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
