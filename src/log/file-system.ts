/**
 * The synchronous file-system calls the log store makes, as an interface, so that the same store
 * runs on a virtual disk in the deterministic simulator (src/sim/sim-disk.ts). Production passes
 * `nodeFileSystem`, which is node:fs itself: no wrapper, no extra call per operation.
 */
import * as fs from 'node:fs';

export interface FileSystem {
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  fdatasyncSync(fd: number): void;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
  readFileSync(path: string): Buffer;
  readdirSync(path: string): string[];
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  mkdirSync(path: string, options: { recursive: true }): unknown;
}

export const nodeFileSystem: FileSystem = fs;
