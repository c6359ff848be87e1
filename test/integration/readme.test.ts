/**
 * The README as a newcomer reads it. Its first screen is the two commands, what raftline is and
 * the embedding example; then how a client calls a state machine of its own, the CLI and the
 * benchmark; the dated figures live in docs/results.md, and the README stays short. The examples
 * run as written (ports and data folder moved for the test): the embedding quick-start, and the
 * TypeScript state machine compiled with a strict configuration and run. The same examples run
 * from the npm package in package.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { embeddingExample, exampleFiles, forTest, readme, repositoryRoot } from '../support/readme-examples.js';

function run(file: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

test('the first screen: the two commands, then what raftline is and the embedding example', () => {
  const text = readme();
  assert.ok(text.startsWith([
    '# raftline',
    '',
    '```sh',
    'npm ci && npm start     # a local 3-node cluster under benchmark load: writes/s, latency and the per-stage latency table',
    'npm ci && npm test      # the tests: unit, Raft-paper claims, simulator seeds, real-process integration, chaos, hostile input',
    '```',
    '',
    'raftline is a Raft replication engine for Node.js',
  ].join('\n')), 'the README opens with the two commands and what raftline is');
  const lines = text.split('\n');
  const embedding = lines.indexOf('## Embedding');
  assert.ok(embedding > 0 && embedding < 30, `the embedding example starts on the first screen (line ${embedding + 1})`);
  const headings = lines.filter((line) => line.startsWith('## '));
  assert.deepEqual(headings.slice(0, 4), ['## Embedding', '## Your own state machine, and calling it', '## CLI', '## Benchmark']);
  assert.ok(lines.length < 350, `the README is ${lines.length} lines`);
});

test('the README shows a client calling its own state machine, and keeps the figures short with a link to the results', () => {
  const text = readme();
  const section = text.slice(text.indexOf('## Your own state machine'), text.indexOf('## CLI'));
  assert.match(section, /client\.send\(/);
  assert.match(section, /client\.sendReadOnly\(/);
  assert.match(section, /new URL\('\.\/ledger\.js', import\.meta\.url\)/);
  assert.match(section, /resolves against the working directory/);
  const benchmark = text.slice(text.indexOf('## Benchmark'), text.indexOf('## What you get'));
  assert.match(benchmark, /\(docs\/results\.md\)/);
  assert.match(benchmark, /fast spell/, 'a figure from a fast spell says so');
  const tables = benchmark.split('\n').filter((line) => /^\| `(raftline|bench)/.test(line));
  assert.ok(tables.length <= 6, `one short table of figures, got ${tables.length} rows`);
  assert.doesNotMatch(text, /^### Figures/m, 'the dated figures moved to docs/results.md');
  const results = fs.readFileSync(path.join(repositoryRoot, 'docs', 'results.md'), 'utf8');
  for (const heading of ['## Method', '## Machine', '## raftline against etcd', '## How to reproduce']) {
    assert.ok(results.includes(`\n${heading}\n`), `docs/results.md has ${heading}`);
  }
});

test('the README embedding example runs and prints what it promises', { timeout: 60_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-readme-'));
  // Inside the package folder, so that `import ... from 'raftline'` resolves to this package.
  const script = path.join(repositoryRoot, 'dist', `readme-example-${process.pid}.mjs`);
  fs.writeFileSync(script, forTest(embeddingExample(), 19851, dataDir));
  try {
    const output = await run(process.execPath, [script], repositoryRoot);
    assert.deepEqual(output.trim().split('\n'), ['hello', 'true']);
    assert.ok(fs.readdirSync(path.join(dataDir, 'n1', 'default', 'current')).some((name) => name.startsWith('log_')),
      'the servers wrote their logs where the example said');
  } finally {
    fs.rmSync(script, { force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the README\'s TypeScript state machine compiles under strict settings and answers send and sendReadOnly', { timeout: 90_000 }, async () => {
  const files = exampleFiles();
  assert.deepEqual([...files.keys()].sort(), ['ledger.ts', 'main.ts']);
  // Inside the package folder again: 'raftline' resolves to this package, types included.
  const app = fs.mkdtempSync(path.join(repositoryRoot, 'dist', 'readme-ts-'));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-readme-ts-'));
  try {
    for (const [name, code] of files) fs.writeFileSync(path.join(app, name), forTest(code, 19851, dataDir));
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: ['node'], rootDir: '.', outDir: 'out' },
      files: ['ledger.ts', 'main.ts'],
    }));
    await run(process.execPath, [path.join(repositoryRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], app);
    const output = await run(process.execPath, [path.join(app, 'out', 'main.js')], os.tmpdir());
    assert.deepEqual(output.trim().split('\n'), ['1', '[ \'alice pays bob 10\' ]']);
  } finally {
    fs.rmSync(app, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
