/**
 * The only place that imports msgpackr. One Packr configuration per thread (MEASURED.md: mixing
 * configurations slowed both). Encoded messages are returned as exact-size copies, because a
 * view into msgpackr's shared buffer would make postMessage copy the whole backing buffer, and
 * the next pack would overwrite it.
 */
import { Packr, Unpackr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

/** Packs a value into a fresh, exact-size Uint8Array of its own (safe to keep). */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value).slice();
}

/**
 * Packs a message for postMessage with transfer: a fresh, exact-size buffer with an ArrayBuffer
 * of its own, from `allocUnsafeSlow` (no zero-fill, no pool). Transferring a zero-filled
 * `new Uint8Array(n)` of a batch's size measured 3x dearer per postMessage; for small values that
 * are kept (entries, results) the plain copy of `encode` is cheaper (no external allocation).
 */
export function encodeForTransfer(value: unknown): Uint8Array {
  const view = packr.pack(value);
  const copy = Buffer.allocUnsafeSlow(view.length);
  copy.set(view);
  return copy;
}

/**
 * Packs a value into `target` at `offset` when it fits, for framing without a second copy;
 * returns the packed view (valid until the next pack on this thread).
 */
export function encodeView(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Unpacks one value. Binary fields come back as views into `bytes` (zero copy). */
export function decode(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}
