/**
 * The npm package as a user gets it. A copy of the repository's files (what a fresh clone holds:
 * no dist/) is packed with `npm pack`, which must build the code itself; the tarball must hold the
 * built JavaScript, its declarations, the CLI, the LICENSE and the documents the CLI's help
 * names, and no sources or tests. It is installed into an empty app, where the README's embedding
 * example runs, the README's TypeScript state machine and a consumer of the wider API compile
 * under strict settings with library checks on (so the published types, and the peer dependency
 * on @types/node that npm installs with them, are enough), the compiled example runs, and the
 * installed `raftline` command answers `--version` and `--help`.
 *
 * npm resolves the package's dependencies against the registry; with `--prefer-offline` they come
 * from npm's cache when `npm ci` has filled it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { embeddingExample, exampleFiles, forTest, repositoryRoot } from '../support/readme-examples.js';

/** The environment for a nested npm: none of the outer `npm test`'s npm_* variables. */
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));

function run(file: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: timeoutMs, env: npmEnv, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} in ${cwd}: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The files a clone of the repository holds: tracked, or new and not ignored. */
function cloneFiles(): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repositoryRoot, encoding: 'utf8' });
  return listed.split('\0').filter((file) => file.length > 0 && fs.existsSync(path.join(repositoryRoot, file)));
}

const tsc = path.join(repositoryRoot, 'node_modules', 'typescript', 'bin', 'tsc');

const apiConsumer = `import {
  RaftServer, RaftClient, kv, NotLeaderError, ConfigurationError, RaftlineError, errorClasses, defaultLimits, leaderStageNames,
  type RaftServerOptions, type RaftClientOptions, type MetricsSnapshot, type DivisionStatus, type StateMachine, type Limits, type KvClient,
} from 'raftline';

const limits: Partial<Limits> = { frameDeadlineMs: defaultLimits.frameDeadlineMs };
const options: RaftServerOptions = {
  id: 'n1', peers: [{ id: 'n1', address: '127.0.0.1:1' }], dir: '/tmp/x', limits,
  stateMachine: new URL('./ledger.js', import.meta.url), actors: 'inline',
};
const clientOptions: RaftClientOptions = { peers: ['127.0.0.1:1'], requestTimeoutMs: 1000 };
export async function use(): Promise<string[]> {
  const server = new RaftServer(options);
  const client = await RaftClient.connect(clientOptions);
  const store: KvClient = kv(client);
  const status: DivisionStatus = await client.status('127.0.0.1:1');
  const metrics: MetricsSnapshot = await client.metrics();
  const machine: StateMachine = { applyTransaction: () => null, query: () => null };
  try {
    await store.put('k', 'v');
  } catch (error) {
    if (error instanceof NotLeaderError) return [error.leaderAddress ?? '', error.code];
    if (error instanceof ConfigurationError || error instanceof RaftlineError) return [error.message];
  }
  await server.close();
  return [status.role, String(metrics.stages.length), String(Object.keys(errorClasses).length), leaderStageNames[0], typeof machine.query];
}
`;

test('npm pack builds and ships the package; installed in an empty app, the README examples run and a strict TypeScript consumer compiles', { timeout: 240_000 }, async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-package-'));
  try {
    // A fresh clone: the repository's files without dist/, with its installed dependencies.
    const clone = path.join(work, 'clone');
    for (const file of cloneFiles()) {
      fs.mkdirSync(path.dirname(path.join(clone, file)), { recursive: true });
      fs.copyFileSync(path.join(repositoryRoot, file), path.join(clone, file));
    }
    assert.ok(!fs.existsSync(path.join(clone, 'dist')), 'the copy has no build');
    fs.symlinkSync(path.join(repositoryRoot, 'node_modules'), path.join(clone, 'node_modules'), 'dir');

    const packed = JSON.parse(await run('npm', ['pack', '--json', '--pack-destination', work], clone)) as { filename: string; files: { path: string }[] }[];
    const shipped = packed[0]!.files.map((file) => file.path);
    const tarball = path.join(work, packed[0]!.filename);
    for (const file of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/workers/updater-worker.js',
      'dist/bench/load-worker.js', 'LICENSE', 'README.md', 'docs/limits.md', 'docs/results.md', 'package.json']) {
      assert.ok(shipped.includes(file), `the package holds ${file}`);
    }
    assert.deepEqual(shipped.filter((file) => file.startsWith('src/') || file.startsWith('dist/test/') || /(?<!\.d)\.ts$/.test(file)), [],
      'no sources and no tests');
    assert.match(fs.readFileSync(path.join(clone, 'LICENSE'), 'utf8'), /^\s*Apache License\s+Version 2\.0, January 2004/);

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'raftline-consumer', version: '1.0.0', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
    const installed = path.join(app, 'node_modules', 'raftline');
    assert.ok(fs.existsSync(path.join(app, 'node_modules', '@types', 'node', 'package.json')), 'npm installed the peer @types/node');

    // The README's embedding example, from the app.
    const dataDir = path.join(work, 'data');
    fs.writeFileSync(path.join(app, 'embedding.mjs'), forTest(embeddingExample(), 19871, dataDir));
    assert.deepEqual((await run(process.execPath, ['embedding.mjs'], app)).trim().split('\n'), ['hello', 'true']);

    // The README's TypeScript state machine and a wider consumer, strict, with the libraries checked too.
    for (const [name, code] of exampleFiles()) fs.writeFileSync(path.join(app, name), forTest(code, 19871, dataDir));
    fs.writeFileSync(path.join(app, 'api.ts'), apiConsumer);
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false,
        noUnusedLocals: true, noUnusedParameters: true, exactOptionalPropertyTypes: true, outDir: 'out',
      },
      files: ['ledger.ts', 'main.ts', 'api.ts'],
    }));
    await run(process.execPath, [tsc, '-p', app], app);
    assert.deepEqual((await run(process.execPath, [path.join('out', 'main.js')], app)).trim().split('\n'), ['1', '[ \'alice pays bob 10\' ]']);

    // The installed command, and the documents its help names.
    const bin = path.join(app, 'node_modules', '.bin', 'raftline');
    const { version } = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as { version: string };
    assert.equal((await run(bin, ['--version'], app)).trim(), version);
    const help = (await run(bin, ['server', '--help'], app)).replace(/\s+/g, ' ');
    const docs = [...help.matchAll(/docs\/[\w-]+\.md/g)].map((match) => match[0]);
    assert.ok(docs.length > 0 && docs.every((doc) => fs.existsSync(path.join(installed, doc))), `the help's documents are in the package: ${docs.join(', ')}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
