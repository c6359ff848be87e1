/**
 * The `raftline` command as a user runs it: the compiled CLI in child processes, real servers on
 * loopback. A bad flag or an invalid configuration is one line on stderr and exit code 2; a data
 * directory held by a running server is refused; a single-server group takes kv writes and
 * linearizable reads and reports its status as JSON; SIGTERM stops a server with exit code 0.
 */
import { test } from 'node:test';
import { leaderStageNames } from '../../src/metrics/types.js';
import { testPort } from '../support/ports.js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertOneLine, runCli, startServer, stopCli, waitListening } from '../support/cli.js';

test('an unknown flag: exit code 2 and one line on stderr', { timeout: 20_000 }, async () => {
  const top = await runCli(['--no-such-flag']);
  assert.equal(top.code, 2, top.stderr);
  assert.match(assertOneLine(top.stderr), /no-such-flag/);
  const sub = await runCli(['status', '--peers', `127.0.0.1:${testPort(19399)}`, '--bogus']);
  assert.equal(sub.code, 2, sub.stderr);
  assert.match(assertOneLine(sub.stderr), /bogus/);
});

test('server with duplicate ids or without its own id in --peers: exit code 2, one line naming the problem', { timeout: 20_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-cli-config-'));
  try {
    const duplicate = await runCli(['server', '--actors', 'inline', '--id', 'n1', '--peers', `n1=127.0.0.1:${testPort(19311)},n1=127.0.0.1:${testPort(19312)}`, '--dir', path.join(dir, 'a')]);
    assert.equal(duplicate.code, 2, duplicate.stderr);
    assert.match(assertOneLine(duplicate.stderr), /n1 appears twice/);
    const missing = await runCli(['server', '--actors', 'inline', '--id', 'n3', '--peers', `n1=127.0.0.1:${testPort(19313)},n2=127.0.0.1:${testPort(19314)}`, '--dir', path.join(dir, 'b')]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(assertOneLine(missing.stderr), /n3 is missing from peers/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('server on a data directory locked by a running server: exit code 2, says locked; SIGTERM stops the first with 0', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-cli-lock-'));
  const port = testPort(19321);
  const first = startServer(['--id', 'n1', '--peers', `n1=127.0.0.1:${port}`, '--dir', dir]);
  try {
    await waitListening(port, first);
    const second = await runCli(['server', '--actors', 'inline', '--id', 'n1', '--peers', `n1=127.0.0.1:${testPort(19322)}`, '--dir', dir]);
    assert.equal(second.code, 2, second.stderr);
    assert.match(assertOneLine(second.stderr), /locked/);
    assert.equal(first.child.exitCode, null, 'the first server is still running');
    const exit = await stopCli(first);
    assert.deepEqual(exit, { code: 0, signal: null }, first.stderr());
  } finally {
    await stopCli(first);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a single-server group: kv put and get, status as JSON, SIGTERM exits 0', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-cli-single-'));
  const port = testPort(19331);
  const address = `127.0.0.1:${port}`;
  const server = startServer(['--id', 'n1', '--peers', `n1=${address}`, '--dir', dir]);
  try {
    await waitListening(port, server);
    const put = await runCli(['kv', 'put', 'k', 'v', '--peers', address]);
    assert.equal(put.code, 0, put.stderr);
    const get = await runCli(['kv', 'get', 'k', '--peers', address]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(JSON.parse(get.stdout), 'v');
    const missing = await runCli(['kv', 'get', 'absent', '--peers', address]);
    assert.equal(missing.code, 0, missing.stderr);
    assert.equal(JSON.parse(missing.stdout), null);

    const status = await runCli(['status', '--peers', address]);
    assert.equal(status.code, 0, status.stderr);
    const statuses = JSON.parse(status.stdout) as Record<string, unknown>[];
    assert.equal(statuses.length, 1);
    const [only] = statuses;
    assert.equal(only!['id'], 'n1');
    assert.equal(only!['role'], 'leader');
    assert.equal(only!['address'], address);
    for (const field of ['term', 'commit', 'applied', 'synced'] as const) {
      assert.equal(typeof only![field], 'number', `${field} is a number`);
    }
    assert.ok((only!['term'] as number) >= 1);
    assert.ok((only!['commit'] as number) >= 2, 'the no-op and the put are committed');
    assert.ok((only!['applied'] as number) >= 2);
    assert.ok((only!['synced'] as number) >= 2);

    const exit = await stopCli(server);
    assert.deepEqual(exit, { code: 0, signal: null }, server.stderr());
  } finally {
    await stopCli(server);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bench: a short run of a 3-process cluster prints writes/s, latency and the stage table, and writes its JSON', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-cli-bench-'));
  const jsonFile = path.join(dir, 'bench.json');
  try {
    const result = await runCli(['bench', '--nodes', '3', '--outstanding', '8', '--size', '64', '--duration', '2', '--warmup', '1',
      '--base-port', String(testPort(19741)), '--json', jsonFile], { timeoutMs: 50_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /writes\/s\s+\d+/);
    for (const stage of leaderStageNames) {
      assert.match(result.stdout, new RegExp(`^  ${stage} +\\d`, 'm'), `stage ${stage} in the table`);
    }
    const json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as {
      writesPerSecond: number; measuredS: number; acknowledged: number; failed: number; latencyMs: { p50: number; p99: number };
      stages: { rows: { name: string }[]; total: { count: number } };
    };
    assert.ok(json.acknowledged > 0, 'writes were acknowledged');
    assert.equal(json.failed, 0);
    assert.ok(json.writesPerSecond > 0);
    assert.ok(json.latencyMs.p50 > 0 && json.latencyMs.p99 >= json.latencyMs.p50);
    // The servers' histograms start over when the warm-up ends: the stages count the measured
    // writes (give or take the ones in flight at either edge), not the warm-up's.
    const measured = json.writesPerSecond * json.measuredS;
    assert.ok(json.stages.total.count >= measured * 0.5 && json.stages.total.count <= json.acknowledged + 8,
      `stage count ${json.stages.total.count}, measured writes ${measured}, acknowledged ${json.acknowledged}`);

    // The same with profiling off in the servers: no stage recorded, no table.
    const off = await runCli(['bench', '--nodes', '3', '--outstanding', '8', '--size', '64', '--duration', '1', '--warmup', '0',
      '--base-port', String(testPort(19741)), '--profiling', 'off', '--json', jsonFile], { timeoutMs: 50_000 });
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /profiling off/);
    assert.doesNotMatch(off.stdout, /^ {2}logSync /m);
    const offJson = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as {
      acknowledged: number; configuration: { profiling: boolean }; stages: { total: { count: number } | null } | null;
    };
    assert.ok(offJson.acknowledged > 0);
    assert.equal(offJson.configuration.profiling, false);
    assert.equal(offJson.stages?.total?.count ?? 0, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bench refuses bad settings before starting anything: exit code 2 and one line', { timeout: 30_000 }, async () => {
  for (const args of [
    ['--nodes', '4'],
    ['--reads', '1.5'],
    ['--outstanding', '0'],
    ['--peers', '127.0.0.1:1', '--unsafe-no-fsync'],
    ['--peers', '127.0.0.1:1', '--snapshot-every', '1000'],
    ['--snapshot-every', '-1'],
  ]) {
    const result = await runCli(['bench', ...args, '--base-port', String(testPort(19781))]);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
  }
});
