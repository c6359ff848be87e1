/**
 * The only place that imports msgpackr. One Packr configuration per thread, so every message a
 * thread packs goes through the same options and the same scratch buffer (below). Encoded messages are returned as exact-size copies, because a
 * view into msgpackr's shared buffer would make postMessage copy the whole backing buffer, and
 * the next pack would overwrite it.
 */
import { Packr, Unpackr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

/**
 * Every pack on this thread writes from the start of one kept buffer, and every caller copies the
 * packed bytes out before the next pack. Left to itself, msgpackr packs on along its buffer and
 * takes a fresh one from malloc whenever fewer than 2 KiB are left: for batch-sized messages that
 * is a new allocation every few packs, each page of it faulted in and zeroed by the kernel (7 % of
 * the cluster's CPU samples at 256 outstanding). A buffer that grew for a larger message is kept,
 * up to `scratchBytesKept`; a larger one is left to the garbage collector.
 */
const scratchBytesKept = 1 << 20;
let scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);

function packInScratch(value: unknown): Uint8Array {
  packr.useBuffer(scratch);
  const view = packr.pack(value);
  const grown = view.buffer;
  if (grown !== scratch.buffer && grown.byteLength <= scratchBytesKept) scratch = Buffer.from(grown);
  return view;
}

/** Packs a value into a copy of its own (safe to keep; small ones share a slab of Node's buffer pool). */
export function encode(value: unknown): Uint8Array {
  return Buffer.from(packInScratch(value));
}

/**
 * Packs a message for postMessage with transfer: a fresh, exact-size buffer with an ArrayBuffer
 * of its own, from `allocUnsafeSlow` (no zero-fill, no pool). Transferring a zero-filled
 * `new Uint8Array(n)` of a batch's size measured 3x dearer per postMessage; for small values that
 * are kept (entries, results) the plain copy of `encode` is cheaper (no external allocation).
 */
export function encodeForTransfer(value: unknown): Uint8Array {
  const view = packInScratch(value);
  const copy = Buffer.allocUnsafeSlow(view.length);
  copy.set(view);
  return copy;
}

/**
 * Packs a value and returns a view of the packed bytes in the scratch buffer, valid until the
 * next pack on this thread: for framing, which copies it once behind the frame header.
 */
export function encodeView(value: unknown): Uint8Array {
  return packInScratch(value);
}

/** `bytes` as a Buffer over the same memory (no copy), for Buffer's readers and string decoders. */
export function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Unpacks one value. Binary fields come back as views into `bytes` (zero copy). */
export function decode(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}
