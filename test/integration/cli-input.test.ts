/**
 * What the `raftline` command refuses before it starts anything, run as a user runs it (the
 * compiled CLI in child processes): each refusal is one line on stderr and exit code 2, at once.
 * A mistyped flag is named (even when a required flag is missing too); ports are checked over the
 * whole range a command would use; two servers on one address are refused; a data directory that
 * is a file, sits under a file or cannot be created (under /proc, where Node's recursive mkdir
 * never returns) is named. Also `--version`, and that the help points to documents the package
 * ships rather than to its sources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertOneLine, runCli } from '../support/cli.js';
import { withTempDirAsync } from '../support/temp-dir.js';
import { testPort } from '../support/ports.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const port = testPort(19810);

/** Runs the CLI, expecting a refusal: exit code 2, one line, within a few seconds. Returns the line. */
async function refused(args: string[]): Promise<string> {
  const result = await runCli(args, { timeoutMs: 10_000 });
  assert.equal(result.code, 2, `${args.join(' ')}: exit ${result.code} ${result.signal ?? ''} ${result.stderr}`);
  assert.ok(result.ms < 8000, `${args.join(' ')}: refused at once, not after ${result.ms} ms`);
  return assertOneLine(result.stderr);
}

test('--version prints the package version', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const result = await runCli(['--version']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), version);
});

test('a mistyped flag is named, with a suggestion, even when a required flag is missing', { timeout: 30_000 }, async () => {
  const line = await refused(['server', '--id', 'n1', '--peerz', `n1=127.0.0.1:${port}`, '--dir', '/tmp/unused']);
  assert.match(line, /unknown option '--peerz'/);
  assert.match(line, /--peers/);
  assert.doesNotMatch(line, /required/);
  assert.match(await refused(['server', '--id', 'n1', '--dir', '/tmp/unused']), /required option '--peers/);
  assert.match(await refused(['kv', 'get', 'k', '--peer', `127.0.0.1:${port}`]), /unknown option '--peer'/);
});

test('ports: each flag and the whole range a command uses must lie within 1-65535', { timeout: 60_000 }, async () => {
  assert.match(await refused(['cluster', '--base-port', '70000']), /--base-port must be an integer from 1 to 65535/);
  assert.match(await refused(['cluster', '--base-port', '65534', '--dir', '/tmp/unused']), /65534-65536/);
  assert.match(await refused(['cluster', '--nodes', '5', '--base-port', '65532', '--dir', '/tmp/unused']), /past the last port 65535/);
  assert.match(await refused(['bench', '--base-port', '65534']), /past the last port/);
  // 3 servers and their 6 fault proxies: 9 ports.
  assert.match(await refused(['chaos', '--base-port', '65530']), /65530-65538/);
  assert.match(await refused(['server', '--id', 'n1', '--peers', 'n1=127.0.0.1:70000', '--dir', '/tmp/unused']), /port from 1 to 65535/);
});

test('server --peers with two ids on one address is refused', { timeout: 30_000 }, async () => {
  await withTempDirAsync('raftline-cli-dup-', async (dir) => {
    const line = await refused(['server', '--actors', 'inline', '--id', 'n1',
      '--peers', `n1=127.0.0.1:${port},n2=127.0.0.1:${port},n3=127.0.0.1:${port + 1}`, '--dir', dir]);
    assert.match(line, /peers n1 and n2 have the same address/);
  });
});

test('client --peers: the servers\' form is taken, a malformed or repeated address refused', { timeout: 30_000 }, async () => {
  assert.match(await refused(['kv', 'get', 'k', '--peers', 'n1=127.0.0.1']), /'n1=127.0.0.1' is not host:port or id=host:port/);
  assert.match(await refused(['status', '--peers', `127.0.0.1:${port},n2=127.0.0.1:${port}`]), /appears twice/);
  assert.match(await refused(['kv', 'put', 'k']), /kv put needs a VALUE or --value-file/);
});

test('a data directory that is a file, lies under a file, or cannot be created: one line naming it', { timeout: 60_000 }, async () => {
  await withTempDirAsync('raftline-cli-dir-', async (dir) => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, '');
    const server = (dataDir: string): string[] => ['server', '--actors', 'inline', '--id', 'n1', '--peers', `n1=127.0.0.1:${port}`, '--dir', dataDir];
    assert.match(await refused(server(file)), /data directory .*a-file is a file, not a directory/);
    assert.match(await refused(server(path.join(file, 'data'))), /cannot be created: .*a-file is a file, not a directory/);
    assert.match(await refused(['cluster', '--dir', file, '--base-port', String(port)]), /is a file, not a directory/);
    if (fs.existsSync('/proc/self')) {
      // Node's recursive mkdir loops forever here; the check must answer.
      assert.match(await refused(server('/proc/raftline-test/data')), /cannot be created: ENOENT creating \/proc\/raftline-test/);
      assert.match(await refused(['cluster', '--dir', '/proc/raftline-test', '--base-port', String(port)]), /cannot be created/);
    }
  });
});

test('cluster with a state machine module that does not exist, or is TypeScript, is refused before any server starts', { timeout: 30_000 }, async () => {
  await withTempDirAsync('raftline-cli-sm-', async (dir) => {
    const missing = await refused(['cluster', '--dir', dir, '--base-port', String(port), '--state-machine', './no-such-ledger.js']);
    assert.match(missing, /not found: no file .*no-such-ledger\.js \(a relative path resolves against the working directory/);
    fs.writeFileSync(path.join(dir, 'ledger.ts'), 'export default 1;\n');
    assert.match(await refused(['cluster', '--dir', dir, '--base-port', String(port), '--state-machine', path.join(dir, 'ledger.ts')]), /is TypeScript: compile it/);
    assert.deepEqual(fs.readdirSync(dir), ['ledger.ts'], 'no server folder was made');
  });
});

test('the help names documents the package ships, never a source file', { timeout: 60_000 }, async () => {
  const shipped = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { files: string[] }).files;
  for (const command of [[], ['server'], ['cluster'], ['kv'], ['status'], ['bench'], ['chaos']]) {
    const help = await runCli([...command, '--help']);
    assert.equal(help.code, 0, help.stderr);
    const text = help.stdout.replace(/\s+/g, ' ');
    assert.doesNotMatch(text, /src\/|\.ts\b/, `${command.join(' ')} --help cites a source file`);
    for (const [doc] of text.matchAll(/docs\/[\w-]+\.md/g)) {
      assert.ok(fs.existsSync(path.join(root, doc)), `${doc} exists`);
      assert.ok(shipped.some((entry) => doc === entry || doc.startsWith(`${entry}/`)), `${doc} is in package.json files`);
    }
  }
  const server = await runCli(['server', '--help']);
  assert.match(server.stdout.replace(/\s+/g, ' '), /docs\/limits\.md/);
});
