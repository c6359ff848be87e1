/**
 * Temporary folders for tests: made under the system's temp directory with a name that says
 * which test made it, handed to the test's body, and removed afterwards however the body ended.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Runs `body` in a fresh temporary folder and removes it after. */
export function withTempDir<T>(body: (dir: string) => T, prefix = 'raftline-'): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    return body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The same for an asynchronous body: the folder is removed once its promise settles. */
export async function withTempDirAsync<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    return await body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
