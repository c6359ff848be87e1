/**
 * The README's embedding quick-start, run as written (its data folder moved to a temp dir): the
 * first code block users copy must keep working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('the README embedding example runs and prints what it promises', { timeout: 60_000 }, async () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block !== undefined, 'README has a ts block');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-readme-'));
  // Inside the package folder, so that `import ... from 'raftline'` resolves to this package.
  const script = path.join(root, 'dist', `readme-example-${process.pid}.mjs`);
  fs.writeFileSync(script, block.replaceAll('./data/', `${dataDir}/`));
  try {
    const output = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [script], { timeout: 50_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    assert.deepEqual(output.trim().split('\n'), ['hello', 'true']);
    assert.ok(fs.readdirSync(path.join(dataDir, 'n1', 'default', 'current')).some((name) => name.startsWith('log_')),
      'the servers wrote their logs where the example said');
  } finally {
    fs.rmSync(script, { force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
