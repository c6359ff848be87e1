/**
 * The fixture of the hostile-input tests: a 3-server cluster of real processes with short
 * deadlines and a small connection limit, a well-behaved client that keeps writing, and `attack`,
 * which runs one hostile case and checks what must hold around every case:
 *   - the well-behaved client's writes all succeed during and after the attack;
 *   - no server's Raft state moved except by those writes: same term and leader everywhere,
 *     the leader's last index grew by exactly the writes acknowledged, and every server
 *     converges to it (commit = applied = last index);
 *   - the attacked server's resident memory (VmRSS) grew by less than a stated bound.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clientTlsFromDir, LocalCluster, sleep, withTimeout, type LocalNode } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import type { DivisionStatus } from '../../src/messages/messages.js';
import type { Limits } from '../../src/limits.js';
import { Kind } from '../../src/messages/kinds.js';
import type { Reply } from './raw-connection.js';

/** The limits of the hostile cluster: small enough that every bound is reached in seconds. */
export const hostileLimits = {
  entryBytesMax: 64 * 1024,
  appendBatchBytesMax: 1024 * 1024,
  frameBytesMax: 4 * 1024 * 1024,
  frameDeadlineMs: 1500,
  idleBeforeFirstFrameMs: 1500,
  connectionsMax: 48,
  // 8 slots kept for the servers; one address may hold 24 of the clients' 40.
  clientConnectionsMax: 40,
  clientConnectionsPerAddressMax: 24,
  // Long election timeouts (2-4 s), so that a loaded test machine does not start an election
  // that the "term untouched" checks would take for the attack's doing.
  electionTicksMin: 40,
  electionTicksMax: 80,
  // A day: the well-behaved client's session never idles out, so the leader appends no clock
  // entry (src/server/session-clock.ts) and the log grows by the acknowledged writes alone.
  sessionIdleMsMax: 86_400_000,
} satisfies Partial<Limits>;

/** Default bound on the attacked server's RSS growth over one case. */
export const rssGrowthBytesMax = 48 * 1024 * 1024;

export function residentBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  assert.ok(match, `no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** A client that keeps a few puts in flight until stopped; every write must succeed. */
export class SteadyWriter {
  acked = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private failure: Error | null = null;
  private nextKey = 0;

  constructor(private readonly client: RaftClient, private readonly concurrency = 3, private readonly writesMax = 50_000) {}

  start(): void {
    assert.equal(this.running, false);
    this.running = true;
    this.loops = Array.from({ length: this.concurrency }, () => this.loop());
  }

  /** Stops, waits for the writes in flight, and throws the first failed write if any. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    if (this.failure !== null) throw this.failure;
  }

  /** Waits until `count` more writes are acknowledged than now. */
  async more(count: number, timeoutMs = 15_000): Promise<void> {
    const target = this.acked + count;
    const deadline = performance.now() + timeoutMs;
    while (this.acked < target) {
      if (this.failure !== null) throw this.failure;
      assert.ok(performance.now() < deadline, `the well-behaved client managed ${this.acked - target + count} of ${count} writes in ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  private async loop(): Promise<void> {
    const store = kv(this.client);
    while (this.running && this.failure === null && this.nextKey < this.writesMax) {
      const key = `steady-${this.nextKey++}`;
      try {
        await store.put(key, 'v');
        this.acked++;
      } catch (error) {
        this.failure ??= new Error(`a write of the well-behaved client failed: ${(error as Error).message}`);
      }
    }
  }
}

export interface AttackReport {
  /** Writes acknowledged while the attack ran. */
  writesDuring: number;
  rssGrowthBytes: number;
}

export class HostileCluster {
  private constructor(
    readonly cluster: LocalCluster,
    private readonly dir: string,
    readonly client: RaftClient,
    readonly writer: SteadyWriter,
  ) {}

  /** With `tlsDir` (a `raftline certs create` folder) the servers serve TLS only, and the client uses the admin certificate. */
  static async start(basePort: number, tlsDir?: string): Promise<HostileCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-hostile-'));
    const cluster = new LocalCluster({
      nodes: 3, dir, basePort, actors: 'workers', limits: hostileLimits, logLevel: process.env['RAFTLINE_HOSTILE_LOG_LEVEL'] ?? 'error',
      logFile: path.join(dir, 'servers.log'), ...(tlsDir === undefined ? {} : { tlsDir }),
    });
    cluster.startAll();
    try {
      // One failover first, so the term is at least 2 and a stale term of at least 1 exists.
      const first = await cluster.waitForLeader(30_000);
      cluster.kill(first.id);
      await cluster.waitExit(first.id);
      await cluster.waitForLeader(30_000);
      cluster.start(first.id);
      const client = await RaftClient.connect({
        peers: cluster.addresses, requestTimeoutMs: 15_000, ...(tlsDir === undefined ? {} : { tls: clientTlsFromDir(tlsDir) }),
      });
      const fixture = new HostileCluster(cluster, dir, client, new SteadyWriter(client));
      await kv(client).put('warm', 'up');
      await fixture.converged(30_000);
      return fixture;
    } catch (error) {
      await cluster.stopAll();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.client.close();
    await this.cluster.stopAll();
    if (process.env['RAFTLINE_HOSTILE_KEEP']) process.stdout.write(`# servers' files kept in ${this.dir}\n`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async statuses(): Promise<DivisionStatus[]> {
    const statuses = await this.cluster.statuses();
    return statuses.map((status, i) => {
      assert.ok(status !== null, `server ${this.cluster.nodes[i]!.id} did not answer the status call`);
      return status;
    });
  }

  async leader(): Promise<LocalNode> {
    return this.cluster.waitForLeader(10_000);
  }

  /** A server that is not the leader. */
  async follower(): Promise<LocalNode> {
    const leader = await this.leader();
    return this.cluster.nodes.find((node) => node.id !== leader.id)!;
  }

  /** Waits until every server has committed and applied the whole log of the leader. */
  async converged(timeoutMs = 10_000): Promise<DivisionStatus[]> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const statuses = await this.cluster.statuses();
      if (statuses.every((status) => status !== null)) {
        const all = statuses as DivisionStatus[];
        const last = Math.max(...all.map((status) => status.lastIndex));
        if (all.every((status) => status.lastIndex === last && status.commit === last && status.applied === last)) return all;
      }
      assert.ok(performance.now() < deadline, `servers did not converge: ${JSON.stringify(statuses.map((status) => status && (({ id, term, commit, applied, lastIndex }) => ({ id, term, commit, applied, lastIndex }))(status)))}`);
      await sleep(50);
    }
  }

  pid(node: LocalNode): number {
    const pid = node.process?.pid;
    assert.ok(pid !== undefined, `server ${node.id} is not running`);
    return pid;
  }

  /**
   * Runs `hostile` against `target` while the well-behaved client writes, then checks the
   * invariants of the file header. `rssBoundBytes` is the allowed growth of the target's RSS.
   */
  async attack(target: LocalNode, hostile: () => Promise<void>, rssBoundBytes = rssGrowthBytesMax): Promise<AttackReport> {
    const before = await this.converged();
    const rssBefore = residentBytes(this.pid(target));
    const ackedBefore = this.writer.acked;
    this.writer.start();
    let writesDuring = 0;
    try {
      await this.writer.more(5);
      const ackedAtStart = this.writer.acked;
      await hostile();
      writesDuring = this.writer.acked - ackedAtStart;
      // The server keeps serving after the attack, too.
      await this.writer.more(20);
    } finally {
      await this.writer.stop();
    }
    const rssGrowthBytes = residentBytes(this.pid(target)) - rssBefore;
    const after = await this.converged();
    const written = this.writer.acked - ackedBefore;
    for (let i = 0; i < after.length; i++) {
      const [was, is] = [before[i]!, after[i]!];
      assert.equal(is.term, was.term, `server ${is.id}: term moved from ${was.term} to ${is.term}`);
      assert.equal(is.leader, was.leader, `server ${is.id}: leader moved from ${was.leader} to ${is.leader}`);
      assert.equal(is.lastIndex, was.lastIndex + written,
        `server ${is.id}: last index ${was.lastIndex} -> ${is.lastIndex}, but only ${written} writes were acknowledged`);
    }
    if (process.env['RAFTLINE_HOSTILE_REPORT']) {
      process.stdout.write(`# ${target.id}: RSS ${(rssGrowthBytes / 2 ** 20).toFixed(1)} MiB growth, ${written} writes (${writesDuring} during the attack)\n`);
    }
    assert.ok(rssGrowthBytes < rssBoundBytes,
      `server ${target.id}: RSS grew by ${(rssGrowthBytes / 2 ** 20).toFixed(1)} MiB, over the bound of ${(rssBoundBytes / 2 ** 20).toFixed(1)} MiB`);
    return { writesDuring, rssGrowthBytes };
  }

  /** The status of one server, straight from it. */
  async statusOf(node: LocalNode): Promise<DivisionStatus> {
    return withTimeout(this.client.status(node.address), 5000);
  }
}

/** The error a refusal or a reply carries (it must carry one). */
export function errorOf(reply: Reply): { code: string; message: string; details: Record<string, unknown> } {
  const error = reply['error'] as { code: string; message: string; details: Record<string, unknown> } | null;
  assert.ok(error !== null && typeof error === 'object', `reply carries no error: ${JSON.stringify(reply)}`);
  return error;
}

/** An AppendEntries of group 'default' from n1, empty, with `fields` over it. */
export function appendEntries(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    k: Kind.AppendEntries, g: 'default', from: 'n1', term: 1, prevIndex: 0, prevTerm: 0, leaderCommit: 0,
    terms: [], entries: new Uint8Array(0), seq: 1, round: 0, ...fields,
  };
}
