/**
 * The durable term and vote of a server (Raft §5.1, Figure 2: "persistent state on all servers"),
 * in the file `raft-meta` beside the log segments (README.md, "Layout and on-disk format"; Ratis
 * keeps the same file). It must be on disk before any vote or reply that depends on it leaves the
 * server.
 *
 * The file is replaced atomically, never edited in place: write `raft-meta.tmp`, fdatasync it,
 * rename it over `raft-meta`, fsync the directory. A crash leaves either the old or the new file.
 * Its content is `"RLM1" | u32 bodyLength | u32 crc32c(body) | body`, body a JSON object
 * `{ "term": n, "votedFor": id | null }`: tiny, written once per term or vote, so readability wins
 * over compactness; the checksum catches a damaged file instead of trusting a wrong vote.
 */
import * as path from 'node:path';
import { LogCorruptionError, TermCeilingError } from '../errors.js';
import { termMax } from '../limits.js';
import type { HardState } from '../core/types.js';
import { crc32c } from './crc32c.js';
import { fsyncDirectory, onDisk, writeFully } from './disk-io.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';

export const RAFT_META_FILE_NAME = 'raft-meta';
const TEMPORARY_FILE_NAME = 'raft-meta.tmp';
const MAGIC = Buffer.from('RLM1', 'ascii');
const HEADER_BYTES = 12;

/** How a group whose term reached the ceiling recovers (README, "Recovering a group's term"). */
export const termRecovery = 'To recover, stop every server of the group; run `raftline reset-term --dir <data dir>` on each and ' +
  'note the highest `lastLogTerm` printed, L; then run `raftline reset-term --dir <data dir> --term <L + 1>` on each and start them again.';

/**
 * The term and vote stored in `dir`; term 0 and no vote when the file does not exist yet. A term
 * over the ceiling (limits.ts, termMax) is refused with TermCeilingError, saying how to recover.
 */
export function readRaftMeta(dir: string, fs: FileSystem = nodeFileSystem): HardState {
  const hardState = readRaftMetaUnchecked(dir, fs);
  if (hardState.term > termMax) {
    // No next term exists that the other servers would accept: this server could never be
    // elected nor help elect anyone. Only a forged or damaged message puts such a term here.
    const file = path.join(dir, RAFT_META_FILE_NAME);
    throw new TermCeilingError(
      `${file} holds term ${hardState.term}, over the ceiling of ${termMax} (a forged or damaged message raised it). ${termRecovery}`,
      { file, term: hardState.term, termMax });
  }
  return hardState;
}

/** The term and vote stored in `dir`, whatever the term (for `raftline reset-term`). */
export function readRaftMetaUnchecked(dir: string, fs: FileSystem = nodeFileSystem): HardState {
  const file = path.join(dir, RAFT_META_FILE_NAME);
  const bytes = onDisk('read', file, () => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  });
  if (bytes === null) return { term: 0, votedFor: null };
  return decodeRaftMeta(bytes, file);
}

/** Replaces the stored term and vote; durable when it returns. */
export function writeRaftMeta(dir: string, hardState: HardState, fs: FileSystem = nodeFileSystem): void {
  const body = Buffer.from(JSON.stringify({ term: hardState.term, votedFor: hardState.votedFor }), 'utf8');
  const bytes = Buffer.alloc(HEADER_BYTES + body.length);
  MAGIC.copy(bytes, 0);
  bytes.writeUInt32BE(body.length, 4);
  bytes.writeUInt32BE(crc32c(body), 8);
  body.copy(bytes, HEADER_BYTES);
  const temporary = path.join(dir, TEMPORARY_FILE_NAME);
  onDisk('write', temporary, () => {
    const fd = fs.openSync(temporary, 'w');
    try {
      writeFully(fd, bytes, bytes.length, 0, fs);
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
  const file = path.join(dir, RAFT_META_FILE_NAME);
  onDisk('rename', temporary, () => fs.renameSync(temporary, file));
  fsyncDirectory(dir, fs);
}

function decodeRaftMeta(bytes: Buffer, file: string): HardState {
  const damaged = (offset: number, reason: string): LogCorruptionError =>
    new LogCorruptionError(`raft metadata file ${file} is damaged at byte offset ${offset}: ${reason}`, {
      file,
      offset,
      reason,
    });
  if (bytes.length < HEADER_BYTES || !bytes.subarray(0, 4).equals(MAGIC)) throw damaged(0, 'bad header');
  const bodyLength = bytes.readUInt32BE(4);
  if (bodyLength !== bytes.length - HEADER_BYTES) {
    throw damaged(4, `body length ${bodyLength}, file holds ${bytes.length - HEADER_BYTES}`);
  }
  const body = bytes.subarray(HEADER_BYTES);
  if (crc32c(body) !== bytes.readUInt32BE(8)) throw damaged(8, 'checksum mismatch');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw damaged(HEADER_BYTES, 'body is not JSON');
  }
  // A matching checksum over a wrong shape means a writer bug, not disk damage; refuse it all the same.
  const candidate = parsed as { term?: unknown; votedFor?: unknown } | null;
  const term = candidate?.term;
  const votedFor = candidate?.votedFor;
  if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0 || (votedFor !== null && typeof votedFor !== 'string')) {
    throw damaged(HEADER_BYTES, 'body is not { term, votedFor }');
  }
  return { term, votedFor };
}
