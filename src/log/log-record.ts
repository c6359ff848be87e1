/**
 * The byte format of the log: how one entry is framed in a segment file, and how segment files are
 * named. Kept apart from the store so recovery, reads and tests share one definition.
 *
 * A record is `u32 bodyLength | u32 crc32c(body) | body`, with body = `u64 index | u64 term |
 * payload`, all big-endian. Index and term stay below 2^53, so each u64 is written as two u32
 * words (high, low): plain integer stores, no BigInt on the hot path. The length comes before the
 * checksum so that a reader knows how much to checksum; a damaged length is caught by the checksum
 * of the bytes it points at (or by pointing past the end of the file).
 *
 * Segments are named `log_inprogress_<first>` while open and `log_<first>-<last>` when closed,
 * plain decimal numbers (README.md, "Layout and on-disk format"; the same names as Ratis's
 * segmented log).
 */
import { crc32c } from './crc32c.js';

/** Bytes before the body: the length word and the checksum word. */
export const RECORD_HEADER_BYTES = 8;
/** Bytes of the body before the payload: index and term. */
export const BODY_HEADER_BYTES = 16;
/** Bytes a record adds to its payload. */
export const RECORD_OVERHEAD_BYTES = RECORD_HEADER_BYTES + BODY_HEADER_BYTES;
/** Largest body a record may declare; a larger length word is damage, not data. */
export const RECORD_BODY_BYTES_MAX = 0x7fff_ffff;

const TWO_POW_32 = 0x1_0000_0000;

/** One entry as the log stores it; the payload is opaque bytes encoded once by the caller. */
export interface LogEntryRecord {
  index: number;
  term: number;
  payload: Uint8Array;
}

/** Writes `entry` as one record at `offset` of `target`; returns the offset after it. */
export function encodeRecord(target: Buffer, offset: number, entry: LogEntryRecord): number {
  return encodeRecordOf(target, offset, entry.index, entry.term, entry.payload, 0, entry.payload.length);
}

/** Writes one record whose payload is `source[start, end)`; returns the offset after it. */
export function encodeRecordOf(
  target: Buffer, offset: number, index: number, term: number, source: Uint8Array, start: number, end: number,
): number {
  const payloadLength = end - start;
  const bodyStart = offset + RECORD_HEADER_BYTES;
  const bodyLength = BODY_HEADER_BYTES + payloadLength;
  target.writeUInt32BE(bodyLength, offset);
  writeUint53(target, bodyStart, index);
  writeUint53(target, bodyStart + 8, term);
  target.set(start === 0 && end === source.length ? source : source.subarray(start, end), bodyStart + BODY_HEADER_BYTES);
  const recordEnd = bodyStart + bodyLength;
  target.writeUInt32BE(crc32c(target, 0, bodyStart, recordEnd), offset + 4);
  return recordEnd;
}

function writeUint53(target: Buffer, offset: number, value: number): void {
  target.writeUInt32BE(Math.floor(value / TWO_POW_32), offset);
  target.writeUInt32BE(value >>> 0, offset + 4);
}

/** Reads a u64 written by `writeUint53`; a high word of 2^21 or more yields a value above 2^53. */
export function readUint53(source: Buffer, offset: number): number {
  return source.readUInt32BE(offset) * TWO_POW_32 + source.readUInt32BE(offset + 4);
}

/** Index of the record at `offset` (its framing already checked). */
export function recordIndex(source: Buffer, offset: number): number {
  return readUint53(source, offset + RECORD_HEADER_BYTES);
}

/** Term of the record at `offset` (its framing already checked). */
export function recordTerm(source: Buffer, offset: number): number {
  return readUint53(source, offset + RECORD_HEADER_BYTES + 8);
}

/**
 * Checks the framing of the record at `offset`, with the data ending at `end`: a whole length word,
 * a plausible length, a body that fits, a matching checksum. Returns the record's total size in
 * bytes, or a reason when it is not a whole, valid record.
 */
export function checkRecord(source: Buffer, offset: number, end: number): number | string {
  if (end - offset < RECORD_HEADER_BYTES) return 'partial record header';
  const bodyLength = source.readUInt32BE(offset);
  if (bodyLength < BODY_HEADER_BYTES || bodyLength > RECORD_BODY_BYTES_MAX) {
    return `impossible record length ${bodyLength}`;
  }
  const bodyStart = offset + RECORD_HEADER_BYTES;
  if (bodyLength > end - bodyStart) return `record length ${bodyLength} runs past the end of the data`;
  const expected = source.readUInt32BE(offset + 4);
  if (crc32c(source, 0, bodyStart, bodyStart + bodyLength) !== expected) return 'checksum mismatch';
  return RECORD_HEADER_BYTES + bodyLength;
}

/** Byte offsets of the whole, valid records at the start of `source`, in order (up to the first that is not). */
export function recordOffsets(source: Buffer): number[] {
  const offsets: number[] = [];
  for (let offset = 0; offset < source.length;) {
    const size = checkRecord(source, offset, source.length);
    if (typeof size === 'string') break;
    offsets.push(offset);
    offset += size;
  }
  return offsets;
}

/** The entry of a record already checked by `checkRecord`; the payload is a view, not a copy. */
export function decodeRecord(source: Buffer, offset: number, sizeBytes: number): LogEntryRecord {
  return {
    index: recordIndex(source, offset),
    term: recordTerm(source, offset),
    payload: source.subarray(offset + RECORD_OVERHEAD_BYTES, offset + sizeBytes),
  };
}

/** A segment file's name, parsed. `lastIndex` is null while the segment is in progress. */
export interface SegmentName {
  fileName: string;
  firstIndex: number;
  lastIndex: number | null;
}

const IN_PROGRESS_PATTERN = /^log_inprogress_(\d{1,16})$/;
const CLOSED_PATTERN = /^log_(\d{1,16})-(\d{1,16})$/;

/** Parses a segment file name; null for any other file (raft-meta, lock, temporary files). */
export function parseSegmentName(fileName: string): SegmentName | null {
  const open = IN_PROGRESS_PATTERN.exec(fileName);
  if (open) return { fileName, firstIndex: Number(open[1]), lastIndex: null };
  const closed = CLOSED_PATTERN.exec(fileName);
  if (closed) return { fileName, firstIndex: Number(closed[1]), lastIndex: Number(closed[2]) };
  return null;
}

export function inProgressSegmentName(firstIndex: number): string {
  return `log_inprogress_${firstIndex}`;
}

export function closedSegmentName(firstIndex: number, lastIndex: number): string {
  return `log_${firstIndex}-${lastIndex}`;
}
