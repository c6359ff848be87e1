/**
 * `raftline chaos` as a user runs it: bad flags exit 2 with one line; a short run over the
 * compiled CLI prints its summary, writes the JSON result and keeps the register history in
 * `--history-dir`, one event per line with exactly the fields of the history format, each
 * process's events alternating invoke / completion and no process reused after an info.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testPort } from '../support/ports.js';
import { runCli } from '../support/cli.js';

test('raftline chaos refuses bad flags with one line and exit code 2', async () => {
  for (const args of [['--nodes', '4'], ['--workload', 'bank'], ['--duration', '0']]) {
    const result = await runCli(['chaos', ...args], { timeoutMs: 15_000 });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
});

test('raftline chaos: a short register run prints its summary, writes JSON and keeps its history', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-chaos-cli-'));
  try {
    const historyDir = path.join(dir, 'histories');
    const jsonFile = path.join(dir, 'result.json');
    const result = await runCli(['chaos', '--nodes', '3', '--workload', 'register', '--duration', '8', '--seed', '42',
      '--history-dir', historyDir, '--json', jsonFile, '--actors', 'inline', '--base-port', String(testPort(20500))], { timeoutMs: 110_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^chaos PASS: seed 42, 3 nodes \(inline\), register, 8 s$/m);
    assert.match(result.stdout, /lost writes 0, linearizability violations 0, undecided 0, duplicate applies 0/);
    const summary = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as { ok: boolean; seed: number; faults: number; operations: number; register: { file: string } };
    assert.equal(summary.ok, true);
    assert.equal(summary.seed, 42);
    assert.ok(summary.faults > 0, 'faults were injected');
    const lines = fs.readFileSync(summary.register.file, 'utf8').trim().split('\n');
    assert.ok(path.dirname(summary.register.file) === historyDir);
    assert.ok(lines.length >= 2 * 50, `a history of some length: ${lines.length} events`);
    const open = new Map<number, string>();
    const retired = new Set<number>();
    for (const line of lines) {
      const event = JSON.parse(line) as Record<string, unknown>;
      assert.deepEqual(Object.keys(event), ['process', 'type', 'f', 'key', 'value'], line);
      const process = event['process'] as number;
      assert.ok(Number.isInteger(process) && !retired.has(process), line);
      assert.ok(['put', 'get', 'cas'].includes(event['f'] as string), line);
      if (event['type'] === 'invoke') {
        assert.ok(!open.has(process), `one operation at a time per process: ${line}`);
        open.set(process, event['f'] as string);
        if (event['f'] === 'cas') assert.ok(Array.isArray(event['value']) && (event['value'] as unknown[]).length === 2, line);
        continue;
      }
      assert.equal(open.get(process), event['f'], line);
      open.delete(process);
      assert.ok(['ok', 'fail', 'info'].includes(event['type'] as string), line);
      if (event['type'] === 'info') retired.add(process);
      if (event['type'] === 'ok' && event['f'] === 'cas') assert.equal(typeof event['value'], 'boolean', line);
      if (event['type'] === 'ok' && event['f'] === 'get') assert.ok(event['value'] === null || typeof event['value'] === 'string', line);
    }
    assert.equal(summary.operations, lines.filter((line) => line.includes('"invoke"')).length -
      lines.filter((line) => line.includes('"fail"')).length -
      lines.filter((line) => line.includes('"get"') && line.includes('"info"')).length,
    'every invoke is checked, except failed operations and unknown reads');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
