/**
 * Recovery of the segmented log at open: every segment is scanned in index order, every record's
 * checksum and index checked, and a torn tail left by a crash is cut off. What it returns is the
 * in-memory picture the store keeps: per segment, the byte offset of every record, and the terms as
 * runs.
 *
 * The rule, precisely. Segments, sorted by first index, must continue one another: each starts at
 * the index after the previous one's last record; a closed segment holds exactly the records its
 * name announces. Within a segment, record k must be a whole record with a matching CRC, index
 * `first + k` and a term no lower than the record before it. The first record that breaks this is
 * "bad", at byte offset p:
 *  - in any segment but the last, it is corruption: LogCorruptionError(file, p);
 *  - in the last segment it is a torn tail only if nothing valid follows it: no offset q > p holds
 *    a record with a matching CRC, a whole body, an index at or after the bad record's expected
 *    index and a term no lower than the last good one. A torn tail is cut at p (ftruncate + fsync)
 *    and the log opens with the records before p. If such a record does follow, the damage is not
 *    the tail of an interrupted write but a hole in the middle of synced data: LogCorruptionError.
 * A crash can only tear the end of what was being written, so this cuts what a crash can leave and
 * refuses everything else. The one case it cannot tell apart: damage to the very last record of
 * the log looks exactly like a torn write, and that record is dropped. Raft tolerates this only as
 * much as it tolerates losing a synced write; a checksum cannot do better.
 *
 * The last segment may be a closed one (a crash between closing a segment and creating the next).
 * If its tail is torn it is cut and renamed back to `log_inprogress_<first>`. A non-last segment
 * still named in progress (the rename of a roll reached the disk, the new file's creation did too,
 * but not in that order) is accepted only if it is whole, and is renamed to its closed name.
 */
import * as path from 'node:path';
import { LogCorruptionError } from '../errors.js';
import type { TermRun } from '../core/types.js';
import { fsyncDirectory, fsyncPath, onDisk } from './disk-io.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import {
  BODY_HEADER_BYTES, RECORD_HEADER_BYTES, RECORD_OVERHEAD_BYTES, checkRecord, closedSegmentName,
  inProgressSegmentName, parseSegmentName, readUint53, recordIndex, recordTerm, type SegmentName,
} from './log-record.js';

/** One segment as recovery leaves it. */
export interface RecoveredSegment {
  fileName: string;
  firstIndex: number;
  /** Index of the last record; firstIndex - 1 when the segment is empty. */
  lastIndex: number;
  /** True for `log_<first>-<last>`, false for the one `log_inprogress_<first>`. */
  closed: boolean;
  /** Byte offset of each record: offsets[k] is record firstIndex + k. */
  offsets: number[];
  sizeBytes: number;
}

/**
 * A damaged or torn tail that recovery cut: where, why, and the entries it held (as far as their
 * headers can still be read: at least the one at `firstIndex`). Zeros alone past the last record
 * (the open segment's preallocation) are not a cut worth reporting and give none.
 */
export interface TailCut {
  file: string;
  /** Byte offset of the cut: the file now ends here. */
  offset: number;
  /** Bytes dropped, up to the last one that was not zero. */
  bytes: number;
  reason: string;
  /** The first index dropped, and the last one whose record header was still readable after it. */
  firstIndex: number;
  lastIndex: number;
}

export interface RecoveredLog {
  /** In index order; empty when the directory holds no segment. */
  segments: RecoveredSegment[];
  termRuns: TermRun[];
  /** The tail cut at this recovery, if recovery cut anything but zeros. */
  tailCut: TailCut | null;
}

interface ScanState {
  expectedIndex: number;
  lastTerm: number;
  termRuns: TermRun[];
  tailCut: TailCut | null;
}

function corruption(file: string, offset: number, reason: string): LogCorruptionError {
  return new LogCorruptionError(`log segment ${file} is corrupt at byte offset ${offset}: ${reason}`, {
    file,
    offset,
    reason,
  });
}

/** Lists, checks and scans the segments of `dir`, repairing a torn tail. */
export function recoverLog(dir: string, fs: FileSystem = nodeFileSystem): RecoveredLog {
  const names = onDisk('list', dir, () => fs.readdirSync(dir))
    .map(parseSegmentName)
    .filter((name): name is SegmentName => name !== null)
    .sort((a, b) => a.firstIndex - b.firstIndex);
  const state: ScanState = { expectedIndex: names[0]?.firstIndex ?? 1, lastTerm: 0, termRuns: [], tailCut: null };
  const segments: RecoveredSegment[] = [];
  let directoryChanged = false;
  names.forEach((name, position) => {
    const isLast = position === names.length - 1;
    const segment = scanSegment(dir, name, isLast, state, fs);
    if (!isLast && !segment.closed) {
      // Whole (scanSegment refuses a bad record outside the last segment): give it its closed name.
      if (segment.offsets.length === 0) {
        throw corruption(path.join(dir, name.fileName), 0, 'an empty in-progress segment is not the last one');
      }
      // Its data may not have been synced by the process that wrote it: sync before naming it closed.
      syncFile(path.join(dir, segment.fileName), fs);
      renameSegment(dir, segment, closedSegmentName(segment.firstIndex, segment.lastIndex), fs);
      segment.closed = true;
      directoryChanged = true;
    }
    if (isLast && segment.closed && segment.lastIndex !== name.lastIndex) {
      renameSegment(dir, segment, inProgressSegmentName(segment.firstIndex), fs);
      segment.closed = false;
      directoryChanged = true;
    }
    segments.push(segment);
  });
  if (directoryChanged) fsyncDirectory(dir, fs);
  return { segments, termRuns: state.termRuns, tailCut: state.tailCut };
}

function renameSegment(dir: string, segment: RecoveredSegment, fileName: string, fs: FileSystem): void {
  const from = path.join(dir, segment.fileName);
  onDisk('rename', from, () => fs.renameSync(from, path.join(dir, fileName)));
  segment.fileName = fileName;
}

function scanSegment(dir: string, name: SegmentName, isLast: boolean, state: ScanState, fs: FileSystem): RecoveredSegment {
  const file = path.join(dir, name.fileName);
  if (name.firstIndex !== state.expectedIndex) {
    throw corruption(file, 0, `segment starts at index ${name.firstIndex}, expected ${state.expectedIndex}`);
  }
  if (name.lastIndex !== null && name.lastIndex < name.firstIndex) {
    throw corruption(file, 0, `closed segment name ends before it starts`);
  }
  const bytes = onDisk('read', file, () => fs.readFileSync(file));
  const offsets: number[] = [];
  const lastAllowed = name.lastIndex ?? Number.MAX_SAFE_INTEGER;
  let offset = 0;
  let badReason: string | null = null;
  while (offset < bytes.length) {
    const sizeOrReason = checkRecord(bytes, offset, bytes.length);
    if (typeof sizeOrReason === 'string') {
      badReason = sizeOrReason;
      break;
    }
    const index = recordIndex(bytes, offset);
    const term = recordTerm(bytes, offset);
    if (index !== state.expectedIndex || index > lastAllowed) {
      badReason = `record has index ${index}, expected ${state.expectedIndex}`;
      break;
    }
    if (term < state.lastTerm) {
      badReason = `record ${index} has term ${term}, below the previous term ${state.lastTerm}`;
      break;
    }
    if (term !== state.lastTerm || state.termRuns.length === 0) state.termRuns.push({ firstIndex: index, term });
    state.lastTerm = term;
    state.expectedIndex++;
    offsets.push(offset);
    offset += sizeOrReason;
  }
  if (badReason !== null) {
    if (!isLast || validRecordFollows(bytes, offset + 1, state)) throw corruption(file, offset, badReason);
    state.tailCut = describeCut(file, bytes, offset, badReason, state.expectedIndex);
    cutTail(file, offset, fs);
  } else if (!isLast && name.lastIndex !== null && state.expectedIndex - 1 !== name.lastIndex) {
    throw corruption(file, offset, `segment ends at index ${state.expectedIndex - 1}, its name says ${name.lastIndex}`);
  }
  return {
    fileName: name.fileName,
    firstIndex: name.firstIndex,
    lastIndex: name.firstIndex + offsets.length - 1,
    closed: name.lastIndex !== null,
    offsets,
    sizeBytes: offset,
  };
}

/**
 * Whether some offset at or after `from` holds a whole record with a matching CRC that could
 * belong to this log after the bad one (index at or after the expected one, term not lower). The
 * index word is checked before the CRC, so random bytes almost never cost a checksum.
 */
function validRecordFollows(bytes: Buffer, from: number, state: ScanState): boolean {
  // No more records can follow than fit in the remaining bytes, which bounds plausible indexes.
  const indexMax = state.expectedIndex + Math.floor((bytes.length - from) / RECORD_OVERHEAD_BYTES);
  for (let offset = from; offset + RECORD_OVERHEAD_BYTES <= bytes.length; offset++) {
    const length = bytes.readUInt32BE(offset);
    if (length < BODY_HEADER_BYTES || length > bytes.length - offset - RECORD_HEADER_BYTES) continue;
    const index = readUint53(bytes, offset + RECORD_HEADER_BYTES);
    if (index < state.expectedIndex || index > indexMax) continue;
    if (readUint53(bytes, offset + RECORD_HEADER_BYTES + 8) < state.lastTerm) continue;
    if (typeof checkRecord(bytes, offset, bytes.length) === 'number') return true;
  }
  return false;
}

/**
 * What a cut at `offset` drops: null when only zeros follow (the preallocated space past the last
 * record of an open segment, cut at every start). Otherwise the entries whose headers still read
 * in sequence from the expected index (a torn or damaged record may leave none readable: the
 * range then names the expected index alone).
 */
function describeCut(file: string, bytes: Buffer, offset: number, reason: string, expectedIndex: number): TailCut | null {
  let end = bytes.length;
  while (end > offset && bytes[end - 1] === 0) end--;
  if (end === offset) return null;
  // Record headers that still read, in sequence: index expectedIndex, then one more each.
  let lastRead = expectedIndex - 1;
  for (let at = offset; at + RECORD_OVERHEAD_BYTES <= end;) {
    const length = bytes.readUInt32BE(at);
    if (length < BODY_HEADER_BYTES || readUint53(bytes, at + RECORD_HEADER_BYTES) !== lastRead + 1) break;
    lastRead++;
    at += RECORD_HEADER_BYTES + length;
  }
  return { file, offset, bytes: end - offset, reason, firstIndex: expectedIndex, lastIndex: Math.max(lastRead, expectedIndex) };
}

function syncFile(file: string, fs: FileSystem): void {
  fsyncPath(file, 'r', 'fsync', fs);
}

/** Cuts a torn tail off the last segment and makes the cut durable before the log is used. */
function cutTail(file: string, sizeBytes: number, fs: FileSystem): void {
  onDisk('truncate torn tail', file, () => {
    const fd = fs.openSync(file, 'r+');
    try {
      fs.ftruncateSync(fd, sizeBytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}
