/**
 * Which part of the code may import which, checked on the sources: the benchmark's modules
 * (bench/) sit below the CLI (src/cli/bench.ts runs them), so nothing under bench/ imports the
 * CLI, and no library module outside src/cli imports bench/. A cycle between the two made the
 * benchmark impossible to read without the command that runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => path.join(dir, name));
}

/** Every module a source file imports (static, re-exported or dynamic), as a path from the root. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((match) => match[1]!);
  return specifiers.map((specifier) => path.normalize(path.join(path.dirname(file), specifier)));
}

test('nothing under bench/ imports the CLI (src/cli)', () => {
  const offenders = sources('bench').flatMap((file) =>
    importsOf(file).filter((target) => target.startsWith(`src${path.sep}cli${path.sep}`)).map((target) => `${file} -> ${target}`));
  assert.ok(sources('bench').length > 10, 'the bench sources were found');
  assert.deepEqual(offenders, []);
});

test('only the CLI imports bench/ among the library modules', () => {
  const offenders = sources('src')
    .filter((file) => !file.startsWith(`src${path.sep}cli${path.sep}`))
    .flatMap((file) => importsOf(file).filter((target) => target.startsWith(`bench${path.sep}`)).map((target) => `${file} -> ${target}`));
  assert.deepEqual(offenders, []);
});
