/**
 * The documents agree with the code and with each other: docs/limits.md lists every limit with
 * the default the code has, and every relative link in the README and docs/ reaches a file that
 * exists, at a heading that exists (GitHub's anchor rule: lower case, punctuation dropped, spaces
 * to hyphens).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLimits } from '../../src/limits.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

/** '4 MiB' → 4194304, '65,536' → 65536. */
function valueOf(text: string): number {
  const match = /^([\d,]+)( MiB)?$/.exec(text.trim());
  assert.ok(match !== null, `a documented default: '${text}'`);
  return Number(match[1]!.replaceAll(',', '')) * (match[2] === undefined ? 1 : 1024 * 1024);
}

test('docs/limits.md lists every limit with the default the code has', () => {
  const documented = new Map<string, number>();
  for (const [, names, values] of read('docs/limits.md').matchAll(/^\| (`\w+`(?: \/ `\w+`)*) \| ([^|]+) \|/gm)) {
    const nameList = names!.split(' / ').map((name) => name.slice(1, -1));
    const valueList = values!.split(' / ');
    assert.equal(nameList.length, valueList.length, names);
    nameList.forEach((name, i) => documented.set(name, valueOf(valueList[i]!)));
  }
  assert.deepEqual([...documented.keys()].sort(), Object.keys(defaultLimits).sort());
  for (const [name, value] of documented) assert.equal(value, defaultLimits[name as keyof typeof defaultLimits], name);
});

function anchorsOf(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((match) =>
    match[1]!.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replaceAll(' ', '-')));
}

test('every relative link in the README and docs/ reaches an existing file and heading', () => {
  const files = ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
  let links = 0;
  for (const file of files) {
    const text = read(file);
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      links += 1;
      const [relative, anchor] = target!.split('#');
      const targetFile = relative === '' ? file : path.normalize(path.join(path.dirname(file), relative!));
      assert.ok(fs.existsSync(path.join(root, targetFile)), `${file}: ${target} (no ${targetFile})`);
      if (anchor !== undefined) assert.ok(anchorsOf(read(targetFile)).has(anchor), `${file}: ${target} (no heading #${anchor} in ${targetFile})`);
    }
  }
  assert.ok(links >= 10, `the documents link to each other (${links} links)`);
});
