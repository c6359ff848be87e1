/**
 * The lock that keeps two servers from running on one data directory: two processes appending to
 * the same segments would corrupt the log, and two voters sharing one `raft-meta` would break
 * Raft's one-vote-per-term rule. A file `lock` created with O_EXCL holds the owner's pid.
 *
 * A lock left by a process that died without releasing it (kill -9, power loss) is stale: its pid
 * no longer runs, and the next server takes it over. Two servers taking over the same stale lock at
 * the same instant could both succeed; that race needs two operators starting two servers on one
 * directory within microseconds of each other after a crash, and we accept it rather than depend on
 * advisory locks, which Node does not expose.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError } from '../errors.js';
import { prepareDataDir } from './data-dir.js';

export const LOCK_FILE_NAME = 'lock';
/** Attempts to create the lock file; more than two means another server keeps racing us. */
const ACQUIRE_ATTEMPTS_MAX = 3;

export interface DirLock {
  readonly dir: string;
  /** Removes the lock file if it is still ours; calling it again does nothing. */
  release(): void;
}

/** Takes the lock of `dir` (creating the directory if needed), or throws ConfigurationError. */
export function acquireDirLock(dir: string): DirLock {
  // Checked and made one level at a time (data-dir.ts): a file in the way or a place where nothing
  // can be created is a ConfigurationError naming it, for an embedding server as for the CLI.
  prepareDataDir(dir);
  const file = path.join(dir, LOCK_FILE_NAME);
  for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS_MAX; attempt++) {
    if (tryCreateLockFile(dir, file)) return makeLock(dir, file);
    const owner = readOwner(file);
    if (owner !== null && isRunning(owner)) {
      throw new ConfigurationError(`data directory ${dir} is locked by another server (pid ${owner})`, { dir, pid: owner });
    }
    // Stale (its owner is gone) or unreadable (an owner that died between create and write).
    try {
      fs.unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw notWritable(dir, error);
    }
  }
  throw new ConfigurationError(`data directory ${dir} could not be locked: the lock file keeps reappearing`, { dir });
}

/**
 * The pid of a running process (not this one) that holds the lock of `dir`, or null: what
 * `raftline cluster` checks before it starts servers that would each find the directory locked.
 */
export function lockOwner(dir: string): number | null {
  const owner = readOwner(path.join(dir, LOCK_FILE_NAME));
  return owner !== null && owner !== process.pid && isRunning(owner) ? owner : null;
}

/** Creates the lock file holding our pid; false when it already exists. */
function tryCreateLockFile(dir: string, file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw notWritable(dir, error);
  }
  try {
    fs.writeSync(fd, `${process.pid}\n`);
  } catch (error) {
    throw notWritable(dir, error);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

function readOwner(file: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** Whether a process with this pid exists; our own pid counts, so one process cannot lock twice. */
function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user; only ESRCH says it is gone.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function notWritable(dir: string, error: unknown): ConfigurationError {
  return new ConfigurationError(`data directory ${dir} is not writable: ${(error as Error).message}`, { dir });
}

function makeLock(dir: string, file: string): DirLock {
  let held = true;
  return {
    dir,
    release(): void {
      if (!held) return;
      held = false;
      // Remove it only if it still names us: a lock taken over after we were presumed dead is not ours.
      if (readOwner(file) === process.pid) {
        try {
          fs.unlinkSync(file);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
    },
  };
}
