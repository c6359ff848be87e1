/**
 * The durable segmented log store, used inside the log worker actor (the write path's stages
 * `logWrite` / `logSync`, docs/metrics.md; Ratis's SegmentedRaftLog). Entries are appended to the open segment with
 * one write per batch and made durable by `sync`, one fdatasync for everything appended since the
 * last one (group commit). Closed segments are immutable until a truncation reaches into them.
 *
 * What it keeps in memory: the byte offset of every record of the open segment (so a read from disk
 * is one positioned read), the terms as runs (what the consensus core needs), and a bounded cache of
 * the most recent entries, which is what the appenders mostly read. A closed segment keeps only its
 * bounds, its size and the offset of every 1024th record: a read from it (a lagging follower)
 * walks the length words from the anchor before it, so memory grows by 8 bytes per 1024 entries
 * of log, not 8 per entry, and no read scans more than 1023 records it does not return. All I/O
 * is synchronous: this code runs on its own worker thread, where the sync calls save the thread-pool
 * round trip of the asynchronous ones (disk-io.ts).
 *
 * Preallocation: the open segment's file runs ahead of its records with zeros (1 MiB at a time).
 * An fdatasync after an append that grows a file must commit the file system's journal (new size,
 * new blocks); one after writing over blocks that are already allocated and synced flushes the
 * data only, which measured 155 µs instead of 205-320 µs, and about half the CPU, on this
 * project's test machines (`npm run bench:micro`). The zeros read as a record of length 0, which
 * recovery treats as the end of the log and cuts (log-recovery.ts); a segment is cut to its
 * records before it is closed.
 */
import * as path from 'node:path';
import { assert, LogCorruptionError } from '../errors.js';
import type { TermRun } from '../core/types.js';
import { fsyncDirectory, onDisk, readFully, writeFully } from './disk-io.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import {
  RECORD_HEADER_BYTES, RECORD_OVERHEAD_BYTES, checkRecord, closedSegmentName, decodeRecord, encodeRecordOf,
  inProgressSegmentName, type LogEntryRecord,
} from './log-record.js';
import { recoverLog, type RecoveredSegment, type TailCut } from './log-recovery.js';
import { lastStartingAtOrBefore, RecentEntries } from './recent-entries.js';
import { TermLog } from '../core/term-runs.js';
import { SpareBuffers } from '../spare-buffers.js';
import { LENGTH_BYTES, packedProblem, packPayloads, payloadLengthAt } from '../messages/packed-entries.js';

export type { LogEntryRecord } from './log-record.js';

export interface SegmentedLogOptions {
  /** The open segment is closed and a new one started once an append takes it past this size. */
  segmentSizeBytesMax: number;
  /** Bytes the cache of recent entries holds in memory for reads (its batches' buffers); 16 MiB when not given. */
  readCacheBytesMax?: number;
  /** UNSAFE, for benchmarks only: `sync` marks entries synced without calling fdatasync. */
  unsafeNoSync?: boolean;
  /** The file system the store runs on: node:fs unless a simulator gives its virtual disk. */
  fileSystem?: FileSystem;
  /** Bytes per read when a closed segment's length words are walked; 256 KiB when not given (tests use less). */
  scanChunkBytes?: number;
  /** Zeros written ahead of the open segment's records at a time; 1 MiB when not given, 0 for none. */
  preallocateBytes?: number;
}

export const SEGMENT_SIZE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
export const READ_CACHE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
export const PREALLOCATE_BYTES_DEFAULT = 1024 * 1024;

/** A segment as the store tracks it: the recovered shape, kept current by appends. */
type Segment = Omit<RecoveredSegment, 'offsets'> & {
  /** The open segment's byte offset of every record; null once closed. */
  offsets: number[] | null;
  /** A closed segment's anchors: anchors[j] is the byte offset of record j * ANCHOR_EVERY. */
  anchors: number[];
};

/** A closed segment keeps the offset of every this many records. */
const ANCHOR_EVERY = 1024;
const SCAN_CHUNK_BYTES_DEFAULT = 256 * 1024;
/** A record starts with its body length as a u32 (log-record.ts). */
const LENGTH_WORD_BYTES = 4;

let zeros: Buffer | null = null;

/** One shared chunk of zeros for preallocation (never written to). */
function zeroChunk(): Buffer {
  zeros ??= Buffer.alloc(256 * 1024);
  return zeros;
}

function anchorsOf(offsets: readonly number[]): number[] {
  const anchors: number[] = [];
  for (let record = 0; record < offsets.length; record += ANCHOR_EVERY) anchors.push(offsets[record]!);
  return anchors;
}

export class SegmentedLog {
  private readonly dir: string;
  private readonly fs: FileSystem;
  private readonly segmentSizeBytesMax: number;
  /** In index order; the last one is always the open (in-progress) segment. */
  private readonly segments: Segment[];
  /** The terms as runs, the same structure the consensus core keeps of its log. */
  private readonly terms: TermLog;
  /** Descriptor of the open segment, opened for reading and writing. */
  private openFd: number;
  private lastIndexValue: number;
  /** Invariant: syncedIndexValue <= lastIndexValue; everything up to it has been fdatasync'ed. */
  private syncedIndexValue: number;
  private isClosed = false;
  private readonly unsafeNoSync: boolean;
  private readonly scanChunkBytes: number;
  private readonly preallocateBytes: number;
  /** Bytes in the open segment's file: its records, then zeros written ahead of them. */
  private allocatedBytes = 0;
  /** Payloads in it are views into the batch buffers written to disk, never the caller's buffers. */
  private readonly cache: RecentEntries;
  /** Record buffers of appends the cache let go of, for the next appends (see spare-buffers.ts). */
  private readonly batchBuffers = new SpareBuffers(4096, 4 * 1024 * 1024, 8);

  private constructor(dir: string, options: SegmentedLogOptions, recovered: RecoveredSegment[], termRuns: TermRun[],
    /** The damaged or torn tail recovery cut at open, if any (log-recovery.ts). */
    readonly tailCut: TailCut | null) {
    const segments: Segment[] = recovered.map((segment) => (segment.closed
      ? { ...segment, offsets: null, anchors: anchorsOf(segment.offsets) }
      : { ...segment, anchors: [] }));
    this.dir = dir;
    this.fs = options.fileSystem ?? nodeFileSystem;
    this.segmentSizeBytesMax = options.segmentSizeBytesMax;
    this.unsafeNoSync = options.unsafeNoSync === true;
    this.scanChunkBytes = Math.max(RECORD_HEADER_BYTES, options.scanChunkBytes ?? SCAN_CHUNK_BYTES_DEFAULT);
    this.preallocateBytes = Math.max(0, options.preallocateBytes ?? PREALLOCATE_BYTES_DEFAULT);
    this.segments = segments;
    const last = segments[segments.length - 1];
    const lastIndex = last ? last.lastIndex : 0;
    this.terms = new TermLog(termRuns, lastIndex);
    this.lastIndexValue = lastIndex;
    // Made true below: the open segment is synced once at open, because a previous process killed
    // before its sync leaves written data in the page cache that a machine crash could still lose.
    this.syncedIndexValue = lastIndex;
    this.cache = new RecentEntries(options.readCacheBytesMax ?? READ_CACHE_BYTES_MAX_DEFAULT, lastIndex + 1,
      (buffer) => this.batchBuffers.giveBack(buffer as Buffer));
    this.openFd = -1;
    if (!last || last.closed) {
      // A new log, or a crash right after a segment was closed: start the next segment.
      this.startSegment(lastIndex + 1);
    } else {
      const file = this.pathOf(last);
      // Recovery cut any zeros past the last record: the file ends at its records.
      this.allocatedBytes = last.sizeBytes;
      this.openFd = onDisk('open', file, () => {
        const fd = this.fs.openSync(file, 'r+');
        this.fs.fdatasyncSync(fd);
        return fd;
      });
    }
  }

  /** Opens (creating `dir` if missing) and recovers the log; see log-recovery.ts for the rule. */
  static open(dir: string, options: SegmentedLogOptions): SegmentedLog {
    assert(options.segmentSizeBytesMax > 0, 'segmentSizeBytesMax must be positive');
    const fs = options.fileSystem ?? nodeFileSystem;
    onDisk('create directory', dir, () => fs.mkdirSync(dir, { recursive: true }));
    const recovered = recoverLog(dir, fs);
    return new SegmentedLog(dir, options, recovered.segments, recovered.termRuns, recovered.tailCut);
  }

  /** Index of the first entry held: 1 for a new log, later once purges or a reset removed the start. */
  get firstIndex(): number {
    return this.segments[0]!.firstIndex;
  }

  /** Bytes of every segment's records on disk. */
  get bytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.sizeBytes;
    return total;
  }

  /**
   * Deletes the closed segments whose entries all lie at or below `upTo` (a snapshot covers them),
   * oldest first, so a crash in between leaves a log that still continues to its end; the open
   * segment always stays. Returns the entries removed.
   */
  purgeTo(upTo: number): number {
    this.assertOpen();
    let removed = 0;
    while (this.segments.length > 1 && this.segments[0]!.closed && this.segments[0]!.lastIndex <= upTo) {
      const segment = this.segments.shift()!;
      const file = this.pathOf(segment);
      onDisk('unlink', file, () => this.fs.unlinkSync(file));
      removed += segment.lastIndex - segment.firstIndex + 1;
    }
    if (removed > 0) fsyncDirectory(this.dir, this.fs);
    return removed;
  }

  /**
   * Drops every entry and restarts the log after `index` (of `term`): a follower installed a
   * snapshot there that its log does not continue (Raft §7). Segments go newest first, so a crash
   * in between leaves a prefix of the old log, which the snapshot then supersedes at the next start
   * (log-actor.ts); the new empty segment's name, `log_inprogress_<index + 1>`, makes the new first
   * index durable. Durable when this returns.
   */
  resetAfter(index: number, term: number): void {
    this.assertOpen();
    const openFile = this.pathOf(this.openSegment());
    onDisk('close', openFile, () => this.fs.closeSync(this.openFd));
    this.openFd = -1;
    while (this.segments.length > 0) {
      const removed = this.segments.pop()!;
      const file = this.pathOf(removed);
      onDisk('unlink', file, () => this.fs.unlinkSync(file));
    }
    this.terms.resetTo(index, term);
    this.lastIndexValue = index;
    this.syncedIndexValue = index;
    this.cache.clear(index + 1);
    // startSegment syncs the directory: the removals and the new name reach the disk together.
    this.startSegment(index + 1);
  }

  /** Index of the last entry; firstIndex - 1 (0 for a new log) when empty. */
  get lastIndex(): number {
    return this.lastIndexValue;
  }

  /** Everything up to this index is on disk and synced. */
  get syncedIndex(): number {
    return this.syncedIndexValue;
  }

  /** Term of the entry at `index`: 0 for index 0, undefined outside [firstIndex, lastIndex]. */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (index < this.firstIndex || index > this.lastIndexValue) return undefined;
    return this.terms.termAt(index);
  }

  /** Terms as compact runs: entries [runs[i].firstIndex, runs[i+1].firstIndex) have runs[i].term. */
  termRuns(): TermRun[] {
    return this.terms.runs();
  }

  /**
   * Writes `entries` (contiguous, starting at lastIndex + 1, terms not decreasing) to the open
   * segment in one write call; not synced. The payload bytes are copied, the caller may reuse them.
   */
  append(entries: readonly LogEntryRecord[]): void {
    if (entries.length === 0) return;
    const firstIndex = entries[0]!.index;
    entries.forEach((entry, k) => assert(entry.index === firstIndex + k, `append: index ${entry.index}, expected ${firstIndex + k}`));
    this.appendPacked(firstIndex, entries.map((entry) => entry.term), packPayloads(entries.map((entry) => entry.payload)));
  }

  /**
   * Writes the packed entries (packed-entries.ts) with `terms`, at indexes from `firstIndex` =
   * lastIndex + 1, terms not decreasing, in one write call; not synced. The bytes are copied.
   */
  appendPacked(firstIndex: number, terms: readonly number[], packed: Uint8Array): void {
    this.assertOpen();
    const count = terms.length;
    if (count === 0) return;
    assert(firstIndex === this.lastIndexValue + 1, `append: index ${firstIndex}, expected ${this.lastIndexValue + 1}`);
    let previousTerm = this.terms.lastTerm;
    for (let k = 0; k < count; k++) {
      const term = terms[k]!;
      // The message is built only on failure: this loop runs for every entry.
      if (term < previousTerm) assert(false, `append: term ${term} below ${previousTerm} at ${firstIndex + k}`);
      previousTerm = term;
    }
    const problem = packedProblem(packed, count);
    assert(problem === null, `append: ${problem}`);
    // Each record replaces its length word with the record's framing.
    const sizeBytes = packed.length + count * (RECORD_OVERHEAD_BYTES - LENGTH_BYTES);
    // The whole batch in one buffer and one write call: one system call per batch, not per entry.
    const batch = this.batchBuffers.take(sizeBytes);
    const starts = new Array<number>(count + 1);
    let offset = 0;
    let from = 0;
    for (let k = 0; k < count; k++) {
      starts[k] = offset;
      const start = from + LENGTH_BYTES;
      const end = start + payloadLengthAt(packed, start);
      offset = encodeRecordOf(batch, offset, firstIndex + k, terms[k]!, packed, start, end);
      from = end;
    }
    starts[count] = offset;
    const segment = this.openSegment();
    const file = this.pathOf(segment);
    onDisk('write', file, () => {
      writeFully(this.openFd, batch, sizeBytes, segment.sizeBytes, this.fs);
      this.preallocate(segment.sizeBytes + sizeBytes);
    });
    // The in-memory picture changes only once the write went through.
    for (let k = 0; k < count; k++) segment.offsets!.push(segment.sizeBytes + starts[k]!);
    this.terms.append(firstIndex, terms);
    this.cache.pushBatch(firstIndex, terms.slice(), batch, starts);
    segment.sizeBytes += sizeBytes;
    segment.lastIndex = firstIndex + count - 1;
    this.lastIndexValue = firstIndex + count - 1;
    if (segment.sizeBytes > this.segmentSizeBytesMax) this.rollSegment();
  }

  /**
   * Zeros from the end of the file (or `end`, if the records now reach past it) to
   * `end + preallocateBytes`, once the records come within half a step of the end. Not synced here:
   * the next sync commits them with the records, once per extension.
   */
  private preallocate(end: number): void {
    if (this.preallocateBytes === 0 || end + this.preallocateBytes / 2 < this.allocatedBytes) return;
    let position = Math.max(end, this.allocatedBytes);
    const target = end + this.preallocateBytes;
    const zeros = zeroChunk();
    while (position < target) {
      const length = Math.min(zeros.length, target - position);
      writeFully(this.openFd, zeros, length, position, this.fs);
      position += length;
    }
    this.allocatedBytes = target;
  }

  /** Makes everything appended durable with one fdatasync; returns the synced last index. */
  sync(): number {
    this.assertOpen();
    if (this.syncedIndexValue < this.lastIndexValue) {
      // Segments rolled since the last sync were synced when they closed: only the open one is left.
      const file = this.pathOf(this.openSegment());
      if (!this.unsafeNoSync) onDisk('fdatasync', file, () => this.fs.fdatasyncSync(this.openFd));
      this.syncedIndexValue = this.lastIndexValue;
    }
    return this.syncedIndexValue;
  }

  /**
   * Drops every entry at or after `index` (a conflicting suffix, Raft §5.3), durably: it has
   * reached the disk when this returns. Later segments are removed newest first and a closed
   * segment is renamed back to in-progress before it is cut, so a crash at any step leaves a log
   * that is a prefix of the old one, which recovery accepts.
   */
  truncateFrom(index: number): void {
    this.assertOpen();
    assert(index >= this.firstIndex, `truncateFrom(${index}) before the first index ${this.firstIndex}`);
    if (index > this.lastIndexValue) return;
    let keep = this.segments.length - 1;
    while (this.segments[keep]!.firstIndex > index) keep--;
    const target = this.segments[keep]!;
    const openFile = this.pathOf(this.openSegment());
    onDisk('close', openFile, () => this.fs.closeSync(this.openFd));
    this.openFd = -1;
    while (this.segments.length - 1 > keep) {
      const removed = this.segments.pop()!;
      const file = this.pathOf(removed);
      onDisk('unlink', file, () => this.fs.unlinkSync(file));
    }
    if (target.closed) {
      const from = this.pathOf(target);
      target.fileName = inProgressSegmentName(target.firstIndex);
      target.closed = false;
      onDisk('rename', from, () => this.fs.renameSync(from, this.pathOf(target)));
    }
    fsyncDirectory(this.dir, this.fs);
    const cutAt = index - target.firstIndex;
    // The kept records' offsets, and the cut's (cutAt < the segment's record count).
    const kept = target.offsets !== null ? target.offsets.slice(0, cutAt + 1) : this.closedOffsets(target, 0, cutAt + 1);
    const sizeBytes = kept[cutAt]!;
    const file = this.pathOf(target);
    this.openFd = onDisk('open', file, () => this.fs.openSync(file, 'r+'));
    onDisk('truncate', file, () => {
      this.fs.ftruncateSync(this.openFd, sizeBytes);
      this.fs.fsyncSync(this.openFd);
    });
    this.allocatedBytes = sizeBytes;
    kept.length = cutAt;
    target.offsets = kept;
    target.anchors = [];
    target.sizeBytes = sizeBytes;
    target.lastIndex = index - 1;
    this.lastIndexValue = index - 1;
    // The fsync above covered the whole kept segment, and earlier segments were synced when they
    // closed: everything that remains is durable.
    this.syncedIndexValue = index - 1;
    this.terms.truncateFrom(index);
    this.cache.truncateFrom(index);
  }

  /**
   * Up to `maxCount` entries from `fromIndex`, stopping before the payload bytes would pass
   * `maxBytes`, but at least one when fromIndex <= lastIndex. Recent entries come from memory,
   * older ones from disk (checksums verified). Payloads are views that may share a larger buffer:
   * copy or pack them before posting them to another thread. Entries are shared with the cache:
   * callers must not modify them.
   */
  read(fromIndex: number, maxCount: number, maxBytes: number): LogEntryRecord[] {
    this.assertOpen();
    assert(fromIndex >= this.firstIndex, `read(${fromIndex}) before the first index ${this.firstIndex}`);
    if (fromIndex > this.lastIndexValue || maxCount <= 0) return [];
    if (fromIndex >= this.cache.firstIndex) return this.cache.read(fromIndex, maxCount, maxBytes);
    return this.readFromDisk(fromIndex, maxCount, maxBytes);
  }

  /** Closes the open segment. Unsynced appends are left as a crash would leave them. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const segment = this.openSegment();
    const file = this.pathOf(segment);
    if (this.allocatedBytes > segment.sizeBytes) {
      // Leaves the file ending at its records. Not synced, and not needed for safety: recovery cuts zeros too.
      try {
        this.fs.ftruncateSync(this.openFd, segment.sizeBytes);
      } catch {
        // A failed disk was reported by the call that failed first; the zeros stay for recovery to cut.
      }
    }
    onDisk('close', file, () => this.fs.closeSync(this.openFd));
    this.cache.clear(this.lastIndexValue + 1);
  }

  private readFromDisk(fromIndex: number, maxCount: number, maxBytes: number): LogEntryRecord[] {
    const out: LogEntryRecord[] = [];
    let bytes = 0;
    let index = fromIndex;
    let segmentPosition = this.segmentPositionOf(index);
    while (index <= this.lastIndexValue && out.length < maxCount) {
      const segment = this.segments[segmentPosition++]!;
      // Plan the run of records to take from this segment, then fetch it with one positioned read.
      // window[k] is the offset of record first + k; one past the wanted ones gives the last's end.
      const first = index - segment.firstIndex;
      const wanted = Math.min(maxCount - out.length, segment.lastIndex - index + 1);
      const window = segment.offsets !== null
        ? segment.offsets.slice(first, first + wanted + 1)
        : this.closedOffsets(segment, first, wanted + 1);
      const endOf = (k: number): number => (k + 1 < window.length ? window[k + 1]! : segment.sizeBytes);
      let taken = 0;
      let full = false;
      while (taken < wanted) {
        const payloadBytes = endOf(taken) - window[taken]! - RECORD_OVERHEAD_BYTES;
        if (out.length + taken > 0 && bytes + payloadBytes > maxBytes) {
          full = true;
          break;
        }
        bytes += payloadBytes;
        taken++;
      }
      if (taken > 0) {
        this.readRecords(segment, window[0]!, endOf(taken - 1), out);
        index += taken;
      }
      if (full) break;
    }
    return out;
  }

  private readRecords(segment: Segment, start: number, end: number, out: LogEntryRecord[]): void {
    const file = this.pathOf(segment);
    const isOpenSegment = segment === this.openSegment();
    const bytes = onDisk('read', file, () => {
      const fd = isOpenSegment ? this.openFd : this.fs.openSync(file, 'r');
      try {
        return readFully(fd, end - start, start, this.fs);
      } finally {
        if (!isOpenSegment) this.fs.closeSync(fd);
      }
    });
    let offset = 0;
    while (offset < bytes.length) {
      const sizeOrReason = checkRecord(bytes, offset, bytes.length);
      if (typeof sizeOrReason === 'string') {
        throw new LogCorruptionError(`log segment ${file} is corrupt at byte offset ${start + offset}: ${sizeOrReason}`, {
          file,
          offset: start + offset,
          reason: sizeOrReason,
        });
      }
      out.push(decodeRecord(bytes, offset, sizeOrReason));
      offset += sizeOrReason;
    }
  }

  /**
   * The byte offsets of records `from` .. `from + count - 1` of a closed segment (fewer at its
   * end), found by walking the length words of its file from the anchor at or before `from`. The
   * records were checked when they were written or recovered; a read checks them again.
   */
  private closedOffsets(segment: Segment, from: number, count: number): number[] {
    const file = this.pathOf(segment);
    const total = segment.lastIndex - segment.firstIndex + 1;
    const end = Math.min(total, from + count);
    const offsets: number[] = [];
    const anchor = Math.floor(from / ANCHOR_EVERY);
    onDisk('read', file, () => {
      const fd = this.fs.openSync(file, 'r');
      try {
        let position = segment.anchors[anchor]!;
        let record = anchor * ANCHOR_EVERY;
        while (record < end) {
          const chunk = readFully(fd, Math.min(this.scanChunkBytes, segment.sizeBytes - position), position, this.fs);
          // Walk the records whose length word lies inside the chunk; `offset` ends at the start of
          // the next record (past the chunk when that record's body runs beyond it).
          let offset = 0;
          while (record < end && offset + LENGTH_WORD_BYTES <= chunk.length) {
            if (record >= from) offsets.push(position + offset);
            record++;
            offset += RECORD_HEADER_BYTES + chunk.readUInt32BE(offset);
          }
          if (record < end && offset === 0) {
            throw new LogCorruptionError(`log segment ${file} ends at byte offset ${position}, before its record ${segment.firstIndex + record}`, {
              file, offset: position, reason: 'segment shorter than its records',
            });
          }
          position += offset;
        }
      } finally {
        this.fs.closeSync(fd);
      }
    });
    return offsets;
  }

  /** Position in `segments` of the segment holding `index` (binary search on first indexes). */
  private segmentPositionOf(index: number): number {
    return lastStartingAtOrBefore(this.segments, index);
  }

  /**
   * Closes the full open segment and starts the next: sync, close, rename to its closed name,
   * create the new file, and one directory fsync for both names.
   */
  private rollSegment(): void {
    const segment = this.openSegment();
    const from = this.pathOf(segment);
    onDisk('fsync', from, () => {
      // A closed segment holds exactly its records: the zeros ahead of them go before it is named closed.
      if (this.allocatedBytes > segment.sizeBytes) this.fs.ftruncateSync(this.openFd, segment.sizeBytes);
      this.fs.fsyncSync(this.openFd);
      this.fs.closeSync(this.openFd);
    });
    this.openFd = -1;
    this.syncedIndexValue = segment.lastIndex;
    segment.fileName = closedSegmentName(segment.firstIndex, segment.lastIndex);
    segment.closed = true;
    segment.anchors = anchorsOf(segment.offsets!);
    segment.offsets = null;
    onDisk('rename', from, () => this.fs.renameSync(from, this.pathOf(segment)));
    this.startSegment(segment.lastIndex + 1);
  }

  /** Creates `log_inprogress_<firstIndex>` as the open segment and makes its name durable. */
  private startSegment(firstIndex: number): void {
    const segment: Segment = {
      fileName: inProgressSegmentName(firstIndex),
      firstIndex,
      lastIndex: firstIndex - 1,
      closed: false,
      offsets: [],
      anchors: [],
      sizeBytes: 0,
    };
    const file = this.pathOf(segment);
    this.openFd = onDisk('create', file, () => this.fs.openSync(file, 'wx+'));
    this.allocatedBytes = 0;
    this.segments.push(segment);
    fsyncDirectory(this.dir, this.fs);
  }

  private openSegment(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private pathOf(segment: Segment): string {
    return path.join(this.dir, segment.fileName);
  }

  private assertOpen(): void {
    assert(!this.isClosed, 'the segmented log is closed');
  }
}
