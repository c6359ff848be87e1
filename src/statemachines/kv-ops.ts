/**
 * The key-value operations as bytes: the encoders the client facade uses and the decoder the
 * state machine uses, kept together so both sides agree on one format. An operation is a
 * msgpack array whose first element names it; keys and values are strings. Decoding is the
 * gateway for the state machine: it checks every field, so apply code can trust the shape.
 */
import { bufferView, decode, encode } from '../messages/codec.js';

export type KvOperation =
  | readonly ['put', string, string]
  | readonly ['get', string]
  | readonly ['delete', string]
  | readonly ['cas', string, string | null, string];

export type KvOperationName = KvOperation[0];

/**
 * A put, written by hand in the bytes msgpack gives `['put', key, value]` (the shortest string
 * headers): every write of a kv client goes through here, and the general encoder's dispatch cost
 * more than the copy of the strings. The tests hold it to the general encoder's bytes.
 */
export function encodePut(key: string, value: string): Uint8Array {
  const keyBytes = Buffer.byteLength(key, 'utf8');
  const valueBytes = Buffer.byteLength(value, 'utf8');
  const out = Buffer.allocUnsafe(putPrefix.length + stringHeaderSize(keyBytes) + keyBytes + stringHeaderSize(valueBytes) + valueBytes);
  for (let i = 0; i < putPrefix.length; i++) out[i] = putPrefix[i]!;
  let at = writeStringHeader(out, putPrefix.length, keyBytes);
  at += out.write(key, at, keyBytes, 'utf8');
  at = writeStringHeader(out, at, valueBytes);
  out.write(value, at, valueBytes, 'utf8');
  return out;
}

function stringHeaderSize(length: number): number {
  return length < 32 ? 1 : length < 0x100 ? 2 : length < 0x1_0000 ? 3 : 5;
}

/** Writes the shortest msgpack string header for `length` bytes at `at`; returns where the bytes go. */
function writeStringHeader(out: Buffer, at: number, length: number): number {
  if (length < 32) {
    out[at] = 0xa0 | length;
    return at + 1;
  }
  if (length < 0x100) {
    out[at] = 0xd9;
    out[at + 1] = length;
    return at + 2;
  }
  if (length < 0x1_0000) {
    out[at] = 0xda;
    out.writeUInt16BE(length, at + 1);
    return at + 3;
  }
  out[at] = 0xdb;
  out.writeUInt32BE(length, at + 1);
  return at + 5;
}

export function encodeGet(key: string): Uint8Array {
  return encode(['get', key]);
}

export function encodeDelete(key: string): Uint8Array {
  return encode(['delete', key]);
}

export function encodeCas(key: string, expected: string | null, next: string): Uint8Array {
  return encode(['cas', key, expected, next]);
}

function field(name: string, operation: string, position: number, expected: string): Error {
  return new Error(`kv ${operation}: field ${position} (${name}) must be ${expected}`);
}

const arity: Readonly<Record<string, number>> = { put: 3, get: 2, delete: 2, cas: 4 };

/*
 * The put fast path. Nearly every write is a put, and the leader checks it (startTransaction)
 * before every replica decodes it again (apply): reading its two strings straight from the bytes
 * skips the general decoder and its intermediate array (updater CPU: msgpackr's unpack and string
 * extraction were 10 % of it). It accepts exactly what the encoder writes for a put — a 3-array,
 * the fixstr 'put', then two msgpack strings that end the bytes — and leaves anything else to the
 * general path, so both paths agree on every input.
 */
const putPrefix = [0x93, 0xa3, 0x70, 0x75, 0x74];
/** Set by `matchPut` when it returns true: the key's bytes, and the size of the value's header. */
let putKeyStart = 0;
let putKeyEnd = 0;
let putValueHeader = 0;

function matchPut(bytes: Uint8Array): boolean {
  if (bytes.length < putPrefix.length + 2) return false;
  for (let i = 0; i < putPrefix.length; i++) if (bytes[i] !== putPrefix[i]) return false;
  const keyHeader = stringHeaderBytes(bytes, putPrefix.length);
  if (keyHeader === 0) return false;
  const keyStart = putPrefix.length + keyHeader;
  const keyEnd = keyStart + stringLength(bytes, putPrefix.length);
  if (keyEnd > bytes.length) return false;
  const valueHeader = stringHeaderBytes(bytes, keyEnd);
  if (valueHeader === 0 || keyEnd + valueHeader + stringLength(bytes, keyEnd) !== bytes.length) return false;
  putKeyStart = keyStart;
  putKeyEnd = keyEnd;
  putValueHeader = valueHeader;
  return true;
}

/** Size of the msgpack string header at `at` (fixstr, str 8, 16 or 32); 0 when there is none. */
function stringHeaderBytes(bytes: Uint8Array, at: number): number {
  if (at >= bytes.length) return 0;
  const type = bytes[at]!;
  const size = (type & 0xe0) === 0xa0 ? 1 : type === 0xd9 ? 2 : type === 0xda ? 3 : type === 0xdb ? 5 : 0;
  return at + size <= bytes.length ? size : 0;
}

/** Length of the string whose header (checked by `stringHeaderBytes`) is at `at`. */
function stringLength(bytes: Uint8Array, at: number): number {
  const type = bytes[at]!;
  if ((type & 0xe0) === 0xa0) return type & 0x1f;
  if (type === 0xd9) return bytes[at + 1]!;
  if (type === 0xda) return (bytes[at + 1]! << 8) | bytes[at + 2]!;
  return bytes[at + 1]! * 0x100_0000 + ((bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!);
}

function utf8(bytes: Uint8Array, start: number, end: number): string {
  return bufferView(bytes).toString('utf8', start, end);
}

/** Where a put's key and value lie in its bytes (UTF-8, as the client encoded them). */
export interface PutView {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
}

/**
 * Reads a put in the exact shape the encoder writes without decoding its strings (the state
 * machine indexes the key's bytes and copies the value's as they are); false for anything else,
 * which takes the general decoder. `into` is filled in, so a caller can reuse one object.
 */
export function viewPut(bytes: Uint8Array, into: PutView): boolean {
  if (!matchPut(bytes)) return false;
  into.keyStart = putKeyStart;
  into.keyEnd = putKeyEnd;
  into.valueStart = putKeyEnd + putValueHeader;
  into.valueEnd = bytes.length;
  return true;
}

/** Decodes and checks one operation; throws an Error that says what is wrong. */
export function decodeKvOperation(bytes: Uint8Array): KvOperation {
  if (matchPut(bytes)) return ['put', utf8(bytes, putKeyStart, putKeyEnd), utf8(bytes, putKeyEnd + putValueHeader, bytes.length)];
  return decodeAnyOperation(bytes);
}

/**
 * Checks that `bytes` is a write (put, delete or cas) without keeping what it decodes: the
 * leader's `startTransaction` runs it on every write, and a put needs no strings made for that.
 */
export function checkKvWrite(bytes: Uint8Array): void {
  if (!matchPut(bytes)) decodeKvWrite(bytes);
}

export type KvWrite = Exclude<KvOperation, readonly ['get', string]>;

/** Decodes a write; a get (a read) is refused with an Error that says how to send it. */
export function decodeKvWrite(bytes: Uint8Array): KvWrite {
  const operation = decodeKvOperation(bytes);
  if (operation[0] === 'get') {
    throw new Error("kv: 'get' is a read; send it as a query (sendReadOnly or sendStaleRead), not as a write");
  }
  return operation;
}

function decodeAnyOperation(bytes: Uint8Array): KvOperation {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    throw new Error(`kv: operation does not decode as msgpack: ${(error as Error).message}`);
  }
  if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== 'string') {
    throw new Error('kv: an operation must be an array whose first element names it');
  }
  const items = value as unknown[];
  const name = items[0] as string;
  const expectedLength = Object.hasOwn(arity, name) ? arity[name] : undefined;
  if (expectedLength === undefined) {
    throw new Error(`kv: unknown operation '${name}' (expected put, get, delete or cas)`);
  }
  if (items.length !== expectedLength) {
    throw new Error(`kv ${name}: expected ${expectedLength - 1} argument(s), got ${items.length - 1}`);
  }
  if (typeof items[1] !== 'string') throw field('key', name, 1, 'a string');
  const key = items[1];
  switch (name) {
    case 'put':
      if (typeof items[2] !== 'string') throw field('value', name, 2, 'a string');
      return ['put', key, items[2]];
    case 'get':
      return ['get', key];
    case 'delete':
      return ['delete', key];
    default: {
      const expected = items[2];
      if (expected !== null && typeof expected !== 'string') throw field('expected', name, 2, 'a string or null');
      if (typeof items[3] !== 'string') throw field('next', name, 3, 'a string');
      return ['cas', key, expected, items[3]];
    }
  }
}

/** Results travel msgpack-encoded: null for put, a string or null for get, a boolean otherwise. */
export function encodeKvResult(result: string | boolean | null): Uint8Array {
  return encode(result);
}

function decodeResult(bytes: Uint8Array | null): unknown {
  // A state machine that returned no bytes answered null; msgpack null decodes the same way.
  return bytes === null || bytes.length === 0 ? null : decode(bytes);
}

export function decodeStringOrNullResult(bytes: Uint8Array | null): string | null {
  const value = decodeResult(bytes);
  if (value !== null && typeof value !== 'string') {
    throw new TypeError(`kv: expected a string or null result, got ${typeof value}`);
  }
  return value;
}

export function decodeBooleanResult(bytes: Uint8Array | null): boolean {
  const value = decodeResult(bytes);
  if (typeof value !== 'boolean') throw new TypeError(`kv: expected a boolean result, got ${typeof value}`);
  return value;
}
