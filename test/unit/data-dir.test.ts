/**
 * The data directory check (src/log/data-dir.ts) and the lock owner query (src/log/dir-lock.ts):
 * missing folders are made level by level; a file in the way, or a place where nothing can be
 * created, is a ConfigurationError naming it (never a raw errno, never a hang); a lock held by a
 * running process is reported with its pid, a stale one is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigurationError } from '../../src/errors.js';
import { prepareDataDir } from '../../src/log/data-dir.js';
import { LOCK_FILE_NAME, lockOwner } from '../../src/log/dir-lock.js';
import { withTempDir, withTempDirAsync } from '../support/temp-dir.js';
import { RaftServer } from '../../src/server/raft-server.js';

function configurationError(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ConfigurationError, String(error));
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes('\n'));
    return true;
  };
}

test('missing folders are made, an existing one is accepted', () => {
  withTempDir((dir) => {
    const target = path.join(dir, 'a', 'b', 'c');
    prepareDataDir(target);
    assert.ok(fs.statSync(target).isDirectory());
    prepareDataDir(target);
  });
});

test('a file where the directory or a parent should be is named', () => {
  withTempDir((dir) => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, '');
    assert.throws(() => prepareDataDir(file), configurationError(/^data directory .*\/f is a file, not a directory$/));
    assert.throws(() => prepareDataDir(path.join(file, 'x', 'y')), configurationError(/cannot be created: .*\/f is a file, not a directory$/));
  });
});

test('under /proc, where nothing can be created, the error comes at once', { skip: !fs.existsSync('/proc/self') }, () => {
  assert.throws(() => prepareDataDir('/proc/raftline-unit/data'), configurationError(/cannot be created: ENOENT creating \/proc\/raftline-unit$/));
});

test('lockOwner: a running owner is named, a stale or absent lock is not, nor our own', () => {
  withTempDir((dir) => {
    assert.equal(lockOwner(dir), null);
    fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), `${process.ppid}\n`);
    assert.equal(lockOwner(dir), process.ppid);
    const exited = spawnSync(process.execPath, ['-e', '0']);
    fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), `${exited.pid}\n`);
    assert.equal(lockOwner(dir), null);
    fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), `${process.pid}\n`);
    assert.equal(lockOwner(dir), null);
  });
});

test('an embedding server gets the same check: start() refuses a data directory that is a file, naming it', async () => {
  await withTempDirAsync('raftline-', async (dir) => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, '');
    const server = new RaftServer({ id: 'n1', peers: [{ id: 'n1', address: '127.0.0.1:1' }], dir: path.join(file, 'data'), actors: 'inline' });
    await assert.rejects(server.start(), configurationError(/cannot be created: .*\/f is a file, not a directory$/));
    await server.close();
  });
});

