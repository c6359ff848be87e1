/**
 * Damage done on purpose to a stopped server's log, for the fault runs (the simulator on its
 * virtual disk, `raftline chaos` on the real one), never by a server: the last index a log holds
 * on disk, and a byte flipped in its last record, as a failing disk would leave it. Recovery
 * (log-recovery.ts) must cut such a record and report it, and the leader send it again.
 */
import * as path from 'node:path';
import { parseSegmentName, recordOffsets, RECORD_OVERHEAD_BYTES, type SegmentName } from './log-record.js';
import type { FileSystem } from './file-system.js';

/** The newest segment of the log in `groupDir`, or null when it has none. */
function newestSegment(fs: FileSystem, groupDir: string): SegmentName | null {
  let names: string[];
  try {
    names = fs.readdirSync(groupDir);
  } catch {
    return null;
  }
  const segments = names.map(parseSegmentName).filter((name): name is SegmentName => name !== null);
  return segments.sort((a, b) => b.firstIndex - a.firstIndex)[0] ?? null;
}

/** The index of the last whole record of the newest segment; 0 when the log holds none there. */
export function lastIndexOnDisk(fs: FileSystem, groupDir: string): number {
  const newest = newestSegment(fs, groupDir);
  if (newest === null) return 0;
  const count = recordOffsets(fs.readFileSync(path.join(groupDir, newest.fileName))).length;
  return count === 0 ? newest.firstIndex - 1 : newest.firstIndex + count - 1;
}

/**
 * Flips a byte of the last record of the newest segment (one of its term's, which the checksum
 * covers) and syncs it. Only the newest segment: damage in a closed one is not a tail, and
 * recovery refuses it by design. Returns the damaged record's index, or null when that segment
 * holds no record.
 */
export function damageLastRecord(fs: FileSystem, groupDir: string): number | null {
  const newest = newestSegment(fs, groupDir);
  if (newest === null) return null;
  const file = path.join(groupDir, newest.fileName);
  const bytes = fs.readFileSync(file);
  const offsets = recordOffsets(bytes);
  const last = offsets.at(-1);
  if (last === undefined) return null;
  const at = last + RECORD_OVERHEAD_BYTES - 1;
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, Buffer.from([bytes[at]! ^ 0xff]), 0, 1, at);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return newest.firstIndex + offsets.length - 1;
}
