/**
 * What snapshots buy, measured on a local 3-server cluster (real processes, fsync on, the
 * servers' default snapshot policy unless given): the load comes from `raftline bench --peers`
 * (its load generators), in steps up to each total of writes; after each step
 *  - restart: one follower killed with SIGKILL and started again on its directory, timed from the
 *    process start to its applied index reaching the leader's commit (no load meanwhile);
 *  - with `--wipe`: one follower killed, its directory removed, started again under a full write
 *    load, timed until it has applied what the leader had committed when it started; its install
 *    (bytes, ms, MB/s) from its metrics, and the leader's writes/s during the catch-up against the
 *    seconds before it, from the load's per-second series.
 * Each server's data directory size is reported after every step. A JSON result at the end.
 *
 *   node dist/bench/snapshot-figures.js [--steps 1000000,10000000] [--keys 100000] [--size 128]
 *     [--snapshot-every N] [--log-keep N] [--wipe] [--base-port 7501] [--json FILE]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { LocalCluster, sleep, type LocalNode } from '../src/cluster/local-cluster.js';
import { RaftClient } from '../src/client/raft-client.js';

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}
const steps = (flag('steps') ?? '1000000,10000000').split(',').map(Number);
const keys = Number(flag('keys') ?? 100_000);
const size = Number(flag('size') ?? 128);
const basePort = Number(flag('base-port') ?? 7501);
const snapshotEvery = flag('snapshot-every');
const logKeep = flag('log-keep');
const wipe = process.argv.includes('--wipe');
const jsonFile = flag('json');
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface LoadResult { acknowledged: number; series: { seconds: { second: number; writesPerSecond: number }[] } }

/** `raftline bench` against the cluster: `writes` writes, or `durationS` seconds; its JSON result. */
function load(cluster: LocalCluster, writes: number, durationS: number): Promise<LoadResult> {
  const file = path.join(os.tmpdir(), `raftline-snapshot-figures-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  const args = [cli, 'bench', '--peers', cluster.addresses.join(','), '--writes-max', String(writes), '--duration', String(durationS),
    '--warmup', '0', '--keys', String(keys), '--size', String(size), '--no-live', '--json', file];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`bench exited with ${code}`));
        return;
      }
      const result = JSON.parse(fs.readFileSync(file, 'utf8')) as LoadResult;
      fs.rmSync(file, { force: true });
      resolve(result);
    });
  });
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(full) : fs.statSync(full).size;
  }
  return total;
}

async function waitApplied(client: RaftClient, node: LocalNode, target: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const status = await client.status(node.address).catch(() => null);
    if (status !== null && status.applied >= target) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`${node.id} did not reach ${target} in ${timeoutMs} ms`);
    await sleep(20);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-snapshot-figures-'));
const cluster = new LocalCluster({
  nodes: 3, dir, basePort, actors: 'workers', logLevel: 'warn', logFile: path.join(dir, 'servers.log'),
  ...(snapshotEvery === undefined ? {} : { snapshotEvery: Number(snapshotEvery) }),
  ...(logKeep === undefined ? {} : { logKeep: Number(logKeep) }),
});
const results: Record<string, unknown>[] = [];
try {
  await cluster.checkPorts();
  cluster.startAll();
  await cluster.waitForLeader(30_000);
  const client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 10_000 });
  let written = 0;
  for (const total of steps) {
    const stepStartedMs = performance.now();
    const step = await load(cluster, total - written, 100_000);
    const stepWritesPerSecond = Math.round(step.acknowledged / ((performance.now() - stepStartedMs) / 1000));
    written = total;
    const leader = await cluster.waitForLeader(30_000);
    const follower = cluster.nodes.find((node) => node !== leader)!;
    const leaderStatus = await client.status(leader.address);
    const sizes = Object.fromEntries(cluster.nodes.map((node) => [node.id, dirBytes(node.dir)]));
    // Restart on its own directory, no load: process start to applied = commit.
    cluster.kill(follower.id);
    await cluster.waitExit(follower.id);
    const commit = (await client.status(leader.address)).commit;
    cluster.start(follower.id);
    const restartMs = await waitApplied(client, follower, commit, 120_000);
    const followerStatus = await client.status(follower.address);
    const result: Record<string, unknown> = {
      writes: total, stepWritesPerSecond, leaderCommit: commit,
      restart: { server: follower.id, ms: Math.round(restartMs), snapshotIndex: followerStatus.snapshotIndex, replayed: commit - followerStatus.snapshotIndex },
      dataDirBytes: sizes, logBytes: leaderStatus.logBytes, snapshotIndex: leaderStatus.snapshotIndex, firstLogIndex: leaderStatus.firstLogIndex,
    };
    console.log(JSON.stringify(result));
    if (wipe) {
      const victim = cluster.nodes.find((node) => node !== leader && node !== follower)!;
      const loading = load(cluster, 100_000_000, 40);
      await sleep(8000);
      cluster.kill(victim.id);
      await cluster.waitExit(victim.id);
      fs.rmSync(victim.dir, { recursive: true, force: true });
      const target = (await client.status(leader.address)).commit;
      cluster.start(victim.id);
      const catchUpMs = await waitApplied(client, victim, target, 300_000);
      const loadResult = await loading;
      const metrics = await client.metrics(victim.address);
      const installBytes = metrics.counters['snapshotInstallBytes'] ?? 0;
      const installMs = metrics.counters['snapshotInstallMs'] ?? 0;
      // The load ran 8 s before the wipe; the catch-up spans the next seconds of its series.
      const series = loadResult.series.seconds;
      const before = series.filter((point) => point.second >= 2 && point.second < 7);
      const during = series.filter((point) => point.second >= 8 && point.second < 8 + Math.max(1, Math.ceil(catchUpMs / 1000)));
      const mean = (points: typeof series): number => points.length === 0 ? 0 : points.reduce((sum, point) => sum + point.writesPerSecond, 0) / points.length;
      const wiped = {
        server: victim.id, catchUpMs: Math.round(catchUpMs), installBytes, installMs,
        installMBPerSecond: installMs > 0 ? Number((installBytes / 1e6 / (installMs / 1000)).toFixed(1)) : null,
        leaderWritesPerSecondBefore: Math.round(mean(before)), leaderWritesPerSecondDuring: Math.round(mean(during)),
      };
      written += loadResult.acknowledged;
      result['wiped'] = wiped;
      console.log(JSON.stringify({ wiped }));
    }
    results.push(result);
  }
  await client.close();
} finally {
  await cluster.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
}
if (jsonFile !== undefined) fs.writeFileSync(jsonFile, JSON.stringify({ keys, size, steps: results }, null, 2) + '\n');
