/**
 * The kv state machine's snapshot: one file, `kv.state`, that holds the index and both arenas as
 * they lie in memory. Taking it runs on the updater's thread between applies, so it is a memory
 * copy of the storage (about 5 GB/s) rather than a walk over every key; loading copies the parts
 * back into chunks of the new instance's own and rebuilds nothing (the index's slots keep their
 * positions). Two replicas that applied the same entries write the same bytes.
 *
 * Format, version 1 (integers little-endian):
 *   magic      4 bytes, "KVSN"
 *   version    u32 = 1
 *   metaLength u32
 *   meta       msgpack { index: KeyIndexLayout, values: ArenaLayout } (key-index.ts, value-arena.ts):
 *              the index's capacity and size; per arena the slot size, slots per chunk, slots used
 *              and free-list length of each size class, the own-buffer list's length and free
 *              list's length, and the bytes held
 *   then the raw parts, each exactly as long as the meta implies, and nothing after them:
 *     index slots       capacity * 3 float64 (per slot: key hash, key handle + 1, value handle; 0s when empty)
 *     key arena         (below)
 *     value arena       (below)
 *   an arena's parts:
 *     free lists        per class in class order, its free slots as u32, in list order (reuse is last in, first out)
 *     own lengths       u32 per own-buffer slot; 0xffffffff for a freed slot
 *     own free list     u32 per entry, in list order
 *     chunks            per class in class order, ceil(used / slotsPerChunk) whole chunks of
 *                       slotsPerChunk * slotBytes bytes; a slot is a u32 big-endian length then the bytes
 *     own buffers       each held own buffer, in slot order
 * A change to any of this, or to the arena's classes or chunk size, takes a new version.
 */
import { decode, encode } from '../messages/codec.js';
import type { KeyIndex, KeyIndexLayout } from './key-index.js';
import { SnapshotParts, SnapshotPartsReader } from './snapshot-parts.js';
import type { ArenaLayout, ValueArena } from './value-arena.js';

export const KV_SNAPSHOT_FILE = 'kv.state';
const MAGIC = [0x4b, 0x56, 0x53, 0x4e]; // "KVSN"
const VERSION = 1;
const HEADER_BYTES = 12;

interface KvSnapshotMeta {
  index: KeyIndexLayout;
  values: ArenaLayout;
}

/** The chunks of `kv.state` for this index and arena: a point-in-time copy, nothing shared with them. */
export function writeKvSnapshot(index: KeyIndex, values: ValueArena): Uint8Array[] {
  const parts = new SnapshotParts();
  const meta: KvSnapshotMeta = { index: index.exportTo(parts), values: values.exportTo(parts) };
  const metaBytes = encode(meta);
  // Outside the pool, like the file's other chunks: each is memory of its own.
  const header = Buffer.allocUnsafeSlow(HEADER_BYTES + metaBytes.length);
  header.set(MAGIC, 0);
  header.writeUInt32LE(VERSION, 4);
  header.writeUInt32LE(metaBytes.length, 8);
  header.set(metaBytes, HEADER_BYTES);
  return [header, ...parts.chunks()];
}

/**
 * Replaces what `index` and `values` hold with the state `bytes` (a whole `kv.state`) describes.
 * Throws on bytes that are not such a file; the instance may then be half loaded (discard it).
 */
export function readKvSnapshot(bytes: Uint8Array, index: KeyIndex, values: ValueArena): void {
  if (bytes.length < HEADER_BYTES || MAGIC.some((byte, i) => bytes[i] !== byte)) throw new Error('kv snapshot: not a kv.state file');
  const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const version = header.getUint32(4, true);
  if (version !== VERSION) throw new Error(`kv snapshot: format version ${version}; this build reads ${VERSION}`);
  const parts = new SnapshotPartsReader(bytes, HEADER_BYTES, 'kv snapshot');
  const meta = decode(parts.take(header.getUint32(8, true))) as KvSnapshotMeta;
  if (typeof meta !== 'object' || meta === null || typeof meta.index !== 'object' || typeof meta.values !== 'object') {
    throw new Error('kv snapshot: the header does not describe an index and an arena');
  }
  index.restore(meta.index, parts);
  values.restore(meta.values, parts);
  parts.end();
}
