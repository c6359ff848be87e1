/**
 * The few synchronous file-system steps the log store repeats: a guard that turns a failed system
 * call into `DiskFailureError` (the server stops rather than guess what reached the disk), full
 * writes and reads at a position, and the directory fsync that makes a create, rename or unlink
 * durable. Sync calls on purpose: the log store runs in its own worker thread, where they avoid the
 * thread-pool hop of `fs.promises` (each operation queued to libuv's pool and its result posted
 * back), and a blocked call stalls no one but the log.
 */
import { DiskFailureError, RaftlineError } from '../errors.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';

/** Runs `action`; an I/O error becomes a DiskFailureError naming the operation and the file. */
export function onDisk<T>(operation: string, file: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    if (error instanceof RaftlineError) throw error;
    const cause = error as NodeJS.ErrnoException;
    throw new DiskFailureError(`${operation} failed on ${file}: ${cause.message}`, {
      file,
      operation,
      errno: cause.code ?? null,
    });
  }
}

/** Writes all of `bytes[0, length)` at `position`; writeSync may write less than asked. */
export function writeFully(fd: number, bytes: Uint8Array, length: number, position: number, fs: FileSystem = nodeFileSystem): void {
  let done = 0;
  while (done < length) {
    done += fs.writeSync(fd, bytes, done, length - done, position + done);
  }
}

/** Reads exactly `length` bytes at `position` into a fresh buffer; a short file is an error. */
export function readFully(fd: number, length: number, position: number, fs: FileSystem = nodeFileSystem): Buffer {
  // allocUnsafeSlow: a buffer of its own, never a slice of the shared pool, so views into it that
  // later cross a thread boundary do not drag a larger backing store with them.
  const bytes = Buffer.allocUnsafeSlow(length);
  let done = 0;
  while (done < length) {
    const count = fs.readSync(fd, bytes, done, length - done, position + done);
    if (count === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += count;
  }
  return bytes;
}

/**
 * Opens `path` with `flags` ('r' to sync what is there, 'w' to create it empty), fsyncs and closes
 * it: `operation` names the step in a DiskFailureError.
 */
export function fsyncPath(path: string, flags: 'r' | 'w', operation: string, fs: FileSystem = nodeFileSystem): void {
  onDisk(operation, path, () => {
    const fd = fs.openSync(path, flags);
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** fsync of a directory, so that entries created, renamed or removed in it survive a crash. */
export function fsyncDirectory(dir: string, fs: FileSystem = nodeFileSystem): void {
  fsyncPath(dir, 'r', 'fsync directory', fs);
}
