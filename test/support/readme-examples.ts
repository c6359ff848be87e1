/**
 * The README's code examples, as the tests run them: the embedding quick-start (the first `ts`
 * block) and the TypeScript files of the state machine example (blocks whose first line is a
 * `// <name>.ts:` comment), with their ports moved to test ports and their data folder to a
 * temporary one, so that checkouts running their suites side by side do not meet.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testPort } from './ports.js';

export const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

export function readme(): string {
  return fs.readFileSync(path.join(repositoryRoot, 'README.md'), 'utf8');
}

export function tsBlocks(text = readme()): string[] {
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** The embedding example: the README's first `ts` block. */
export function embeddingExample(text = readme()): string {
  const block = tsBlocks(text)[0];
  if (block === undefined) throw new Error('the README has no ts block');
  return block;
}

/** The blocks that are whole files, by name (`// ledger.ts: ...` as their first line). */
export function exampleFiles(text = readme()): Map<string, string> {
  const files = new Map<string, string>();
  for (const block of tsBlocks(text)) {
    const name = /^\/\/ ([\w-]+\.ts):/.exec(block)?.[1];
    if (name !== undefined) files.set(name, block);
  }
  return files;
}

/**
 * An example with its loopback ports 7101-7103 and 7201 moved to test ports from `basePort`
 * (7101 → basePort, 7102 → basePort + 1, ..., 7201 → basePort + 10) and `./data/` to `dataDir`.
 */
export function forTest(code: string, basePort: number, dataDir: string): string {
  return code
    .replace(/127\.0\.0\.1:7(1|2)0(\d)/g, (_, hundred: string, unit: string) =>
      `127.0.0.1:${testPort(basePort) + (hundred === '2' ? 10 : 0) + Number(unit) - 1}`)
    .replaceAll('./data/', `${dataDir}/`);
}
