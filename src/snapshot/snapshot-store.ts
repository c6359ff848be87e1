/**
 * The snapshots of one group on disk (Ratis SnapshotInfo + its storage), in `<groupDir>/sm`, a
 * folder the state machine may use for its own files too: the store touches only the names below.
 *
 * Layout, flat on purpose (no directory to create, sync or remove per snapshot):
 *  - `snapshot_<index>_<term>_<name>`: a data file of the snapshot;
 *  - `snapshot_<index>_<term>.manifest`: what makes the snapshot exist. JSON, `{ format: 1, index,
 *    term, configuration: { voters }, files: [{ name, size, crc32c }], crc32c }`, where the last
 *    `crc32c` is the CRC32C of the UTF-8 bytes of `JSON.stringify` of the same object without that
 *    field, its keys in that order (`manifestBody`). It is written to `<manifest>.tmp`, fsynced
 *    and renamed only once every data file and the directory entries naming them are durable, so a
 *    manifest never points at a file a crash could lose;
 *  - `snapshot_<index>_<term>.manifest.tmp` and `install_<index>_<term>_<name>`: work in progress
 *    (a manifest being written, a snapshot being received from the leader), removed by `recover`.
 *
 * All I/O is synchronous and goes through `FileSystem`, so the same code runs on the simulator's
 * virtual disk, with its crash rules; every call runs inside `onDisk`, so a failed one stops the
 * server as a failed log write does. Jobs are stepped by their caller (the updater writes a few MiB
 * between applies; the follower's installer takes one chunk per message), never on their own.
 */
import * as path from 'node:path';
import { assert, SnapshotCorruptionError, SnapshotRejectedError } from '../errors.js';
import { crc32c } from '../log/crc32c.js';
import { fsyncDirectory, fsyncPath, onDisk, writeFully } from '../log/disk-io.js';
import { nodeFileSystem, type FileSystem } from '../log/file-system.js';
import type { SnapshotConfiguration, SnapshotFileInfo, SnapshotInfo } from '../state-machine.js';

export type SnapshotManifest = SnapshotInfo;

/** A file to write: its name and its bytes as chunks (a point-in-time copy; never changed). */
export interface SnapshotFileSource {
  name: string;
  chunks: readonly Uint8Array[];
}

/** One chunk of a snapshot on the wire (InstallSnapshot). */
export interface SnapshotChunk {
  /** Position of the file in the manifest's `files`. */
  file: number;
  offset: number;
  data: Uint8Array;
  crc32c: number;
}

export interface SnapshotWriteJob {
  /** Writes up to `bytesMax` more bytes (at least one chunk); true once the snapshot is complete and durable. */
  step(bytesMax: number): boolean;
  /** Gives up: removes what was written. */
  abandon(): void;
}

export interface SnapshotInstallJob {
  /** The next chunk the install expects (file index, offset); file === files.length when all arrived. */
  expected(): { file: number; offset: number };
  /** Takes one chunk; throws SnapshotRejectedError (nothing changes) on a bad one. True when every byte arrived. */
  accept(chunk: SnapshotChunk): boolean;
  /** Once every byte arrived: checks each file's CRC32C, syncs, writes the manifest; the snapshot is then the newest. */
  finish(): SnapshotManifest;
  abandon(): void;
}

export interface SnapshotFiles {
  /** A whole file, checked against its CRC32C. */
  read(name: string): Uint8Array;
  /** Up to `bytesMax` bytes of file `file` from `offset`. */
  readChunk(file: number, offset: number, bytesMax: number): Uint8Array;
  close(): void;
}

export interface SnapshotStoreApi {
  recover(): { latest: SnapshotManifest | null; damaged: { file: string; reason: string }[] };
  latest(): SnapshotManifest | null;
  beginWrite(info: Omit<SnapshotInfo, 'files'>, files: readonly SnapshotFileSource[]): SnapshotWriteJob;
  beginInstall(manifest: SnapshotManifest): SnapshotInstallJob;
  /**
   * `checked`: its files' CRC32C were verified already (by recover at this start, or as an install
   * received them), so `read` checks sizes only: a 200 MB snapshot costs half a second of CRC here.
   */
  open(manifest: SnapshotManifest, checked?: boolean): SnapshotFiles;
  retain(keep: number): void;
  bytesOf(manifest: SnapshotManifest): number;
}

export type SnapshotStoreFactory = (dir: string, fs: FileSystem) => SnapshotStoreApi;

// ---- limits and names -----------------------------------------------------------------------

/** Files one snapshot may have: a manifest from the network cannot make a follower open more. */
export const SNAPSHOT_FILES_MAX = 1024;
/** Default bound on the bytes of a snapshot received from a leader (`installBytesMax`). */
export const SNAPSHOT_INSTALL_BYTES_MAX_DEFAULT = 64 * 1024 * 1024 * 1024;
/** Bytes per read when a file's CRC32C is checked: memory stays bounded whatever the file's size. */
export const SNAPSHOT_VERIFY_CHUNK_BYTES_DEFAULT = 1024 * 1024;

export const SNAPSHOT_MANIFEST_FORMAT = 1;

/**
 * Why a snapshot was rejected (`SnapshotRejectedError.details.reason`) or found damaged: stable
 * strings that tests and operators match on.
 *  - `manifest`: a manifest that is not well formed (numbers, voters, fields, its own CRC);
 *  - `files`: more than SNAPSHOT_FILES_MAX files;
 *  - `path`: a file name outside the allowed pattern (a separator, `..`, too long, empty);
 *  - `duplicate`: one name twice;
 *  - `size`: a size that is not a non-negative integer, a total over the limit, a chunk past the
 *    end of its file, or a file on disk whose length differs from its manifest's;
 *  - `order`: a chunk that does not start where the install is;
 *  - `crc`: a chunk or a whole file whose CRC32C differs;
 *  - `missing`: a data file named by a manifest is not there.
 */
export type SnapshotProblem = 'manifest' | 'files' | 'path' | 'duplicate' | 'size' | 'order' | 'crc' | 'missing';

const FILE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Whether `name` may name a snapshot file: 1-64 of [A-Za-z0-9._-], not `.` or `..`. It becomes
 * part of a file name in a flat folder, so nothing in it can reach another folder.
 */
export function isSnapshotFileName(name: unknown): name is string {
  return typeof name === 'string' && FILE_NAME_PATTERN.test(name) && name !== '.' && name !== '..';
}

/** A decimal index or term as the file names spell it: no sign, no leading zeros, a safe integer >= 1. */
const NUMBER = '([1-9][0-9]{0,15})';
const MANIFEST_NAME = new RegExp(`^snapshot_${NUMBER}_${NUMBER}\\.manifest$`);
const MANIFEST_TMP_NAME = new RegExp(`^snapshot_${NUMBER}_${NUMBER}\\.manifest\\.tmp$`);
const DATA_NAME = new RegExp(`^snapshot_${NUMBER}_${NUMBER}_(.+)$`);
const INSTALL_NAME = new RegExp(`^install_${NUMBER}_${NUMBER}_(.+)$`);

function isPositiveSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function isU32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

/** Index and term, as a key: one snapshot per pair. */
interface SnapshotId {
  index: number;
  term: number;
}

function keyOf(id: SnapshotId): string {
  return `${id.index}_${id.term}`;
}

/** Newer first: by index, then by term. */
function newerFirst(a: SnapshotId, b: SnapshotId): number {
  return b.index - a.index || b.term - a.term;
}

function idFromMatch(match: RegExpExecArray): SnapshotId | null {
  const index = Number(match[1]);
  const term = Number(match[2]);
  return Number.isSafeInteger(index) && Number.isSafeInteger(term) ? { index, term } : null;
}

export function manifestName(id: SnapshotId): string {
  return `snapshot_${id.index}_${id.term}.manifest`;
}

export function dataFileName(id: SnapshotId, name: string): string {
  return `snapshot_${id.index}_${id.term}_${name}`;
}

function installFileName(id: SnapshotId, name: string): string {
  return `install_${id.index}_${id.term}_${name}`;
}

/** A deep copy with exactly the manifest's fields, so nothing the caller holds can change ours. */
function copyManifest(manifest: SnapshotManifest): SnapshotManifest {
  return {
    index: manifest.index,
    term: manifest.term,
    configuration: configurationBody(manifest.configuration),
    files: manifest.files.map((file) => ({ name: file.name, size: file.size, crc32c: file.crc32c })),
  };
}

/** A copy of a snapshot's configuration with only the fields it has (so an older manifest's CRC still matches). */
function configurationBody(configuration: SnapshotConfiguration): SnapshotConfiguration {
  return {
    voters: [...configuration.voters],
    ...(configuration.learners === undefined ? {} : { learners: [...configuration.learners] }),
    ...(configuration.outgoing === undefined ? {} : { outgoing: configuration.outgoing === null ? null : [...configuration.outgoing] }),
    ...(configuration.addresses === undefined ? {} : { addresses: { ...configuration.addresses } }),
  };
}

const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** The problem with a manifest's configuration, or null. */
function configurationProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'configuration is not an object';
  const configuration = value as Record<string, unknown>;
  if (!isStrings(configuration['voters'])) return 'configuration.voters is not an array of strings';
  if (configuration['learners'] !== undefined && !isStrings(configuration['learners'])) return 'configuration.learners is not an array of strings';
  const outgoing = configuration['outgoing'];
  if (outgoing !== undefined && outgoing !== null && !isStrings(outgoing)) return 'configuration.outgoing is not null or an array of strings';
  const addresses = configuration['addresses'];
  if (addresses !== undefined && (typeof addresses !== 'object' || addresses === null || Array.isArray(addresses) ||
      !Object.values(addresses).every((address) => typeof address === 'string'))) {
    return 'configuration.addresses is not an object of strings';
  }
  return null;
}

/** The object the manifest's CRC covers, with its keys in a fixed order (JSON.stringify keeps it). */
function manifestBody(manifest: SnapshotManifest): object {
  return {
    format: SNAPSHOT_MANIFEST_FORMAT,
    index: manifest.index,
    term: manifest.term,
    configuration: configurationBody(manifest.configuration),
    files: manifest.files.map((file) => ({ name: file.name, size: file.size, crc32c: file.crc32c })),
  };
}

/** The manifest file's text: the body with its CRC32C as a last field. */
export function encodeManifest(manifest: SnapshotManifest): Uint8Array {
  const body = manifestBody(manifest);
  const crc = crc32c(Buffer.from(JSON.stringify(body), 'utf8'));
  return Buffer.from(JSON.stringify({ ...body, crc32c: crc }), 'utf8');
}

/**
 * The problem with a manifest that comes from outside (the network, or a file read back), or null.
 * Everything is checked on `unknown`: a decoded message has the shape its sender chose.
 */
function manifestProblem(value: unknown, installBytesMax: number): { reason: SnapshotProblem; message: string } | null {
  if (typeof value !== 'object' || value === null) return { reason: 'manifest', message: 'not an object' };
  const manifest = value as Record<string, unknown>;
  for (const field of ['index', 'term']) {
    const value = manifest[field];
    if (!isPositiveSafeInteger(value)) return { reason: 'manifest', message: `${field} ${String(value)} is not a positive safe integer` };
  }
  const configurationIssue = configurationProblem(manifest['configuration']);
  if (configurationIssue !== null) return { reason: 'manifest', message: configurationIssue };
  const files = manifest['files'];
  if (!Array.isArray(files)) return { reason: 'manifest', message: 'files is not an array' };
  if (files.length > SNAPSHOT_FILES_MAX) return { reason: 'files', message: `${files.length} files, at most ${SNAPSHOT_FILES_MAX}` };
  const names = new Set<string>();
  let total = 0;
  for (const [position, entry] of files.entries()) {
    if (typeof entry !== 'object' || entry === null) return { reason: 'manifest', message: `file ${position} is not an object` };
    const file = entry as Record<string, unknown>;
    const name = file['name'];
    if (!isSnapshotFileName(name)) return { reason: 'path', message: `file ${position}: name ${JSON.stringify(name)} is not allowed` };
    if (names.has(name)) return { reason: 'duplicate', message: `file name ${name} appears twice` };
    names.add(name);
    const size = file['size'];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      return { reason: 'size', message: `file ${name}: size ${String(size)} is not a non-negative integer` };
    }
    total += size;
    if (total > installBytesMax) return { reason: 'size', message: `files total more than ${installBytesMax} bytes` };
    if (!isU32(file['crc32c'])) return { reason: 'manifest', message: `file ${name}: crc32c ${String(file['crc32c'])} is not a u32` };
  }
  return null;
}

/** Parses a manifest file's text; null when it is not one this store wrote intact. */
function decodeManifest(bytes: Uint8Array): SnapshotManifest | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return null;
  }
  // The store never writes past its own limits; the install bound does not apply to what is here.
  if (manifestProblem(parsed, Number.MAX_SAFE_INTEGER) !== null) return null;
  const record = parsed as Record<string, unknown>;
  if (record['format'] !== SNAPSHOT_MANIFEST_FORMAT || !isU32(record['crc32c'])) return null;
  const manifest = copyManifest(parsed as SnapshotManifest);
  const crc = crc32c(Buffer.from(JSON.stringify(manifestBody(manifest)), 'utf8'));
  return crc === record['crc32c'] ? manifest : null;
}

function rejected(reason: SnapshotProblem, message: string, details: Record<string, unknown> = {}): SnapshotRejectedError {
  return new SnapshotRejectedError(`snapshot rejected: ${message}`, { reason, ...details });
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

export interface SnapshotStoreOptions {
  /** Bound on the total bytes of a snapshot received from a leader; 64 GiB when not given. */
  installBytesMax?: number;
  /** Bytes per read when a file's CRC32C is checked; 1 MiB when not given (tests use less). */
  verifyChunkBytes?: number;
}

/** A job the store is running for one (index, term); a newer one for the same pair replaces it. */
interface ActiveJob {
  abandon(): void;
}

export class SnapshotStore implements SnapshotStoreApi {
  private readonly installBytesMax: number;
  private readonly verifyChunkBytes: number;
  /** Every snapshot whose manifest is intact, newest first; the first one's files were checked too. */
  private valid: SnapshotManifest[] = [];
  /** Snapshots `recover` found damaged, kept on disk for an operator until `retain` passes them. */
  private damaged: { id: SnapshotId; file: string; reason: string }[] = [];
  private readonly jobs = new Map<string, ActiveJob>();
  private recovered = false;

  constructor(private readonly dir: string, private readonly fs: FileSystem = nodeFileSystem, options: SnapshotStoreOptions = {}) {
    this.installBytesMax = options.installBytesMax ?? SNAPSHOT_INSTALL_BYTES_MAX_DEFAULT;
    this.verifyChunkBytes = Math.max(1, options.verifyChunkBytes ?? SNAPSHOT_VERIFY_CHUNK_BYTES_DEFAULT);
    assert(this.installBytesMax >= 0, 'installBytesMax must not be negative');
  }

  /**
   * At start: removes work a crash interrupted, then finds the newest snapshot whose manifest and
   * files all check out. Only that one has its files read: it is the one the state machine loads,
   * and older ones are kept for retention only, never loaded.
   */
  recover(): { latest: SnapshotManifest | null; damaged: { file: string; reason: string }[] } {
    const dir = this.dir;
    onDisk('create directory', dir, () => this.fs.mkdirSync(dir, { recursive: true }));
    const names = onDisk('list', dir, () => this.fs.readdirSync(dir));
    const manifests = new Map<string, SnapshotId>();
    for (const name of names) {
      const match = MANIFEST_NAME.exec(name);
      const id = match && idFromMatch(match);
      if (id) manifests.set(keyOf(id), id);
    }
    const leftovers = names.filter((name) => {
      if (MANIFEST_TMP_NAME.test(name) || INSTALL_NAME.test(name)) return true;
      const match = DATA_NAME.exec(name);
      const id = match && idFromMatch(match);
      return id !== null && !manifests.has(keyOf(id));
    });
    for (const name of leftovers) this.removeIfPresent(name);
    if (leftovers.length > 0) fsyncDirectory(dir, this.fs);

    this.valid = [];
    this.damaged = [];
    for (const id of [...manifests.values()].sort(newerFirst)) {
      const file = path.join(dir, manifestName(id));
      const manifest = decodeManifest(onDisk('read', file, () => this.fs.readFileSync(file)));
      if (manifest === null || manifest.index !== id.index || manifest.term !== id.term) {
        this.damaged.push({ id, file, reason: 'manifest' });
        continue;
      }
      if (this.valid.length === 0) {
        const problem = this.checkFiles(manifest);
        if (problem !== null) {
          this.damaged.push({ id, ...problem });
          continue;
        }
      }
      this.valid.push(manifest);
    }
    this.recovered = true;
    return { latest: this.latest(), damaged: this.damaged.map(({ file, reason }) => ({ file, reason })) };
  }

  /**
   * For a second user of the same folder (another thread) once `recover` ran there: lists the
   * snapshots by their manifests, removing nothing; those newer than `latestValid` (the one
   * recover chose) are taken as damaged, as recover found them.
   */
  rescan(latestValid: SnapshotInfo | null): void {
    const names = onDisk('list', this.dir, () => this.fs.readdirSync(this.dir));
    const ids: SnapshotId[] = [];
    for (const name of names) {
      const match = MANIFEST_NAME.exec(name);
      const id = match && idFromMatch(match);
      if (id) ids.push(id);
    }
    this.valid = [];
    this.damaged = [];
    for (const id of ids.sort(newerFirst)) {
      const file = path.join(this.dir, manifestName(id));
      const newer = latestValid === null || newerFirst(id, latestValid) < 0;
      const manifest = newer ? null : decodeManifest(onDisk('read', file, () => this.fs.readFileSync(file)));
      if (manifest === null || manifest.index !== id.index || manifest.term !== id.term) this.damaged.push({ id, file, reason: 'manifest' });
      else this.valid.push(manifest);
    }
    this.recovered = true;
  }

  latest(): SnapshotManifest | null {
    const newest = this.valid[0];
    return newest === undefined ? null : copyManifest(newest);
  }

  beginWrite(info: Omit<SnapshotInfo, 'files'>, files: readonly SnapshotFileSource[]): SnapshotWriteJob {
    this.assertRecovered();
    assert(isPositiveSafeInteger(info.index) && isPositiveSafeInteger(info.term),
      `snapshot ${info.index}/${info.term}: index and term must be positive safe integers`);
    const configurationIssue = configurationProblem(info.configuration);
    assert(configurationIssue === null, `snapshot ${configurationIssue ?? ''}`);
    assert(files.length <= SNAPSHOT_FILES_MAX, `snapshot has ${files.length} files, at most ${SNAPSHOT_FILES_MAX}`);
    const names = new Set<string>();
    for (const file of files) {
      assert(isSnapshotFileName(file.name), `snapshot file name ${JSON.stringify(file.name)} is not allowed`);
      assert(!names.has(file.name), `snapshot file name ${file.name} appears twice`);
      names.add(file.name);
    }
    const id: SnapshotId = { index: info.index, term: info.term };
    if (this.findValid(id) !== undefined) return { step: () => true, abandon: () => {} };
    const job = new WriteJob(this, id, configurationBody(info.configuration), files);
    this.startJob(id, job);
    return job;
  }

  beginInstall(manifest: SnapshotManifest): SnapshotInstallJob {
    this.assertRecovered();
    const problem = manifestProblem(manifest, this.installBytesMax);
    if (problem !== null) throw rejected(problem.reason, problem.message);
    const copy = copyManifest(manifest);
    const existing = this.findValid(copy);
    const job = new InstallJob(this, copy, existing ?? null);
    if (existing === undefined) this.startJob(copy, job);
    return job;
  }

  open(manifest: SnapshotManifest, checked = false): SnapshotFiles {
    return new OpenSnapshot(this, copyManifest(manifest), checked);
  }

  /**
   * Keeps the newest `keep` valid snapshots. Manifests go first and are made durable before any of
   * their files is removed: a crash in between leaves data files without a manifest, which
   * `recover` removes, never a manifest naming files that are gone.
   */
  retain(keep: number): void {
    this.assertRecovered();
    assert(Number.isSafeInteger(keep) && keep >= 1, `retain(${keep}): keep at least one snapshot`);
    const newest = this.valid[0];
    const doomed: SnapshotId[] = this.valid.slice(keep).map(({ index, term }) => ({ index, term }));
    if (newest !== undefined) {
      // A damaged snapshot newer than every valid one stays for an operator; older ones are history.
      doomed.push(...this.damaged.filter(({ id }) => newerFirst(newest, id) < 0).map(({ id }) => id));
    }
    const removing = doomed.filter((id) => !this.jobs.has(keyOf(id)));
    if (removing.length === 0) return;
    const keys = new Set(removing.map(keyOf));
    for (const id of removing) this.removeIfPresent(manifestName(id));
    fsyncDirectory(this.dir, this.fs);
    const names = onDisk('list', this.dir, () => this.fs.readdirSync(this.dir));
    for (const name of names) {
      const match = DATA_NAME.exec(name);
      const id = match && idFromMatch(match);
      if (id !== null && keys.has(keyOf(id))) this.removeIfPresent(name);
    }
    fsyncDirectory(this.dir, this.fs);
    this.valid = this.valid.filter((manifest) => !keys.has(keyOf(manifest)));
    this.damaged = this.damaged.filter(({ id }) => !keys.has(keyOf(id)));
  }

  bytesOf(manifest: SnapshotManifest): number {
    return manifest.files.reduce((total, file) => total + file.size, 0);
  }

  // ---- for the jobs and readers (same module) ------------------------------------------------

  /** @internal */
  pathOf(name: string): string {
    return path.join(this.dir, name);
  }

  /** @internal */
  get fileSystem(): FileSystem {
    return this.fs;
  }

  /** @internal Unlinks `name` in the folder; one already gone is fine (abandon after a crash, retain twice). */
  removeIfPresent(name: string): void {
    const file = this.pathOf(name);
    onDisk('unlink', file, () => {
      try {
        this.fs.unlinkSync(file);
      } catch (error) {
        if (errnoOf(error) !== 'ENOENT') throw error;
      }
    });
  }

  /**
   * @internal The last step of a write or an install: the data files are durable under their
   * final names; the directory is synced so that their entries are too, then the manifest is
   * written aside, synced and renamed into place, and the directory synced again. From then on the
   * snapshot exists, and it is the store's newest if nothing newer is.
   */
  publish(manifest: SnapshotManifest, job: ActiveJob): void {
    fsyncDirectory(this.dir, this.fs);
    const target = this.pathOf(manifestName(manifest));
    const temporary = `${target}.tmp`;
    const bytes = encodeManifest(manifest);
    onDisk('write', temporary, () => {
      const fd = this.fs.openSync(temporary, 'w');
      try {
        writeFully(fd, bytes, bytes.length, 0, this.fs);
        this.fs.fsyncSync(fd);
      } finally {
        this.fs.closeSync(fd);
      }
    });
    onDisk('rename', temporary, () => this.fs.renameSync(temporary, target));
    fsyncDirectory(this.dir, this.fs);
    const key = keyOf(manifest);
    this.damaged = this.damaged.filter(({ id }) => keyOf(id) !== key);
    this.valid = [...this.valid.filter((known) => keyOf(known) !== key), copyManifest(manifest)].sort(newerFirst);
    this.endJob(manifest, job);
  }

  /** @internal Forgets `job` if it is still the one running for `id`. */
  endJob(id: SnapshotId, job: ActiveJob): void {
    if (this.jobs.get(keyOf(id)) === job) this.jobs.delete(keyOf(id));
  }

  /** @internal Whether `job` still owns the files of `id` (a newer job for the pair takes them). */
  owns(id: SnapshotId, job: ActiveJob): boolean {
    return this.jobs.get(keyOf(id)) === job;
  }

  /** @internal */
  findValid(id: SnapshotId): SnapshotManifest | undefined {
    const found = this.valid.find((manifest) => manifest.index === id.index && manifest.term === id.term);
    return found === undefined ? undefined : copyManifest(found);
  }

  // ---- private --------------------------------------------------------------------------------

  /** Two jobs on the same file names would write over each other: the newer one wins. */
  private startJob(id: SnapshotId, job: ActiveJob): void {
    const previous = this.jobs.get(keyOf(id));
    previous?.abandon();
    this.jobs.set(keyOf(id), job);
  }

  private assertRecovered(): void {
    assert(this.recovered, 'the snapshot store is used before recover()');
  }

  /** The first file of `manifest` that is missing, of the wrong length or of the wrong CRC32C. */
  private checkFiles(manifest: SnapshotManifest): { file: string; reason: SnapshotProblem } | null {
    const buffer = Buffer.allocUnsafeSlow(Math.min(this.verifyChunkBytes, Math.max(1, this.bytesOf(manifest))));
    for (const info of manifest.files) {
      const file = this.pathOf(dataFileName(manifest, info.name));
      const reason = onDisk('read', file, (): SnapshotProblem | null => {
        let fd: number;
        try {
          fd = this.fs.openSync(file, 'r');
        } catch (error) {
          if (errnoOf(error) === 'ENOENT') return 'missing';
          throw error;
        }
        try {
          const scanned = scanFile(this.fs, fd, info.size, buffer);
          if (scanned.size !== info.size) return 'size';
          return scanned.crc === info.crc32c ? null : 'crc';
        } finally {
          this.fs.closeSync(fd);
        }
      });
      if (reason !== null) return { file, reason };
    }
    return null;
  }
}

/**
 * Reads the file behind `fd` up to `size` bytes and one more (to see whether it is longer), in
 * `buffer`-sized reads; returns the length it found (size + 1 when longer) and the CRC32C of
 * the first `size` bytes.
 */
function scanFile(fs: FileSystem, fd: number, size: number, buffer: Uint8Array): { size: number; crc: number } {
  let crc = 0;
  let position = 0;
  while (position < size) {
    const count = fs.readSync(fd, buffer, 0, Math.min(buffer.length, size - position), position);
    if (count === 0) return { size: position, crc };
    crc = crc32c(buffer, crc, 0, count);
    position += count;
  }
  const more = fs.readSync(fd, buffer, 0, 1, size);
  return { size: size + more, crc };
}

/**
 * Writes a snapshot the state machine produced, a bounded number of bytes per step, straight under
 * the final data file names (nothing names them until the manifest does). Each file is fsynced and
 * closed as soon as its last byte is written, so at most one descriptor is open at a time.
 */
class WriteJob implements SnapshotWriteJob {
  private file = 0;
  private chunk = 0;
  private chunkOffset = 0;
  private fileOffset = 0;
  private crc = 0;
  private fd = -1;
  private readonly infos: SnapshotFileInfo[] = [];
  private done = false;
  private dead = false;

  constructor(private readonly store: SnapshotStore, private readonly id: SnapshotId,
    private readonly configuration: SnapshotConfiguration, private readonly files: readonly SnapshotFileSource[]) {}

  step(bytesMax: number): boolean {
    assert(!this.dead, `snapshot ${keyOf(this.id)}: step after abandon`);
    if (this.done) return true;
    const fs = this.store.fileSystem;
    // At least one byte, so that every step makes progress (NaN included).
    let budget = bytesMax >= 1 ? Math.floor(bytesMax) : 1;
    while (this.file < this.files.length && budget > 0) {
      const source = this.files[this.file]!;
      const target = this.store.pathOf(dataFileName(this.id, source.name));
      if (this.fd < 0) this.fd = onDisk('create', target, () => fs.openSync(target, 'w'));
      const chunk = source.chunks[this.chunk];
      if (chunk !== undefined) {
        const length = Math.min(budget, chunk.length - this.chunkOffset);
        if (length > 0) {
          const bytes = chunk.subarray(this.chunkOffset, this.chunkOffset + length);
          onDisk('write', target, () => writeFully(this.fd, bytes, length, this.fileOffset, fs));
          this.crc = crc32c(bytes, this.crc);
          this.chunkOffset += length;
          this.fileOffset += length;
          budget -= length;
        }
        if (this.chunkOffset === chunk.length) {
          this.chunk++;
          this.chunkOffset = 0;
        }
        continue;
      }
      // Every chunk of this file is written.
      const fd = this.fd;
      onDisk('fsync', target, () => {
        fs.fsyncSync(fd);
        fs.closeSync(fd);
      });
      this.fd = -1;
      this.infos.push({ name: source.name, size: this.fileOffset, crc32c: this.crc });
      this.file++;
      this.chunk = 0;
      this.chunkOffset = 0;
      this.fileOffset = 0;
      this.crc = 0;
    }
    if (this.file < this.files.length) return false;
    this.store.publish({ index: this.id.index, term: this.id.term, configuration: this.configuration, files: this.infos }, this);
    this.done = true;
    return true;
  }

  abandon(): void {
    if (this.done || this.dead) return;
    this.dead = true;
    if (this.fd >= 0) {
      const fd = this.fd;
      onDisk('close', this.store.pathOf(dataFileName(this.id, this.files[this.file]!.name)), () => this.store.fileSystem.closeSync(fd));
      this.fd = -1;
    }
    // A newer job for the same pair now owns these names: leave its files alone.
    if (!this.store.owns(this.id, this)) return;
    for (const source of this.files.slice(0, this.file + 1)) this.store.removeIfPresent(dataFileName(this.id, source.name));
    this.store.endJob(this.id, this);
  }
}

/**
 * Receives a snapshot from the leader into `install_*` files, strictly in order: the follower
 * asks for what `expected()` says, so a resent chunk is recognised by position and dropped, and
 * anything else is refused before a byte of it is written. Each file is fsynced and closed once
 * complete; `finish` renames them into place and publishes the manifest.
 */
class InstallJob implements SnapshotInstallJob {
  private file = 0;
  private offset = 0;
  private fd = -1;
  private readonly crcs: number[];
  private done = false;
  private dead = false;

  /** @param existing the same snapshot, already valid here: nothing to receive. */
  constructor(private readonly store: SnapshotStore, private readonly manifest: SnapshotManifest,
    private readonly existing: SnapshotManifest | null) {
    this.crcs = manifest.files.map(() => 0);
    if (existing !== null) {
      this.file = manifest.files.length;
      this.done = true;
    }
    this.skipEmptyFiles();
  }

  expected(): { file: number; offset: number } {
    return { file: this.file, offset: this.offset };
  }

  accept(chunk: SnapshotChunk): boolean {
    assert(!this.dead, `snapshot ${keyOf(this.manifest)}: accept after abandon or a failed finish`);
    const files = this.manifest.files;
    const complete = this.file === files.length;
    const length = chunk.data instanceof Uint8Array ? chunk.data.length : -1;
    const position = Number.isSafeInteger(chunk.file) && chunk.file >= 0 && chunk.file < files.length ? chunk.file : -1;
    const offset = Number.isSafeInteger(chunk.offset) && chunk.offset >= 0 ? chunk.offset : -1;
    if (length >= 0 && position >= 0 && offset >= 0) {
      const end = offset + length;
      const size = files[position]!.size;
      // A resend of bytes already taken (the leader did not hear our answer): nothing to do.
      if ((position < this.file && end <= size) || (position === this.file && end <= this.offset)) return complete;
      if (position === this.file && offset === this.offset) {
        if (end > size) throw this.pastEnd(position, offset, end);
        if (crc32c(chunk.data) !== chunk.crc32c) {
          throw rejected('crc', `chunk of ${files[position]!.name} at ${offset}: CRC32C mismatch`, { file: position, offset });
        }
        this.write(chunk.data);
        return this.file === files.length;
      }
      if (position < this.file) throw this.pastEnd(position, offset, end);
    }
    const where = `(file ${String(chunk.file)}, offset ${String(chunk.offset)})`;
    throw rejected('order', `chunk ${where} is not the one expected (file ${this.file}, offset ${this.offset})`,
      { file: chunk.file, offset: chunk.offset, expectedFile: this.file, expectedOffset: this.offset });
  }

  private pastEnd(position: number, offset: number, end: number): SnapshotRejectedError {
    const info = this.manifest.files[position]!;
    return rejected('size', `chunk of ${info.name} ends at ${end}, past its size ${info.size}`, { file: position, offset, size: info.size });
  }

  finish(): SnapshotManifest {
    assert(!this.dead, `snapshot ${keyOf(this.manifest)}: finish after abandon or a failed finish`);
    const files = this.manifest.files;
    assert(this.file === files.length, `snapshot ${keyOf(this.manifest)}: finish before every byte arrived`);
    if (this.existing !== null) return copyManifest(this.existing);
    if (this.done) return copyManifest(this.manifest);
    assert(this.store.owns(this.manifest, this), `snapshot ${keyOf(this.manifest)}: a newer install took over`);
    const fs = this.store.fileSystem;
    const bad = files.findIndex((file, position) => this.crcs[position] !== file.crc32c);
    if (bad >= 0) {
      const name = files[bad]!.name;
      this.abandon();
      throw rejected('crc', `file ${name}: CRC32C ${this.crcs[bad]} differs from the manifest's ${files[bad]!.crc32c}`, { file: name });
    }
    for (const file of files) {
      if (file.size > 0) continue;
      // An empty file received no chunk; it exists once created and synced.
      fsyncPath(this.store.pathOf(installFileName(this.manifest, file.name)), 'w', 'create', fs);
    }
    for (const file of files) {
      const from = this.store.pathOf(installFileName(this.manifest, file.name));
      const to = this.store.pathOf(dataFileName(this.manifest, file.name));
      onDisk('rename', from, () => fs.renameSync(from, to));
    }
    this.store.publish(this.manifest, this);
    this.done = true;
    return copyManifest(this.manifest);
  }

  abandon(): void {
    if (this.done || this.dead) return;
    this.dead = true;
    this.closeFile();
    if (!this.store.owns(this.manifest, this)) return;
    for (const file of this.manifest.files) this.store.removeIfPresent(installFileName(this.manifest, file.name));
    this.store.endJob(this.manifest, this);
  }

  private write(data: Uint8Array): void {
    const fs = this.store.fileSystem;
    const info = this.manifest.files[this.file]!;
    const target = this.store.pathOf(installFileName(this.manifest, info.name));
    if (this.fd < 0) this.fd = onDisk('create', target, () => fs.openSync(target, 'w'));
    const fd = this.fd;
    onDisk('write', target, () => writeFully(fd, data, data.length, this.offset, fs));
    this.crcs[this.file] = crc32c(data, this.crcs[this.file]);
    this.offset += data.length;
    if (this.offset === info.size) {
      onDisk('fsync', target, () => fs.fsyncSync(fd));
      this.closeFile();
      this.file++;
      this.offset = 0;
      this.skipEmptyFiles();
    }
  }

  private closeFile(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    const target = this.store.pathOf(installFileName(this.manifest, this.manifest.files[this.file]!.name));
    onDisk('close', target, () => this.store.fileSystem.closeSync(fd));
  }

  /** Empty files take no chunk: the install moves past them to the next byte it needs. */
  private skipEmptyFiles(): void {
    const files = this.manifest.files;
    while (this.file < files.length && this.offset === files[this.file]!.size) {
      this.file++;
      this.offset = 0;
    }
  }
}

/**
 * Reads a snapshot's files. Descriptors open on first use and stay open until `close`: a leader
 * streaming a snapshot keeps reading the files it opened even after `retain` unlinked them.
 */
class OpenSnapshot implements SnapshotFiles {
  private readonly fds = new Map<number, number>();
  private closed = false;

  constructor(private readonly store: SnapshotStore, private readonly manifest: SnapshotManifest, private readonly checked = false) {
    // Every file opened now: a retain that unlinks them later leaves the open descriptors readable.
    try {
      for (let position = 0; position < manifest.files.length; position++) this.fdOf(position);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  read(name: string): Uint8Array {
    const position = this.manifest.files.findIndex((file) => file.name === name);
    assert(position >= 0, `snapshot ${keyOf(this.manifest)} has no file ${name}`);
    const info = this.manifest.files[position]!;
    const file = this.store.pathOf(dataFileName(this.manifest, name));
    const fd = this.fdOf(position);
    const fs = this.store.fileSystem;
    // One byte more than the manifest says, to see a file that grew.
    const bytes = Buffer.allocUnsafeSlow(info.size + 1);
    const length = onDisk('read', file, () => {
      let done = 0;
      while (done < bytes.length) {
        const count = fs.readSync(fd, bytes, done, bytes.length - done, done);
        if (count === 0) break;
        done += count;
      }
      return done;
    });
    if (length !== info.size) {
      const found = length > info.size ? `more than ${info.size}` : String(length);
      throw new SnapshotCorruptionError(`snapshot file ${file} has ${found} bytes, its manifest says ${info.size}`, { file, reason: 'size' });
    }
    const crc = this.checked ? info.crc32c : crc32c(bytes, 0, 0, info.size);
    if (crc !== info.crc32c) {
      throw new SnapshotCorruptionError(`snapshot file ${file}: CRC32C ${crc} differs from the manifest's ${info.crc32c}`,
        { file, reason: 'crc' });
    }
    return bytes.subarray(0, info.size);
  }

  readChunk(position: number, offset: number, bytesMax: number): Uint8Array {
    const info = this.manifest.files[position];
    assert(info !== undefined, `snapshot ${keyOf(this.manifest)} has no file ${position}`);
    assert(Number.isSafeInteger(offset) && offset >= 0 && offset <= info.size,
      `readChunk: offset ${offset} outside ${info.name} (${info.size} bytes)`);
    const length = bytesMax > 0 ? Math.min(Math.floor(bytesMax), info.size - offset) : 0;
    if (length === 0) return new Uint8Array(0);
    const file = this.store.pathOf(dataFileName(this.manifest, info.name));
    const fd = this.fdOf(position);
    const fs = this.store.fileSystem;
    const bytes = Buffer.allocUnsafeSlow(length);
    const done = onDisk('read', file, () => {
      let read = 0;
      while (read < length) {
        const count = fs.readSync(fd, bytes, read, length - read, offset + read);
        if (count === 0) break;
        read += count;
      }
      return read;
    });
    if (done < length) {
      throw new SnapshotCorruptionError(`snapshot file ${file} ends at ${offset + done}, its manifest says ${info.size}`,
        { file, reason: 'size' });
    }
    return bytes;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const fs = this.store.fileSystem;
    for (const [position, fd] of this.fds) {
      const file = this.store.pathOf(dataFileName(this.manifest, this.manifest.files[position]!.name));
      onDisk('close', file, () => fs.closeSync(fd));
    }
    this.fds.clear();
  }

  private fdOf(position: number): number {
    assert(!this.closed, `snapshot ${keyOf(this.manifest)}: read after close`);
    const known = this.fds.get(position);
    if (known !== undefined) return known;
    const file = this.store.pathOf(dataFileName(this.manifest, this.manifest.files[position]!.name));
    const fd = onDisk('open', file, () => {
      try {
        return this.store.fileSystem.openSync(file, 'r');
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') return -1;
        throw error;
      }
    });
    if (fd < 0) throw new SnapshotCorruptionError(`snapshot file ${file} is missing`, { file, reason: 'missing' });
    this.fds.set(position, fd);
    return fd;
  }
}

export const openSnapshotStore: SnapshotStoreFactory = (dir, fs) => new SnapshotStore(dir, fs);
