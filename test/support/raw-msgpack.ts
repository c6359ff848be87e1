/**
 * Hand-built msgpack bytes for hostile frames: what msgpackr would never write (a uint64 term, an
 * array header that declares more elements than follow, nesting ten thousand deep, an extension
 * type), next to the plain values a real message is made of.
 */
import { encode } from '../../src/messages/codec.js';
import { frameHeaderBytes } from '../../src/messages/framing.js';

/** One msgpack value, already packed. */
export type Packed = Uint8Array;

export const packValue = (value: unknown): Packed => encode(value);

export function uint64(value: bigint): Packed {
  const bytes = Buffer.alloc(9);
  bytes[0] = 0xcf;
  bytes.writeBigUInt64BE(value, 1);
  return bytes;
}

export function float64(value: number): Packed {
  const bytes = Buffer.alloc(9);
  bytes[0] = 0xcb;
  bytes.writeDoubleBE(value, 1);
  return bytes;
}

/** An array32 header declaring `count` elements; the elements (if any) follow separately. */
export function array32Header(count: number): Packed {
  const bytes = Buffer.alloc(5);
  bytes[0] = 0xdd;
  bytes.writeUInt32BE(count, 1);
  return bytes;
}

export function map32Header(count: number): Packed {
  const bytes = Buffer.alloc(5);
  bytes[0] = 0xdf;
  bytes.writeUInt32BE(count, 1);
  return bytes;
}

/** `depth` one-element arrays, one inside the other, around a 0. */
export function nestedArrays(depth: number): Packed {
  const bytes = Buffer.alloc(depth + 1, 0x91);
  bytes[depth] = 0x00;
  return bytes;
}

/** A map of string keys to packed values, in the order given. */
export function map(fields: [string, Packed][]): Packed {
  return Buffer.concat([map32Header(fields.length), ...fields.flatMap(([key, value]) => [encode(key), value])]);
}

/** A message object as a map, with some fields replaced by raw packed values. */
export function message(fields: Record<string, unknown>, raw: Record<string, Packed> = {}): Packed {
  const entries: [string, Packed][] = Object.entries(fields).map(([key, value]) => [key, raw[key] ?? encode(value)]);
  for (const [key, value] of Object.entries(raw)) if (!(key in fields)) entries.push([key, value]);
  return map(entries);
}

/** A frame header declaring `bodyBytes`. */
export function header(bodyBytes: number): Buffer {
  const bytes = Buffer.alloc(frameHeaderBytes);
  bytes.writeUInt32BE(bodyBytes >>> 0, 0);
  return bytes;
}

/** A whole frame around `body`. */
export function frame(body: Uint8Array): Buffer {
  return Buffer.concat([header(body.length), body]);
}
