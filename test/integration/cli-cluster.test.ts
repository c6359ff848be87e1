/**
 * `raftline cluster` and the client commands against it, as a user runs them (the compiled CLI in
 * child processes, real servers on loopback, actors inline):
 *  - a client given one follower's address reaches the leader through the NOT_LEADER hint, in
 *    either --peers form, and puts values from a file or standard input;
 *  - `status` exits 0, 3 or 1 as every, some or no server answered;
 *  - a second cluster on the same data directory, or on a port range that overlaps the first's,
 *    is refused at once with one line, before it starts a server;
 *  - `cluster` reports its servers' deaths and stops when the last one is gone, and its servers
 *    stop when `cluster` is killed with SIGKILL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertOneLine, canConnect, runCli, startCli, type CliProcess } from '../support/cli.js';
import { testPort } from '../support/ports.js';

interface Started {
  cli: CliProcess;
  nodes: { id: string; address: string; pid: number }[];
  leader: string;
}

async function startCluster(dir: string, basePort: number): Promise<Started> {
  const cli = startCli(['cluster', '--nodes', '3', '--dir', dir, '--base-port', String(basePort), '--actors', 'inline']);
  const leaderLine = await cli.waitForLine(/^leader (n\d) (\S+)$/, 30_000);
  // Each server's line ends with its pid (NaN where a cluster does not print it).
  const nodes = [...cli.stdout().matchAll(/^(n\d) (\S+) \S+(?: pid (\d+))?$/gm)].map((match) => ({ id: match[1]!, address: match[2]!, pid: Number(match[3]) }));
  assert.equal(nodes.length, 3, cli.stdout());
  return { cli, nodes, leader: leaderLine[2]! };
}

/** Whether a process is gone (or a zombie nobody has reaped yet: it runs no more code). */
function isGone(pid: number): boolean {
  assert.ok(Number.isInteger(pid), 'cluster printed the server\'s pid');
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('raftline cluster with kv and status', { timeout: 180_000 }, () => {
  const basePort = testPort(19821);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-cli-cluster-'));
  let cluster: Started;
  let follower: { id: string; address: string };

  before(async () => {
    cluster = await startCluster(path.join(dir, 'data'), basePort);
    follower = cluster.nodes.find((node) => node.address !== cluster.leader)!;
  });

  after(async () => {
    if (cluster?.cli.child.exitCode === null) cluster.cli.child.kill('SIGKILL');
    for (const node of cluster?.nodes ?? []) {
      if (Number.isInteger(node.pid) && !isGone(node.pid)) process.kill(node.pid, 'SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('kv with one follower\'s address reaches the leader at once, in either --peers form', async () => {
    const put = await runCli(['kv', 'put', 'greeting', 'hello', '--peers', follower.address]);
    assert.equal(put.code, 0, put.stderr);
    assert.ok(put.ms < 5000, `answered in ${put.ms} ms`);
    const get = await runCli(['kv', 'get', 'greeting', '--peers', `${follower.id}=${follower.address}`]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(JSON.parse(get.stdout), 'hello');
    const all = await runCli(['kv', 'get', 'greeting', '--peers', cluster.nodes.map((node) => `${node.id}=${node.address}`).join(',')]);
    assert.equal(JSON.parse(all.stdout), 'hello');
  });

  test('kv put --value-file FILE and --value-file - (standard input), past what a command line holds', async () => {
    const value = 'v'.repeat(3 * 1024 * 1024);
    const file = path.join(dir, 'value.txt');
    fs.writeFileSync(file, value);
    const put = await runCli(['kv', 'put', 'big', '--value-file', file, '--peers', follower.address], { timeoutMs: 30_000 });
    assert.equal(put.code, 0, put.stderr);
    const get = await runCli(['kv', 'get', 'big', '--peers', follower.address], { timeoutMs: 30_000 });
    assert.equal(get.code, 0, get.stderr);
    assert.equal((JSON.parse(get.stdout) as string).length, value.length);

    const piped = await runCli(['kv', 'put', 'piped', '--value-file', '-', '--peers', follower.address], { input: 'from standard input\n' });
    assert.equal(piped.code, 0, piped.stderr);
    const back = await runCli(['kv', 'get', 'piped', '--peers', follower.address]);
    assert.equal(JSON.parse(back.stdout), 'from standard input\n');

    const both = await runCli(['kv', 'put', 'k', 'v', '--value-file', file, '--peers', follower.address]);
    assert.equal(both.code, 2);
    assert.match(assertOneLine(both.stderr), /a VALUE or --value-file, not both/);
  });

  test('status: 0 when every server answered, 3 when some did not, 1 when none did', async () => {
    const all = await runCli(['status', '--peers', cluster.nodes.map((node) => node.address).join(',')]);
    assert.equal(all.code, 0, all.stderr);
    const records = JSON.parse(all.stdout) as { id: string; role: string }[];
    assert.deepEqual(records.map((record) => record.id), ['n1', 'n2', 'n3']);
    assert.equal(records.filter((record) => record.role === 'leader').length, 1);

    const nobody = `127.0.0.1:${testPort(19839)}`;
    const some = await runCli(['status', '--peers', `${follower.address},${nobody}`]);
    assert.equal(some.code, 3, some.stderr);
    const partial = JSON.parse(some.stdout) as { address: string; id?: string; error?: string }[];
    assert.equal(partial[0]!.id, follower.id);
    assert.equal(partial[1]!.address, nobody);
    assert.equal(typeof partial[1]!.error, 'string');

    const none = await runCli(['status', '--peers', nobody]);
    assert.equal(none.code, 1, none.stderr);
    assert.equal(typeof (JSON.parse(none.stdout) as { error?: string }[])[0]!.error, 'string');
  });

  test('a second cluster on the same data directory is refused at once, with one line', async () => {
    const second = await runCli(['cluster', '--dir', path.join(dir, 'data'), '--base-port', String(testPort(19831)), '--actors', 'inline']);
    assert.equal(second.code, 2, second.stderr);
    assert.match(assertOneLine(second.stderr), /data directory .*n1 is locked by another server \(pid \d+\)/);
    assert.ok(second.ms < 5000, `refused in ${second.ms} ms`);
    assert.equal(second.stdout, '', 'no server was started');
  });

  test('a cluster whose ports overlap another\'s is refused before it starts, naming the port', async () => {
    // Its n2 would take the first cluster's n1 port: the other cluster's server must not be taken for its own.
    const overlapping = await runCli(['cluster', '--dir', path.join(dir, 'other'), '--base-port', String(basePort - 1), '--actors', 'inline']);
    assert.equal(overlapping.code, 2, overlapping.stderr);
    assert.match(assertOneLine(overlapping.stderr), new RegExp(`port ${basePort} for server n2 is not free`));
    assert.ok(overlapping.ms < 5000, `refused in ${overlapping.ms} ms`);
    assert.doesNotMatch(overlapping.stdout, /leader/);
  });

  test('status and kv default --peers to where cluster puts its servers by default', async () => {
    const status = await runCli(['status'], { timeoutMs: 20_000 });
    assert.ok([0, 1, 3].includes(status.code ?? -1), status.stderr);
    assert.deepEqual((JSON.parse(status.stdout) as { address: string }[]).map((record) => record.address),
      ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103']);
    const help = await runCli(['kv', '--help']);
    assert.match(help.stdout.replace(/\s+/g, ' '), /--peers <list> .*\(default: 127\.0\.0\.1:7101,127\.0\.0\.1:7102,127\.0\.0\.1:7103\)/);
  });

  test('SIGKILL of cluster: its servers exit too', async () => {
    cluster.cli.child.kill('SIGKILL');
    await cluster.cli.exited;
    await waitUntil(() => cluster.nodes.every((node) => isGone(node.pid)), 15_000, 'every server exited');
    for (const node of cluster.nodes) {
      assert.equal(await canConnect(Number(node.address.split(':')[1])), false, `${node.address} is closed`);
    }
  });
});

test('cluster notices its servers dying, and stops with exit code 1 when none is left', { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-cli-supervise-'));
  let cluster: Started | null = null;
  try {
    cluster = await startCluster(dir, testPort(19841));
    const [first, ...rest] = cluster.nodes;
    process.kill(first!.pid, 'SIGKILL');
    await waitUntil(() => /server n\d \(\S+\) exited on SIGKILL; 2 of 3 servers running/.test(cluster!.cli.stderr()), 10_000, 'the first death reported');
    assert.equal(cluster.cli.child.exitCode, null, 'cluster keeps running while servers are left');
    for (const node of rest) process.kill(node.pid, 'SIGKILL');
    const exit = await Promise.race([cluster.cli.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 15_000))]);
    assert.deepEqual(exit, { code: 1, signal: null }, cluster.cli.stderr());
    assert.match(cluster.cli.stderr(), /every server has exited; stopping/);
  } finally {
    if (cluster?.cli.child.exitCode === null) cluster.cli.child.kill('SIGKILL');
    for (const node of cluster?.nodes ?? []) {
      if (Number.isInteger(node.pid) && !isGone(node.pid)) process.kill(node.pid, 'SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
