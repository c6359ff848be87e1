/**
 * The snapshots of one group on disk (Ratis SnapshotInfo + its storage): interface only; the
 * implementation is being written.
 */
import type { FileSystem } from '../log/file-system.js';
import type { SnapshotInfo } from '../state-machine.js';

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
  open(manifest: SnapshotManifest): SnapshotFiles;
  retain(keep: number): void;
  bytesOf(manifest: SnapshotManifest): number;
}

export type SnapshotStoreFactory = (dir: string, fs: FileSystem) => SnapshotStoreApi;
