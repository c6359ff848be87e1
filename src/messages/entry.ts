/**
 * A log entry's payload: packed once on the leader at preAppend, then the same bytes go to the
 * log file, to every follower and to the state machine updater. Term and index travel beside
 * the payload (in batches), never inside it, so the payload is final before replication.
 */
import { decode, encode } from './codec.js';
import { MalformedMessageError } from '../errors.js';

export const EntryType = { noop: 0, write: 1 } as const;
export type EntryTypeNumber = (typeof EntryType)[keyof typeof EntryType];

export interface EntryBody {
  type: EntryTypeNumber;
  clientId: string;
  callId: number;
  /** The client's lowest unacknowledged call id when it sent this write (retry-cache pruning). */
  firstUnacked: number;
  data: Uint8Array;
}

const empty = new Uint8Array(0);

export function encodeEntry(body: EntryBody): Uint8Array {
  return encode([body.type, body.clientId, body.callId, body.firstUnacked, body.data]);
}

export const noopPayload: Uint8Array = encodeEntry({
  type: EntryType.noop,
  clientId: '',
  callId: 0,
  firstUnacked: 0,
  data: empty,
});

export function decodeEntry(payload: Uint8Array): EntryBody {
  const value = decode(payload);
  if (!Array.isArray(value) || value.length !== 5) {
    throw new MalformedMessageError('log entry payload is not a 5-element array');
  }
  const [type, clientId, callId, firstUnacked, data] = value as unknown[];
  if ((type !== 0 && type !== 1) || typeof clientId !== 'string' || typeof callId !== 'number' ||
      typeof firstUnacked !== 'number' || !(data instanceof Uint8Array)) {
    throw new MalformedMessageError('log entry payload has fields of the wrong types');
  }
  return { type, clientId, callId, firstUnacked, data };
}
