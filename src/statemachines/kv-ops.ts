/**
 * The key-value operations as bytes: the encoders the client facade uses and the decoder the
 * state machine uses, kept together so both sides agree on one format. An operation is a
 * msgpack array whose first element names it; keys and values are strings. Decoding is the
 * gateway for the state machine: it checks every field, so apply code can trust the shape.
 */
import { decode, encode } from '../messages/codec.js';

export type KvOperation =
  | readonly ['put', string, string]
  | readonly ['get', string]
  | readonly ['delete', string]
  | readonly ['cas', string, string | null, string];

export type KvOperationName = KvOperation[0];

export function encodePut(key: string, value: string): Uint8Array {
  return encode(['put', key, value]);
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

/** Decodes and checks one operation; throws an Error that says what is wrong. */
export function decodeKvOperation(bytes: Uint8Array): KvOperation {
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
  const arity: Record<string, number> = { put: 3, get: 2, delete: 2, cas: 4 };
  const expectedLength = arity[name];
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
