/**
 * A virtual disk for one simulated node: the `FileSystem` the log store and raft-meta use, kept in
 * memory, with the durability rules of a real one.
 *  - File data written is in the "page cache" until fdatasync/fsync of that file; directory
 *    entries created, renamed or removed are volatile until fsync of the directory.
 *  - `crash()` keeps, per file and per directory, only a prefix of the operations since the last
 *    sync (in the order they were made; all of them lost, most often), and the first operation not
 *    kept may tear when it is a write: a prefix of its bytes survives. A rename is one operation
 *    (atomic), as on journaling file systems.
 * Undo records make a sync O(1) and a crash proportional to the unsynced operations only.
 */
import * as path from 'node:path';
import type { FileSystem } from '../log/file-system.js';
import type { SimScheduler } from './scheduler.js';

type FileUndo =
  | { kind: 'write'; offset: number; oldSize: number; oldBytes: Uint8Array; newBytes: Uint8Array }
  | { kind: 'truncate'; oldSize: number; removed: Uint8Array };

class Inode {
  data = new Uint8Array(256);
  size = 0;
  undo: FileUndo[] = [];

  ensure(capacity: number): void {
    if (capacity <= this.data.length) return;
    let next = this.data.length;
    while (next < capacity) next *= 2;
    const grown = new Uint8Array(next);
    grown.set(this.data.subarray(0, this.size));
    this.data = grown;
  }

  write(bytes: Uint8Array, offset: number, record: boolean): void {
    const end = offset + bytes.length;
    if (record) {
      const overlapEnd = Math.min(end, this.size);
      const oldBytes = overlapEnd > offset ? this.data.slice(offset, overlapEnd) : new Uint8Array(0);
      // A copy (a Buffer's slice would be a view): the writer may reuse its buffer (the log does).
      this.undo.push({ kind: 'write', offset, oldSize: this.size, oldBytes, newBytes: Uint8Array.prototype.slice.call(bytes) });
    }
    this.ensure(end);
    if (offset > this.size) this.data.fill(0, this.size, offset);
    this.data.set(bytes, offset);
    if (end > this.size) this.size = end;
  }

  truncate(length: number): void {
    const removed = length < this.size ? this.data.slice(length, this.size) : new Uint8Array(0);
    this.undo.push({ kind: 'truncate', oldSize: this.size, removed });
    this.ensure(length);
    if (length > this.size) this.data.fill(0, this.size, length);
    this.size = length;
  }

  undoOne(step: FileUndo): void {
    if (step.kind === 'write') {
      this.data.set(step.oldBytes, step.offset);
      this.size = step.oldSize;
    } else {
      this.ensure(step.oldSize);
      this.data.set(step.removed, step.oldSize - step.removed.length);
      this.size = step.oldSize;
    }
  }
}

/** One directory operation: each name it changed, with what the name held before. */
type DirUndo = { name: string; previous: Inode | undefined }[];

class Directory {
  readonly names = new Map<string, Inode>();
  undo: DirUndo[] = [];

  change(changes: { name: string; inode: Inode | undefined }[]): void {
    this.undo.push(changes.map(({ name }) => ({ name, previous: this.names.get(name) })));
    for (const { name, inode } of changes) {
      if (inode === undefined) this.names.delete(name);
      else this.names.set(name, inode);
    }
  }

  undoOne(step: DirUndo): void {
    for (let i = step.length - 1; i >= 0; i--) {
      const { name, previous } = step[i]!;
      if (previous === undefined) this.names.delete(name);
      else this.names.set(name, previous);
    }
  }
}

type Descriptor = { kind: 'file'; inode: Inode; path: string } | { kind: 'dir'; dir: Directory; path: string };

function fsError(code: string, operation: string, file: string): Error {
  return Object.assign(new Error(`${code}: ${operation} '${file}'`), { code });
}

export interface CrashOutcome {
  /** Unsynced file or directory operations kept (wholly or torn). */
  keptOperations: number;
  lostOperations: number;
  tornWrites: number;
}

export class SimDisk implements FileSystem {
  private readonly directories = new Map<string, Directory>();
  private readonly descriptors = new Map<number, Descriptor>();
  private readonly dirtyInodes = new Set<Inode>();
  private nextFd = 3;
  /** Sync calls made, for statistics. */
  syncCount = 0;

  /**
   * @param syncs false for a disk that lies: fsync returns without making anything durable (a
   *   deliberately broken disk, to show that the crash model and the checkers catch lost writes).
   */
  constructor(private readonly syncs = true) {}

  /** Whether a crash now could lose or tear something. */
  get hasUnsynced(): boolean {
    return this.dirtyInodes.size > 0;
  }

  // ---- FileSystem ---------------------------------------------------------------------------

  openSync(file: string, flags: string): number {
    const directory = this.directories.get(file);
    if (directory !== undefined) return this.allocate({ kind: 'dir', dir: directory, path: file });
    const parent = this.parentOf(file, 'open');
    const name = path.basename(file);
    let inode = parent.names.get(name);
    const creates = flags.startsWith('w') || flags.startsWith('a');
    if (inode === undefined) {
      if (!creates) throw fsError('ENOENT', 'open', file);
      inode = new Inode();
      parent.change([{ name, inode }]);
    } else if (flags.includes('x')) {
      throw fsError('EEXIST', 'open', file);
    } else if (flags.startsWith('w')) {
      this.touch(inode);
      inode.truncate(0);
    }
    return this.allocate({ kind: 'file', inode, path: file });
  }

  closeSync(fd: number): void {
    if (!this.descriptors.delete(fd)) throw fsError('EBADF', 'close', String(fd));
  }

  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    const inode = this.fileOf(fd, 'write');
    this.touch(inode);
    inode.write(buffer.subarray(offset, offset + length), position, true);
    return length;
  }

  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    const inode = this.fileOf(fd, 'read');
    const count = Math.max(0, Math.min(length, inode.size - position));
    if (count > 0) buffer.set(inode.data.subarray(position, position + count), offset);
    return count;
  }

  fdatasyncSync(fd: number): void {
    this.fsyncSync(fd);
  }

  fsyncSync(fd: number): void {
    const descriptor = this.descriptors.get(fd);
    if (descriptor === undefined) throw fsError('EBADF', 'fsync', String(fd));
    this.syncCount++;
    if (!this.syncs) return;
    if (descriptor.kind === 'dir') {
      descriptor.dir.undo = [];
    } else {
      descriptor.inode.undo = [];
      this.dirtyInodes.delete(descriptor.inode);
    }
  }

  ftruncateSync(fd: number, length: number): void {
    const inode = this.fileOf(fd, 'ftruncate');
    this.touch(inode);
    inode.truncate(length);
  }

  readFileSync(file: string): Buffer {
    const inode = this.parentOf(file, 'read').names.get(path.basename(file));
    if (inode === undefined) throw fsError('ENOENT', 'open', file);
    return Buffer.from(inode.data.subarray(0, inode.size));
  }

  readdirSync(dir: string): string[] {
    const directory = this.directories.get(dir);
    if (directory === undefined) throw fsError('ENOENT', 'scandir', dir);
    return [...directory.names.keys()].sort();
  }

  renameSync(from: string, to: string): void {
    const source = this.parentOf(from, 'rename');
    const target = this.parentOf(to, 'rename');
    if (source !== target) throw fsError('EXDEV', 'rename', from);
    const inode = source.names.get(path.basename(from));
    if (inode === undefined) throw fsError('ENOENT', 'rename', from);
    source.change([{ name: path.basename(to), inode }, { name: path.basename(from), inode: undefined }]);
  }

  unlinkSync(file: string): void {
    const parent = this.parentOf(file, 'unlink');
    if (!parent.names.has(path.basename(file))) throw fsError('ENOENT', 'unlink', file);
    parent.change([{ name: path.basename(file), inode: undefined }]);
  }

  /** Directories are made durable at once (they are created only at start). */
  mkdirSync(dir: string): undefined {
    for (let current = dir; !this.directories.has(current); current = path.dirname(current)) {
      this.directories.set(current, new Directory());
      if (path.dirname(current) === current) break;
    }
    return undefined;
  }

  // ---- crashes ------------------------------------------------------------------------------

  /**
   * Power loss: open descriptors vanish; of the unsynced operations on each file and directory a
   * prefix survives (none with probability `loseAllProbability`), and the first lost one, if it
   * is a write, may leave a prefix of its bytes (a torn write) with probability `tearProbability`.
   */
  crash(scheduler: SimScheduler, loseAllProbability: number, tearProbability: number): CrashOutcome {
    const outcome: CrashOutcome = { keptOperations: 0, lostOperations: 0, tornWrites: 0 };
    this.descriptors.clear();
    const keepCount = (length: number): number =>
      length === 0 || scheduler.chance(loseAllProbability) ? 0 : Math.floor(scheduler.random() * (length + 1));
    for (const name of [...this.directories.keys()].sort()) {
      const directory = this.directories.get(name)!;
      const keep = keepCount(directory.undo.length);
      for (let i = directory.undo.length - 1; i >= keep; i--) directory.undoOne(directory.undo[i]!);
      outcome.keptOperations += keep;
      outcome.lostOperations += directory.undo.length - keep;
      directory.undo = [];
    }
    // Inodes in the order they were first dirtied (Set order): deterministic.
    for (const inode of this.dirtyInodes) {
      const keep = keepCount(inode.undo.length);
      for (let i = inode.undo.length - 1; i >= keep; i--) inode.undoOne(inode.undo[i]!);
      const first = inode.undo[keep];
      if (first !== undefined && first.kind === 'write' && first.newBytes.length > 1 && scheduler.chance(tearProbability)) {
        const length = 1 + Math.floor(scheduler.random() * (first.newBytes.length - 1));
        inode.write(first.newBytes.subarray(0, length), first.offset, false);
        outcome.tornWrites++;
      }
      outcome.keptOperations += keep;
      outcome.lostOperations += inode.undo.length - keep;
      inode.undo = [];
    }
    this.dirtyInodes.clear();
    return outcome;
  }

  /** The disk is replaced by a new, empty one (the node must be down): everything on it is gone. */
  replace(): void {
    this.directories.clear();
    this.descriptors.clear();
    this.dirtyInodes.clear();
  }

  /** Total bytes of file data held (for statistics). */
  get bytesHeld(): number {
    let total = 0;
    const seen = new Set<Inode>();
    for (const directory of this.directories.values()) {
      for (const inode of directory.names.values()) {
        if (!seen.has(inode)) total += inode.size;
        seen.add(inode);
      }
    }
    return total;
  }

  private touch(inode: Inode): void {
    this.dirtyInodes.add(inode);
  }

  private allocate(descriptor: Descriptor): number {
    const fd = this.nextFd++;
    this.descriptors.set(fd, descriptor);
    return fd;
  }

  private fileOf(fd: number, operation: string): Inode {
    const descriptor = this.descriptors.get(fd);
    if (descriptor === undefined || descriptor.kind !== 'file') throw fsError('EBADF', operation, String(fd));
    return descriptor.inode;
  }

  private parentOf(file: string, operation: string): Directory {
    const parent = this.directories.get(path.dirname(file));
    if (parent === undefined) throw fsError('ENOENT', operation, file);
    return parent;
  }
}
