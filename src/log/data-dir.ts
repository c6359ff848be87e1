/**
 * A data directory checked and made before a server (or `raftline cluster`) uses it, so that a
 * path that cannot be one fails with a ConfigurationError that names the problem: a file where a
 * directory should be, a parent that does not let us create it, a folder we cannot write.
 *
 * Missing directories are created one level at a time from the nearest one that exists, never
 * with Node's recursive mkdir: under a pseudo file system such as /proc, `mkdir` answers ENOENT for
 * a path whose parent exists, and the recursive form then retries that parent forever.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigurationError } from '../errors.js';

function errnoOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/** Checks `dir` and creates it (with its missing parents); throws ConfigurationError. */
export function prepareDataDir(dir: string): void {
  const target = path.resolve(dir);
  const missing: string[] = [];
  let existing = target;
  for (;;) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(existing);
    } catch (error) {
      const code = errnoOf(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw new ConfigurationError(`data directory ${dir} cannot be checked: ${code} on ${existing}`, { dir, errno: code });
      }
      missing.push(existing);
      const parent = path.dirname(existing);
      if (parent === existing) throw new ConfigurationError(`data directory ${dir} has no existing parent`, { dir });
      existing = parent;
      continue;
    }
    if (!stat.isDirectory()) {
      throw new ConfigurationError(existing === target
        ? `data directory ${dir} is a file, not a directory`
        : `data directory ${dir} cannot be created: ${existing} is a file, not a directory`, { dir, file: existing });
    }
    break;
  }
  for (const folder of missing.reverse()) {
    try {
      fs.mkdirSync(folder);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'EEXIST' && fs.statSync(folder).isDirectory()) continue;
      throw new ConfigurationError(`data directory ${dir} cannot be created: ${code} creating ${folder}`, { dir, errno: code });
    }
  }
  try {
    fs.accessSync(target, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    throw new ConfigurationError(`data directory ${dir} is not writable: ${errnoOf(error)}`, { dir, errno: errnoOf(error) });
  }
}
