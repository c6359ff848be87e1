/**
 * The snapshot store on real files and on the simulator's virtual disk: writing in bounded steps,
 * recovery that falls back past a damaged snapshot and clears interrupted work (and nothing of the
 * state machine's own), retention, installing from chunks with every refusal, and crashes at every
 * file-system call of a write, an install and a retention, after which recovery finds a whole
 * snapshot, the old one or the new one, never a part of one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SnapshotCorruptionError, SnapshotRejectedError } from '../../src/errors.js';
import { crc32c } from '../../src/log/crc32c.js';
import { nodeFileSystem, type FileSystem } from '../../src/log/file-system.js';
import { SimDisk } from '../../src/sim/sim-disk.js';
import { SimScheduler } from '../../src/sim/scheduler.js';
import {
  encodeManifest, openSnapshotStore, SnapshotStore,
  type SnapshotChunk, type SnapshotManifest, type SnapshotStoreApi, type SnapshotStoreOptions,
} from '../../src/snapshot/snapshot-store.js';
import { withTempDir } from '../support/temp-dir.js';

const VOTERS = { voters: ['n1', 'n2', 'n3'] };

/** Deterministic bytes that differ with `seed`. */
function bytesOf(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let k = 0; k < length; k++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    bytes[k] = x & 0xff;
  }
  return bytes;
}

/** The files of snapshot `seed`: one in several chunks (one empty), one empty, one in one chunk. */
function sourceFiles(seed: number): { name: string; chunks: Uint8Array[] }[] {
  const whole = bytesOf(3000 + seed, seed);
  return [
    { name: 'state.bin', chunks: [whole.subarray(0, 1000), new Uint8Array(0), whole.subarray(1000, 2999), whole.subarray(2999)] },
    { name: 'empty', chunks: [] },
    { name: 'sessions.v1', chunks: [bytesOf(517, seed + 1000)] },
  ];
}

function joined(chunks: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks.map((chunk) => Buffer.from(chunk))));
}

function writeSnapshot(store: SnapshotStore, index: number, term: number, seed = index,
  stepBytes = Number.MAX_SAFE_INTEGER): SnapshotManifest {
  const job = store.beginWrite({ index, term, configuration: VOTERS }, sourceFiles(seed));
  let steps = 0;
  while (!job.step(stepBytes)) assert.ok(++steps < 1_000_000, 'the write job makes progress');
  const latest = store.latest();
  assert.ok(latest !== null);
  return latest;
}

function newStore(dir: string, fileSystem: FileSystem = nodeFileSystem, options: SnapshotStoreOptions = {}): SnapshotStore {
  const store = new SnapshotStore(dir, fileSystem, options);
  store.recover();
  return store;
}

/** Every file of `manifest` as the store reads it back (CRC-checked). */
function contents(store: SnapshotStoreApi, manifest: SnapshotManifest): Map<string, Buffer> {
  const files = store.open(manifest);
  try {
    return new Map(manifest.files.map((file) => [file.name, Buffer.from(files.read(file.name))]));
  } finally {
    files.close();
  }
}

function assertHoldsSource(store: SnapshotStoreApi, manifest: SnapshotManifest, seed: number): void {
  const expected = new Map(sourceFiles(seed).map((file) => [file.name, Buffer.from(joined(file.chunks))]));
  assert.deepEqual(contents(store, manifest), expected);
}

/** The chunks an install of `manifest` takes, read from `source` `bytesMax` at a time. */
function chunksOf(source: SnapshotStoreApi, manifest: SnapshotManifest, bytesMax: number): SnapshotChunk[] {
  const files = source.open(manifest);
  const chunks: SnapshotChunk[] = [];
  manifest.files.forEach((file, position) => {
    for (let offset = 0; offset < file.size; offset += bytesMax) {
      const data = files.readChunk(position, offset, bytesMax);
      chunks.push({ file: position, offset, data, crc32c: crc32c(data) });
    }
  });
  files.close();
  return chunks;
}

function rejectionReason(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof SnapshotRejectedError, `a SnapshotRejectedError, not ${String(error)}`);
    assert.equal(error.code, 'SNAPSHOT_REJECTED');
    return String(error.details['reason']);
  }
  assert.fail('no SnapshotRejectedError was thrown');
}

/** A FileSystem that counts calls and bytes written, and can fail every call from the Nth on (a kill). */
class ProbeFs implements FileSystem {
  calls = 0;
  bytesWritten = 0;
  killAfter = Infinity;
  constructor(private readonly inner: FileSystem) {}
  private tick(): void {
    if (++this.calls > this.killAfter) throw new Error('killed');
  }
  openSync(file: string, flags: string): number { this.tick(); return this.inner.openSync(file, flags); }
  closeSync(fd: number): void { this.tick(); this.inner.closeSync(fd); }
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.tick();
    const written = this.inner.writeSync(fd, buffer, offset, length, position);
    this.bytesWritten += written;
    return written;
  }
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.tick();
    return this.inner.readSync(fd, buffer, offset, length, position);
  }
  fdatasyncSync(fd: number): void { this.tick(); this.inner.fdatasyncSync(fd); }
  fsyncSync(fd: number): void { this.tick(); this.inner.fsyncSync(fd); }
  ftruncateSync(fd: number, length: number): void { this.tick(); this.inner.ftruncateSync(fd, length); }
  readFileSync(file: string): Buffer { this.tick(); return this.inner.readFileSync(file); }
  readdirSync(dir: string): string[] { this.tick(); return this.inner.readdirSync(dir); }
  renameSync(from: string, to: string): void { this.tick(); this.inner.renameSync(from, to); }
  unlinkSync(file: string): void { this.tick(); this.inner.unlinkSync(file); }
  mkdirSync(dir: string, options: { recursive: true }): unknown { this.tick(); return this.inner.mkdirSync(dir, options); }
}

// ---- write and recover ------------------------------------------------------------------------

test('write then recover: the files, their sizes and CRC32C, and the configuration come back', () => {
  withTempDir((dir) => {
    const store = newStore(dir);
    assert.equal(store.latest(), null);
    const written = writeSnapshot(store, 40, 3, 40);
    assert.deepEqual(written.configuration, VOTERS);
    assert.deepEqual(written.files.map((file) => file.name), ['state.bin', 'empty', 'sessions.v1']);
    for (const source of sourceFiles(40)) {
      const info = written.files.find((file) => file.name === source.name)!;
      const bytes = joined(source.chunks);
      assert.equal(info.size, bytes.length, `size of ${source.name}`);
      assert.equal(info.crc32c, crc32c(bytes), `crc of ${source.name}`);
      assert.deepEqual(fs.readFileSync(path.join(dir, `snapshot_40_3_${source.name}`)), Buffer.from(bytes));
    }
    assert.equal(store.bytesOf(written), 3040 + 517);
    // The manifest on disk, and the definition of its CRC.
    const text = fs.readFileSync(path.join(dir, 'snapshot_40_3.manifest'), 'utf8');
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const { crc32c: manifestCrc, ...body } = parsed;
    assert.deepEqual(Object.keys(body), ['format', 'index', 'term', 'configuration', 'files']);
    assert.equal(body['format'], 1);
    assert.equal(manifestCrc, crc32c(Buffer.from(JSON.stringify(body), 'utf8')));
    assert.equal(text, Buffer.from(encodeManifest(written)).toString('utf8'));
    assert.deepEqual(fs.readdirSync(dir).sort(),
      ['snapshot_40_3.manifest', 'snapshot_40_3_empty', 'snapshot_40_3_sessions.v1', 'snapshot_40_3_state.bin']);

    const reopened = openSnapshotStore(dir, nodeFileSystem);
    const recovered = reopened.recover();
    assert.deepEqual(recovered, { latest: written, damaged: [] });
    assert.deepEqual(reopened.latest(), written);
    assertHoldsSource(reopened, written, 40);
  });
});

test('a write in steps of bytesMax writes at most about bytesMax per step and the same files as one big step', () => {
  withTempDir((dir) => {
    const probe = new ProbeFs(nodeFileSystem);
    const stepped = newStore(path.join(dir, 'a'), probe);
    const job = stepped.beginWrite({ index: 9, term: 2, configuration: VOTERS }, sourceFiles(9));
    const total = sourceFiles(9).reduce((sum, file) => sum + joined(file.chunks).length, 0);
    let steps = 0;
    let last = false;
    while (!last) {
      const before = probe.bytesWritten;
      last = job.step(100);
      steps++;
      if (!last) assert.ok(probe.bytesWritten - before <= 100, `step ${steps} wrote ${probe.bytesWritten - before} bytes`);
      assert.ok(last || stepped.latest() === null, 'the snapshot exists only once complete');
    }
    assert.ok(steps >= Math.ceil(total / 100), `${steps} steps for ${total} bytes`);
    assert.equal(job.step(100), true, 'a finished job stays finished');
    const one = newStore(path.join(dir, 'b'));
    const whole = writeSnapshot(one, 9, 2, 9);
    assert.deepEqual(stepped.latest(), whole);
    for (const name of ['snapshot_9_2.manifest', 'snapshot_9_2_state.bin', 'snapshot_9_2_empty', 'snapshot_9_2_sessions.v1']) {
      assert.deepEqual(fs.readFileSync(path.join(dir, 'a', name)), fs.readFileSync(path.join(dir, 'b', name)), name);
    }
  });
});

test('writing the same index and term again completes at once and rewrites nothing', () => {
  withTempDir((dir) => {
    const probe = new ProbeFs(nodeFileSystem);
    const store = newStore(dir, probe);
    const first = writeSnapshot(store, 5, 1, 5);
    const calls = probe.calls;
    const again = store.beginWrite({ index: 5, term: 1, configuration: VOTERS }, sourceFiles(77));
    assert.equal(again.step(1), true);
    assert.equal(probe.calls, calls, 'no file-system call');
    assert.deepEqual(store.latest(), first);
    assertHoldsSource(store, first, 5);
  });
});

test('bad names, duplicate names and bad numbers from the server side are invariant errors', () => {
  withTempDir((dir) => {
    const store = newStore(dir);
    const begin = (files: { name: string; chunks: Uint8Array[] }[], index = 1): unknown =>
      store.beginWrite({ index, term: 1, configuration: VOTERS }, files);
    for (const name of ['../x', 'a/b', '..', '.', '', 'x'.repeat(65), 'a b']) {
      assert.throws(() => begin([{ name, chunks: [] }]), /invariant broken/, JSON.stringify(name));
    }
    assert.throws(() => begin([{ name: 'a', chunks: [] }, { name: 'a', chunks: [] }]), /twice/);
    assert.throws(() => begin([], 0), /positive safe integers/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test('an abandoned write removes its files and leaves no snapshot', () => {
  withTempDir((dir) => {
    const store = newStore(dir);
    const job = store.beginWrite({ index: 3, term: 1, configuration: VOTERS }, sourceFiles(3));
    job.step(1500);
    assert.ok(fs.readdirSync(dir).length > 0);
    job.abandon();
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal(store.latest(), null);
  });
});

// ---- retention ----------------------------------------------------------------------------------

test('retain keeps the newest N snapshots and nothing of the older ones; a user file stays', () => {
  withTempDir((dir) => {
    fs.writeFileSync(path.join(dir, 'user-state.bin'), 'mine');
    const store = newStore(dir);
    for (const [index, term] of [[10, 1], [20, 1], [20, 2], [35, 2]] as const) writeSnapshot(store, index, term, index + term);
    store.retain(2);
    const names = fs.readdirSync(dir).sort();
    assert.ok(names.includes('user-state.bin'));
    const ids = names.filter((name) => name.startsWith('snapshot_')).map((name) => /^snapshot_(\d+_\d+)/.exec(name)![1]);
    assert.deepEqual([...new Set(ids)].sort(), ['20_2', '35_2']);
    assert.equal(names.length, 1 + 2 * 4);
    assert.equal(store.latest()!.index, 35);
    const reopened = new SnapshotStore(dir);
    assert.equal(reopened.recover().latest!.index, 35);
    reopened.retain(1);
    assert.deepEqual(fs.readdirSync(dir).sort(),
      ['snapshot_35_2.manifest', 'snapshot_35_2_empty', 'snapshot_35_2_sessions.v1', 'snapshot_35_2_state.bin', 'user-state.bin']);
    assert.throws(() => reopened.retain(0), /invariant broken/);
  });
});

// ---- damage -------------------------------------------------------------------------------------

const damages: { what: string; file: string; reason: string; damage: (file: string) => void }[] = [
  {
    what: 'a flipped byte in a data file', file: 'snapshot_20_2_state.bin', reason: 'crc',
    damage: (file) => { const bytes = fs.readFileSync(file); bytes[2500]! ^= 0x10; fs.writeFileSync(file, bytes); },
  },
  { what: 'a truncated data file', file: 'snapshot_20_2_sessions.v1', reason: 'size', damage: (file) => fs.truncateSync(file, 100) },
  { what: 'a data file that grew', file: 'snapshot_20_2_empty', reason: 'size', damage: (file) => fs.writeFileSync(file, 'x') },
  { what: 'a missing data file', file: 'snapshot_20_2_sessions.v1', reason: 'missing', damage: (file) => fs.unlinkSync(file) },
  {
    what: 'a manifest that is not JSON', file: 'snapshot_20_2.manifest', reason: 'manifest',
    damage: (file) => fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 40)),
  },
  {
    what: 'a manifest whose CRC does not match', file: 'snapshot_20_2.manifest', reason: 'manifest',
    damage: (file) => fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"n3"', '"n4"')),
  },
  {
    what: 'a manifest naming another snapshot', file: 'snapshot_20_2.manifest', reason: 'manifest',
    damage: (file) => fs.copyFileSync(path.join(path.dirname(file), 'snapshot_10_1.manifest'), file),
  },
];

for (const { what, file, reason, damage } of damages) {
  test(`recover with ${what} in the newest snapshot falls back to the previous one and reports the file`, () => {
    withTempDir((dir) => {
      const store = newStore(dir);
      const older = writeSnapshot(store, 10, 1, 10);
      writeSnapshot(store, 20, 2, 20);
      const before = fs.readdirSync(dir).sort();
      damage(path.join(dir, file));
      // Small reads, so the CRC check goes through many of them.
      const reopened = new SnapshotStore(dir, nodeFileSystem, { verifyChunkBytes: 64 });
      const recovered = reopened.recover();
      assert.deepEqual(recovered.latest, older);
      assert.deepEqual(recovered.damaged, [{ file: path.join(dir, file), reason }]);
      assert.deepEqual(reopened.latest(), older);
      assertHoldsSource(reopened, older, 10);
      // Left for an operator, never used; retain keeps a damaged snapshot newer than the valid one.
      reopened.retain(1);
      const after = fs.readdirSync(dir).sort();
      assert.deepEqual(after, reason === 'missing' ? before.filter((name) => name !== file) : before);
      // A new snapshot replaces the damaged one as the newest, and the damaged one is then history.
      writeSnapshot(reopened, 30, 2, 30);
      reopened.retain(1);
      assert.deepEqual(fs.readdirSync(dir).filter((name) => !name.startsWith('snapshot_30_2')), []);
    });
  });
}

test('a damaged snapshot older than the newest valid one is reported, then removed by retain', () => {
  withTempDir((dir) => {
    const store = newStore(dir);
    writeSnapshot(store, 10, 1, 10);
    writeSnapshot(store, 20, 1, 20);
    const newest = writeSnapshot(store, 30, 1, 30);
    fs.writeFileSync(path.join(dir, 'snapshot_20_1.manifest'), '{');
    // Only its manifest is checked: damage in an older snapshot's data goes unread.
    const bytes = fs.readFileSync(path.join(dir, 'snapshot_10_1_state.bin'));
    bytes[0]! ^= 1;
    fs.writeFileSync(path.join(dir, 'snapshot_10_1_state.bin'), bytes);
    const reopened = new SnapshotStore(dir);
    assert.deepEqual(reopened.recover(),
      { latest: newest, damaged: [{ file: path.join(dir, 'snapshot_20_1.manifest'), reason: 'manifest' }] });
    reopened.retain(2);
    const names = fs.readdirSync(dir);
    assert.ok(!names.some((name) => name.startsWith('snapshot_20_1')), names.join());
    assert.ok(names.includes('snapshot_10_1.manifest') && names.includes('snapshot_30_1.manifest'));
  });
});

test('reading a damaged file through open() is a SnapshotCorruptionError naming it', () => {
  withTempDir((dir) => {
    const store = newStore(dir);
    const manifest = writeSnapshot(store, 4, 1, 4);
    const file = path.join(dir, 'snapshot_4_1_sessions.v1');
    const bytes = fs.readFileSync(file);
    bytes[7]! ^= 0x80;
    fs.writeFileSync(file, bytes);
    const files = store.open(manifest);
    assert.throws(() => files.read('sessions.v1'), (error: unknown) =>
      error instanceof SnapshotCorruptionError && error.details['file'] === file && error.details['reason'] === 'crc');
    fs.truncateSync(path.join(dir, 'snapshot_4_1_state.bin'), 10);
    assert.throws(() => files.read('state.bin'),
      (error: unknown) => error instanceof SnapshotCorruptionError && error.details['reason'] === 'size');
    files.close();
  });
});

test('an open snapshot stays readable after retain removed it (descriptors opened on first read)', () => {
  withTempDir((dir) => {
    const store = newStore(dir);
    const old = writeSnapshot(store, 4, 1, 4);
    const files = store.open(old);
    const first = Buffer.from(files.readChunk(0, 0, 10));
    writeSnapshot(store, 8, 1, 8);
    store.retain(1);
    assert.ok(!fs.existsSync(path.join(dir, 'snapshot_4_1_state.bin')));
    const rest = Buffer.from(files.readChunk(0, 10, 1 << 20));
    assert.deepEqual(Buffer.concat([first, rest]), Buffer.from(joined(sourceFiles(4)[0]!.chunks)));
    assert.equal(files.readChunk(0, old.files[0]!.size, 100).length, 0, 'nothing past the end');
    files.close();
  });
});

// ---- leftovers ----------------------------------------------------------------------------------

test('recover removes interrupted work and leaves the state machine\'s own files alone', () => {
  withTempDir((dir) => {
    const store = newStore(dir);
    const kept = writeSnapshot(store, 10, 1, 10);
    const leftovers = ['snapshot_12_1.manifest.tmp', 'install_15_2_state.bin', 'install_15_2_empty',
      'snapshot_13_1_state.bin', 'snapshot_13_1_x'];
    const users = ['user-state.bin', 'snapshot-notes.txt', 'install.log', 'snapshot_10_1.manifest.bak', 'snapshot_010_1_x'];
    for (const name of [...leftovers, ...users]) fs.writeFileSync(path.join(dir, name), 'data');
    const reopened = new SnapshotStore(dir);
    assert.deepEqual(reopened.recover(), { latest: kept, damaged: [] });
    const names = fs.readdirSync(dir).sort();
    for (const name of leftovers) assert.ok(!names.includes(name), `${name} removed`);
    for (const name of users) assert.ok(names.includes(name), `${name} kept`);
    assert.equal(names.length, users.length + 4);
  });
});

// ---- install ------------------------------------------------------------------------------------

test('install: chunks in order complete the snapshot, and finish makes it equal to the source', () => {
  withTempDir((dir) => {
    const source = newStore(path.join(dir, 'leader'));
    const manifest = writeSnapshot(source, 50, 4, 50);
    const target = newStore(path.join(dir, 'follower'));
    writeSnapshot(target, 30, 3, 30);
    const job = target.beginInstall(manifest);
    assert.deepEqual(job.expected(), { file: 0, offset: 0 });
    const chunks = chunksOf(source, manifest, 700);
    chunks.forEach((chunk, k) => {
      assert.deepEqual(job.expected(), { file: chunk.file, offset: chunk.offset });
      assert.equal(job.accept(chunk), k === chunks.length - 1);
    });
    // The empty file in the middle was skipped over; the end is file === files.length.
    assert.deepEqual(job.expected(), { file: 3, offset: 0 });
    assert.equal(target.latest()!.index, 30, 'nothing changes before finish');
    const installed = job.finish();
    assert.deepEqual(installed, manifest);
    assert.deepEqual(target.latest(), manifest);
    assertHoldsSource(target, installed, 50);
    const follower = fs.readdirSync(path.join(dir, 'follower'));
    assert.ok(!follower.some((name) => name.startsWith('install_')), follower.join());
    for (const file of manifest.files) {
      assert.deepEqual(fs.readFileSync(path.join(dir, 'follower', `snapshot_50_4_${file.name}`)),
        fs.readFileSync(path.join(dir, 'leader', `snapshot_50_4_${file.name}`)));
    }
    const reopened = new SnapshotStore(path.join(dir, 'follower'));
    assert.deepEqual(reopened.recover().latest, manifest);
  });
});

test('install: a resent chunk is ignored, and so is the whole snapshot when it is already here', () => {
  withTempDir((dir) => {
    const source = newStore(path.join(dir, 'leader'));
    const manifest = writeSnapshot(source, 50, 4, 50);
    const target = newStore(path.join(dir, 'follower'));
    const job = target.beginInstall(manifest);
    const chunks = chunksOf(source, manifest, 1000);
    job.accept(chunks[0]!);
    job.accept(chunks[1]!);
    const expected = job.expected();
    const file = path.join(dir, 'follower', 'install_50_4_state.bin');
    const size = fs.statSync(file).size;
    assert.equal(job.accept(chunks[0]!), false);
    assert.equal(job.accept({ ...chunks[1]!, data: chunks[1]!.data.subarray(0, 10), crc32c: 0 }), false, 'a shorter resend is ignored too');
    assert.deepEqual(job.expected(), expected);
    assert.equal(fs.statSync(file).size, size);
    for (const chunk of chunks.slice(2)) job.accept(chunk);
    assert.equal(job.accept(chunks[0]!), true, 'a resend after the end answers complete');
    job.finish();
    const again = target.beginInstall(manifest);
    assert.deepEqual(again.expected(), { file: manifest.files.length, offset: 0 });
    assert.equal(again.accept(chunks[0]!), true);
    assert.deepEqual(again.finish(), manifest);
  });
});

test('install: every bad manifest is a SnapshotRejectedError with its reason, and nothing is written', () => {
  withTempDir((dir) => {
    const target = newStore(dir, nodeFileSystem, { installBytesMax: 10_000 });
    const good: SnapshotManifest = {
      index: 7, term: 2, configuration: VOTERS, files: [{ name: 'a', size: 10, crc32c: 5 }, { name: 'b', size: 0, crc32c: 0 }],
    };
    const withFile = (change: Record<string, unknown>): SnapshotManifest =>
      ({ ...good, files: [{ ...good.files[0]!, ...change } as SnapshotManifest['files'][number], good.files[1]!] });
    const cases: [string, unknown, string][] = [
      ['index 0', { ...good, index: 0 }, 'manifest'],
      ['negative index', { ...good, index: -3 }, 'manifest'],
      ['fractional index', { ...good, index: 1.5 }, 'manifest'],
      ['index past 2^53', { ...good, index: 2 ** 53 }, 'manifest'],
      ['index as a string', { ...good, index: '7' }, 'manifest'],
      ['NaN term', { ...good, term: Number.NaN }, 'manifest'],
      ['term 0', { ...good, term: 0 }, 'manifest'],
      ['voters not an array', { ...good, configuration: { voters: 'n1' } }, 'manifest'],
      ['a voter not a string', { ...good, configuration: { voters: ['n1', 2] } }, 'manifest'],
      ['no configuration', { ...good, configuration: null }, 'manifest'],
      ['files not an array', { ...good, files: {} }, 'manifest'],
      ['not an object', null, 'manifest'],
      ['a name with ..', withFile({ name: '../escape' }), 'path'],
      ['the name ..', withFile({ name: '..' }), 'path'],
      ['the name .', withFile({ name: '.' }), 'path'],
      ['a name with a slash', withFile({ name: 'a/b' }), 'path'],
      ['an absolute path', withFile({ name: '/etc/passwd' }), 'path'],
      ['a backslash', withFile({ name: 'a\\b' }), 'path'],
      ['an empty name', withFile({ name: '' }), 'path'],
      ['a long name', withFile({ name: 'n'.repeat(65) }), 'path'],
      ['a name that is not a string', withFile({ name: 3 }), 'path'],
      ['too many files', { ...good, files: Array.from({ length: 1025 }, (_, k) => ({ name: `f${k}`, size: 0, crc32c: 0 })) }, 'files'],
      ['a negative size', withFile({ size: -1 }), 'size'],
      ['a fractional size', withFile({ size: 2.5 }), 'size'],
      ['a size that is not a number', withFile({ size: '10' }), 'size'],
      ['a total over the limit', { ...good, files: [{ name: 'a', size: 6000, crc32c: 0 }, { name: 'b', size: 6000, crc32c: 0 }] }, 'size'],
      ['a negative crc', withFile({ crc32c: -1 }), 'manifest'],
      ['a crc past u32', withFile({ crc32c: 2 ** 32 }), 'manifest'],
      ['a fractional crc', withFile({ crc32c: 0.5 }), 'manifest'],
      ['a duplicate name', { ...good, files: [good.files[0]!, { ...good.files[1]!, name: 'a' }] }, 'duplicate'],
    ];
    for (const [what, manifest, reason] of cases) {
      assert.equal(rejectionReason(() => target.beginInstall(manifest as SnapshotManifest)), reason, what);
    }
    assert.deepEqual(fs.readdirSync(dir), []);
    // The limit's edge is allowed, and exactly 1024 files are.
    target.beginInstall({ ...good, files: [{ name: 'a', size: 10_000, crc32c: 0 }] }).abandon();
    target.beginInstall({ ...good, files: Array.from({ length: 1024 }, (_, k) => ({ name: `f${k}`, size: 0, crc32c: 0 })) }).abandon();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test('install: a bad chunk (crc, order, size) is refused with its reason and writes nothing', () => {
  withTempDir((dir) => {
    const data = bytesOf(300, 1);
    const manifest: SnapshotManifest = {
      index: 7, term: 2, configuration: VOTERS,
      files: [
        { name: 'a', size: 200, crc32c: crc32c(data.subarray(0, 200)) },
        { name: 'b', size: 100, crc32c: crc32c(data.subarray(200)) },
      ],
    };
    const target = newStore(dir);
    const job = target.beginInstall(manifest);
    const chunk = (file: number, offset: number, from: number, to: number): SnapshotChunk =>
      ({ file, offset, data: data.subarray(from, to), crc32c: crc32c(data.subarray(from, to)) });
    job.accept(chunk(0, 0, 0, 50));
    const file = path.join(dir, 'install_7_2_a');
    const before = fs.readFileSync(file);
    const refuse = (bad: SnapshotChunk, reason: string): void => {
      let thrown: unknown;
      try {
        job.accept(bad);
      } catch (error) {
        thrown = error;
      }
      assert.ok(thrown instanceof SnapshotRejectedError, `${reason}: ${String(thrown)}`);
      assert.equal(thrown.details['reason'], reason);
      if (reason === 'order') assert.deepEqual([thrown.details['expectedFile'], thrown.details['expectedOffset']], [0, 50]);
      assert.deepEqual(job.expected(), { file: 0, offset: 50 });
      assert.deepEqual(fs.readFileSync(file), before);
      assert.deepEqual(fs.readdirSync(dir), ['install_7_2_a']);
    };
    refuse({ ...chunk(0, 50, 50, 100), crc32c: chunk(0, 50, 50, 100).crc32c ^ 1 }, 'crc');
    refuse({ ...chunk(0, 50, 50, 100), data: new Uint8Array(50) }, 'crc');
    refuse(chunk(0, 60, 60, 100), 'order');
    refuse(chunk(0, 40, 40, 100), 'order');
    refuse(chunk(1, 0, 200, 250), 'order');
    refuse(chunk(2, 0, 0, 10), 'order');
    refuse(chunk(-1, 0, 0, 10), 'order');
    refuse({ ...chunk(0, 50, 50, 100), offset: 50.5 }, 'order');
    refuse({ ...chunk(0, 50, 50, 100), data: 'abc' as unknown as Uint8Array }, 'order');
    refuse(chunk(0, 50, 50, 250), 'size');
    // The good chunks still go through after every refusal.
    assert.equal(job.accept(chunk(0, 50, 50, 200)), false);
    assert.equal(job.accept(chunk(1, 0, 200, 300)), true);
    assert.deepEqual(job.finish(), manifest);
    assert.deepEqual(contents(target, manifest),
      new Map([['a', Buffer.from(data.subarray(0, 200))], ['b', Buffer.from(data.subarray(200))]]));
  });
});

test('install: finish refuses a file whose whole CRC32C differs from the manifest, and removes the install', () => {
  withTempDir((dir) => {
    const data = bytesOf(300, 2);
    const manifest: SnapshotManifest = {
      index: 7, term: 2, configuration: VOTERS,
      files: [
        { name: 'a', size: 200, crc32c: crc32c(data.subarray(0, 200)) },
        { name: 'b', size: 100, crc32c: crc32c(data.subarray(200)) ^ 0xff },
      ],
    };
    const target = newStore(dir);
    fs.writeFileSync(path.join(dir, 'user-state.bin'), 'mine');
    const job = target.beginInstall(manifest);
    job.accept({ file: 0, offset: 0, data: data.subarray(0, 200), crc32c: crc32c(data.subarray(0, 200)) });
    assert.equal(job.accept({ file: 1, offset: 0, data: data.subarray(200), crc32c: crc32c(data.subarray(200)) }), true);
    let thrown: unknown;
    try {
      job.finish();
    } catch (error) {
      thrown = error;
    }
    assert.ok(thrown instanceof SnapshotRejectedError);
    assert.deepEqual([thrown.details['reason'], thrown.details['file']], ['crc', 'b']);
    assert.deepEqual(fs.readdirSync(dir), ['user-state.bin']);
    assert.equal(target.latest(), null);
    // An empty file whose manifest CRC is not 0 is refused the same way.
    const empty = target.beginInstall({ index: 8, term: 2, configuration: VOTERS, files: [{ name: 'z', size: 0, crc32c: 1 }] });
    assert.deepEqual(empty.expected(), { file: 1, offset: 0 });
    assert.equal(rejectionReason(() => empty.finish()), 'crc');
    assert.deepEqual(fs.readdirSync(dir), ['user-state.bin']);
  });
});

test('install: abandon removes the install files; a second install of the same snapshot replaces the first', () => {
  withTempDir((dir) => {
    const source = newStore(path.join(dir, 'leader'));
    const manifest = writeSnapshot(source, 50, 4, 50);
    const target = newStore(path.join(dir, 'follower'));
    const chunks = chunksOf(source, manifest, 1000);
    const first = target.beginInstall(manifest);
    first.accept(chunks[0]!);
    const second = target.beginInstall(manifest);
    assert.deepEqual(second.expected(), { file: 0, offset: 0 });
    assert.throws(() => first.accept(chunks[1]!), /after abandon/);
    for (const chunk of chunks) second.accept(chunk);
    assert.deepEqual(second.finish(), manifest);
    const third = target.beginInstall({ ...manifest, index: 60 });
    third.accept(chunks[0]!);
    third.abandon();
    assert.deepEqual(fs.readdirSync(path.join(dir, 'follower')).filter((name) => !name.startsWith('snapshot_50_4')), []);
  });
});

// ---- crashes on the virtual disk ----------------------------------------------------------------

const SIM_DIR = '/sim/n1/default/current/sm';

/**
 * Runs `setup` on a fresh virtual disk (all of it synced), then `work` with every file-system call
 * from the Nth on failing (the process is killed there), then a power loss, for every N until the
 * work runs through; after each, `check` looks at what a fresh store recovers.
 */
function crashAtEveryCall(setup: (store: SnapshotStore) => void, work: (store: SnapshotStore) => void,
  check: (store: SnapshotStore, recovered: ReturnType<SnapshotStore['recover']>, killedAt: number) => void): number {
  let runs = 0;
  for (let killAfter = 0; ; killAfter++) {
    for (let seed = 1; seed <= 3; seed++) {
      const disk = new SimDisk();
      const probe = new ProbeFs(disk);
      const store = new SnapshotStore(SIM_DIR, probe);
      store.recover();
      setup(store);
      assert.equal(disk.hasUnsynced, false, 'the setup is durable');
      probe.calls = 0;
      probe.killAfter = killAfter;
      let finished = false;
      try {
        work(store);
        finished = true;
      } catch (error) {
        assert.match(String((error as Error).message), /killed/);
      }
      disk.crash(new SimScheduler(killAfter * 31 + seed), seed === 1 ? 0 : 0.3, 0.5);
      const reopened = new SnapshotStore(SIM_DIR, disk);
      check(reopened, reopened.recover(), killAfter);
      runs++;
      if (finished && seed === 3) return runs;
    }
  }
}

test('sim disk: a crash anywhere in a write job leaves the previous snapshot or the new one, whole', () => {
  const seen = new Set<number>();
  const runs = crashAtEveryCall(
    (store) => writeSnapshot(store, 10, 1, 10),
    (store) => writeSnapshot(store, 20, 2, 20, 700),
    (store, recovered, killedAt) => {
      assert.deepEqual(recovered.damaged, [], `killed at call ${killedAt}`);
      const latest = recovered.latest;
      assert.ok(latest !== null && (latest.index === 10 || latest.index === 20), `killed at call ${killedAt}: ${JSON.stringify(latest)}`);
      seen.add(latest.index);
      assertHoldsSource(store, latest, latest.index);
      const names = store.fileSystem.readdirSync(SIM_DIR);
      assert.ok(names.every((name) => name.startsWith(`snapshot_${latest.index}_`) || name.startsWith('snapshot_10_1')), names.join());
    });
  assert.ok(runs > 30, `${runs} crash points`);
  assert.deepEqual([...seen].sort((a, b) => a - b), [10, 20]);
});

test('sim disk: a crash after the new snapshot is complete, before retain, keeps the new snapshot', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const disk = new SimDisk();
    const store = new SnapshotStore(SIM_DIR, disk);
    store.recover();
    writeSnapshot(store, 10, 1, 10);
    const fresh = writeSnapshot(store, 20, 2, 20, 1000);
    disk.crash(new SimScheduler(seed), 1, 1);
    const reopened = new SnapshotStore(SIM_DIR, disk);
    assert.deepEqual(reopened.recover(), { latest: fresh, damaged: [] });
    assertHoldsSource(reopened, fresh, 20);
  }
});

test('sim disk: a crash anywhere in retain leaves the newest snapshot whole and no manifest without its files', () => {
  crashAtEveryCall(
    (store) => {
      writeSnapshot(store, 10, 1, 10);
      writeSnapshot(store, 15, 1, 15);
      writeSnapshot(store, 20, 2, 20);
    },
    (store) => store.retain(1),
    (store, recovered, killedAt) => {
      assert.deepEqual(recovered.damaged, [], `killed at call ${killedAt}`);
      assert.equal(recovered.latest?.index, 20);
      assertHoldsSource(store, recovered.latest!, 20);
      // Older ones whose manifest survived still have every file (recover reads only the newest's).
      for (const name of store.fileSystem.readdirSync(SIM_DIR).filter((file) => file.endsWith('.manifest'))) {
        const manifest = JSON.parse(store.fileSystem.readFileSync(path.join(SIM_DIR, name)).toString('utf8')) as SnapshotManifest;
        assertHoldsSource(store, manifest, manifest.index);
      }
      store.retain(1);
      assert.deepEqual(new SnapshotStore(SIM_DIR, store.fileSystem).recover().damaged, []);
    });
});

test('sim disk: a crash anywhere in an install leaves the previous snapshot or the installed one, whole', () => {
  const leaderDisk = new SimDisk();
  const leader = new SnapshotStore('/leader', leaderDisk);
  leader.recover();
  const manifest = writeSnapshot(leader, 20, 2, 20);
  const chunks = chunksOf(leader, manifest, 800);
  const seen = new Set<number>();
  crashAtEveryCall(
    (store) => writeSnapshot(store, 10, 1, 10),
    (store) => {
      const job = store.beginInstall(manifest);
      for (const chunk of chunks) job.accept(chunk);
      job.finish();
    },
    (store, recovered, killedAt) => {
      assert.deepEqual(recovered.damaged, [], `killed at call ${killedAt}`);
      const latest = recovered.latest;
      assert.ok(latest !== null && (latest.index === 10 || latest.index === 20), `killed at call ${killedAt}`);
      seen.add(latest.index);
      assertHoldsSource(store, latest, latest.index);
      assert.ok(!store.fileSystem.readdirSync(SIM_DIR).some((name) => name.startsWith('install_')));
    });
  assert.deepEqual([...seen].sort((a, b) => a - b), [10, 20]);
});
