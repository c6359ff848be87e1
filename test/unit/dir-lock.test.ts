/**
 * The data-directory lock: one holder at a time, a stale lock (its pid gone, as after kill -9)
 * taken over, a live owner named in the error, and a directory that cannot be created reported as
 * a configuration error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError } from '../../src/errors.js';
import { acquireDirLock, LOCK_FILE_NAME } from '../../src/log/dir-lock.js';
import { withTempDir } from '../support/temp-dir.js';

function lockedBy(dir: string, pid: number): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigurationError, String(error));
    assert.equal(error.message, `data directory ${dir} is locked by another server (pid ${pid})`);
    return true;
  };
}

test('a second acquire fails while the first holds the lock; release lets it through', () => {
  withTempDir((dir) => {
    const lock = acquireDirLock(dir);
    assert.equal(fs.readFileSync(path.join(dir, LOCK_FILE_NAME), 'utf8').trim(), String(process.pid));
    assert.throws(() => acquireDirLock(dir), lockedBy(dir, process.pid));
    lock.release();
    assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE_NAME)));
    lock.release();
    const again = acquireDirLock(dir);
    again.release();
  });
});

test('a lock held by another live process is refused, naming its pid', () => {
  withTempDir((dir) => {
    // Our parent runs for as long as this test does, and is not us.
    fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), `${process.ppid}\n`);
    assert.throws(() => acquireDirLock(dir), lockedBy(dir, process.ppid));
    assert.equal(fs.readFileSync(path.join(dir, LOCK_FILE_NAME), 'utf8').trim(), String(process.ppid));
  });
});

test('a stale lock whose pid has exited is taken over', () => {
  withTempDir((dir) => {
    const child = spawnSync(process.execPath, ['-e', '0']);
    assert.equal(child.status, 0);
    assert.ok(child.pid !== undefined && child.pid > 0);
    fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), `${child.pid}\n`);
    const lock = acquireDirLock(dir);
    assert.equal(fs.readFileSync(path.join(dir, LOCK_FILE_NAME), 'utf8').trim(), String(process.pid));
    assert.throws(() => acquireDirLock(dir), lockedBy(dir, process.pid));
    lock.release();
  });
});

test('an empty lock file (owner died before writing its pid) is taken over', () => {
  withTempDir((dir) => {
    fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), '');
    const lock = acquireDirLock(dir);
    assert.equal(fs.readFileSync(path.join(dir, LOCK_FILE_NAME), 'utf8').trim(), String(process.pid));
    lock.release();
  });
});

test('a directory that cannot be created is a configuration error', () => {
  withTempDir((dir) => {
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, '');
    const target = path.join(blocker, 'data');
    assert.throws(
      () => acquireDirLock(target),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError, String(error));
        assert.match(error.message, /^data directory .*a-file\/data cannot be created: /);
        assert.ok(!error.message.includes('\n'));
        return true;
      },
    );
  });
});
