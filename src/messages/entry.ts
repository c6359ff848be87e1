/**
 * A log entry's payload: encoded once on the leader, straight into its turn's packed batch
 * (packed-entries.ts), then the same bytes go to the log file, to every follower and to the
 * state machine updater. Term and index travel beside
 * the payload (in batches), never inside it, so the payload is final before replication.
 *
 * A fixed layout, not msgpack: it encodes in about half the time and decodes in about 60 % of
 * the time of the same fields as a msgpack array (`npm run bench:micro -- --only entry`), big-endian:
 *
 *   u8 type | u16 clientIdBytes | clientId (UTF-8) | f64 callId | f64 firstUnacked | data
 *
 * Call ids are safe integers, so a float64 holds them exactly.
 *
 * Entry types: a leader's no-op; a client's write; a client session's open and end (their data
 * empty: the session they name is the client id, and an open's session id is made of the client
 * id and the open's log index); and the leader's clock (no client, data `clockData`), which gives
 * the log its time so that every updater forgets idle sessions at the same entry.
 */
import { MalformedMessageError } from '../errors.js';
import { indexMax } from '../limits.js';
import { LENGTH_BYTES, packPayloads, payloadLengthAt } from './packed-entries.js';
import { bufferView, decode, encode } from './codec.js';
import { configurationProblem, type GroupConfiguration, type Member } from '../core/configuration.js';

export const EntryType = { noop: 0, write: 1, sessionOpen: 2, sessionEnd: 3, clock: 4, configuration: 5 } as const;
export type EntryTypeNumber = (typeof EntryType)[keyof typeof EntryType];

/** Whether `type` (a payload's first byte) is an entry type raftline writes. */
export function isKnownEntryType(type: number): type is EntryTypeNumber {
  return type >= EntryType.noop && type <= EntryType.configuration && Number.isInteger(type);
}

/** The data of a configuration entry: the configuration as msgpack (its members with their addresses). */
export function encodeConfigurationData(configuration: GroupConfiguration): Uint8Array {
  return encode(configuration);
}

/** A configuration entry's data, or null when it is not a well-formed configuration. */
export function decodeConfigurationData(data: Uint8Array): GroupConfiguration | null {
  let value: unknown;
  try {
    value = decode(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const record = value as Record<string, unknown>;
  const members = (list: unknown): Member[] | null => {
    if (!Array.isArray(list) || list.length > membersMax) return null;
    const out: Member[] = [];
    for (const item of list) {
      if (typeof item !== 'object' || item === null) return null;
      const { id, address } = item as Record<string, unknown>;
      if (typeof id !== 'string' || typeof address !== 'string') return null;
      out.push({ id, address });
    }
    return out;
  };
  const voters = members(record['voters']);
  const learners = members(record['learners']);
  const outgoing = record['outgoing'] === null ? null : members(record['outgoing']);
  if (voters === null || learners === null || (record['outgoing'] !== null && outgoing === null)) return null;
  const configuration: GroupConfiguration = { voters, learners, outgoing };
  return configurationProblem(configuration) === null ? configuration : null;
}

/**
 * The configuration entries among `count` packed entries (checked already: packedProblem and
 * entryPayloadProblem), with their positions: one byte read per entry for the others.
 */
export function configurationsIn(packed: Uint8Array, count: number): { offset: number; configuration: GroupConfiguration }[] {
  const found: { offset: number; configuration: GroupConfiguration }[] = [];
  let at = LENGTH_BYTES;
  for (let offset = 0; offset < count; offset++) {
    const length = payloadLengthAt(packed, at);
    if (packed[at] === EntryType.configuration) {
      const body = new EntryDecoder().decodeAt(packed, at, at + length);
      const configuration = decodeConfigurationData(body.data);
      if (configuration !== null) found.push({ offset, configuration });
    }
    at += length + LENGTH_BYTES;
  }
  return found;
}

/** Most members a configuration entry may list in each of its sets. */
const membersMax = 1000;

/** The payload of a configuration entry (no client). */
export function configurationPayload(configuration: GroupConfiguration): Uint8Array {
  return encodeEntry({ type: EntryType.configuration, clientId: '', callId: 0, firstUnacked: 0, data: encodeConfigurationData(configuration) });
}

/** Bytes of a clock entry's data: f64 log time in ms, f64 session idle bound in ms. */
export const clockDataBytes = 16;

/** The data of a clock entry: the log's time and the idle bound its updaters apply. */
export function encodeClockData(logTimeMs: number, sessionIdleMsMax: number): Uint8Array {
  const data = Buffer.allocUnsafe(clockDataBytes);
  data.writeDoubleBE(logTimeMs, 0);
  data.writeDoubleBE(sessionIdleMsMax, 8);
  return data;
}

/** A clock entry's data, or null when it is not one (wrong size, or not finite non-negative numbers). */
export function decodeClockData(data: Uint8Array): { logTimeMs: number; sessionIdleMsMax: number } | null {
  if (data.length !== clockDataBytes) return null;
  const bytes = bufferView(data);
  const logTimeMs = bytes.readDoubleBE(0);
  const sessionIdleMsMax = bytes.readDoubleBE(8);
  if (!(logTimeMs >= 0 && logTimeMs < Infinity && sessionIdleMsMax >= 0 && sessionIdleMsMax < Infinity)) return null;
  return { logTimeMs, sessionIdleMsMax };
}

export interface EntryBody {
  type: EntryTypeNumber;
  clientId: string;
  callId: number;
  /** The client's lowest unacknowledged call id when it sent this write (retry-cache pruning). */
  firstUnacked: number;
  data: Uint8Array;
}

/** Longest client id an entry can carry, in UTF-8 bytes. */
export const entryClientIdBytesMax = 0xffff;
const fixedBytes = 1 + 2 + 8 + 8;

/** The client id in UTF-8, checked against the limit. */
export function entryClientIdUtf8(clientId: string): Buffer {
  const utf8 = Buffer.from(clientId, 'utf8');
  if (utf8.length > entryClientIdBytesMax) {
    throw new MalformedMessageError(`client id of ${utf8.length} bytes is over ${entryClientIdBytesMax}`);
  }
  return utf8;
}

/** Size of the payload of `body`, whose client id takes `idBytes` in UTF-8 (entryClientIdUtf8). */
export function entryPayloadBytes(idBytes: number, dataBytes: number): number {
  return fixedBytes + idBytes + dataBytes;
}

/**
 * Writes a payload at `offset` of `target` (the fields of EntryBody, the client id as its UTF-8
 * bytes from entryClientIdUtf8, encoded once per client, not per entry); returns the offset after it.
 */
export function encodeEntryInto(
  target: Buffer, offset: number, type: EntryTypeNumber, clientIdUtf8: Uint8Array, callId: number,
  firstUnacked: number, data: Uint8Array,
): number {
  const idBytes = clientIdUtf8.length;
  target[offset] = type;
  target.writeUInt16BE(idBytes, offset + 1);
  for (let i = 0; i < idBytes; i++) target[offset + 3 + i] = clientIdUtf8[i]!;
  let at = offset + 3 + idBytes;
  target.writeDoubleBE(callId, at);
  target.writeDoubleBE(firstUnacked, at + 8);
  at += 16;
  target.set(data, at);
  return at + data.length;
}

export function encodeEntry(body: EntryBody): Uint8Array {
  const clientIdUtf8 = entryClientIdUtf8(body.clientId);
  const payload = Buffer.allocUnsafe(entryPayloadBytes(clientIdUtf8.length, body.data.length));
  encodeEntryInto(payload, 0, body.type, clientIdUtf8, body.callId, body.firstUnacked, body.data);
  return payload;
}

export const noopPayload: Uint8Array = encodeEntry({
  type: EntryType.noop,
  clientId: '',
  callId: 0,
  firstUnacked: 0,
  data: new Uint8Array(0),
});

/** The no-op alone, as packed entries (a new leader's first entry). */
export const noopEntries: Uint8Array = packPayloads([noopPayload]);

/**
 * Why the payload at [start, end) of `source` is not an entry this server can apply, or null when
 * it is: a known type, a client id inside it, call ids that are integers within the ceiling, and
 * for a clock entry a log time and an idle bound (decodeClockData). The
 * gateway checks every entry of an AppendEntries with it before anything reaches the log, so a
 * log never holds an entry its updater cannot decode (a bad one would stop the server at every
 * restart). A few byte reads per entry; the data itself is the state machine's to judge.
 */
export function entryPayloadProblem(source: Uint8Array, start: number, end: number): string | null {
  if (end - start < fixedBytes) return `${end - start} bytes, shorter than an entry's ${fixedBytes}-byte header`;
  const type = source[start]!;
  if (!isKnownEntryType(type)) return `unknown entry type ${type}`;
  const bytes = bufferView(source);
  const idEnd = start + 3 + bytes.readUInt16BE(start + 1);
  if (idEnd + 16 > end) return 'client id runs past the end of the entry';
  const callId = bytes.readDoubleBE(idEnd);
  const firstUnacked = bytes.readDoubleBE(idEnd + 8);
  if (!isCallNumber(callId) || !isCallNumber(firstUnacked)) return `call ids ${callId}, ${firstUnacked} are not integers in [0, ${indexMax}]`;
  if (type === EntryType.clock && decodeClockData(source.subarray(idEnd + 16, end)) === null) {
    return 'a clock entry whose data is not a log time and an idle bound';
  }
  if (type === EntryType.configuration && decodeConfigurationData(source.subarray(idEnd + 16, end)) === null) {
    return 'a configuration entry whose data is not a valid configuration';
  }
  return null;
}

function isCallNumber(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= indexMax;
}

/**
 * Decodes entries; the client id of the previous entry is remembered, so a run of entries from
 * one client (the usual case: a client's calls arrive in batches) decodes its id once.
 */
export class EntryDecoder {
  private lastIdBytes = new Uint8Array(0);
  private lastId = '';

  decode(payload: Uint8Array): EntryBody {
    return this.decodeAt(payload, 0, payload.length);
  }

  /** Decodes the payload at [start, end) of `source` (packed entries, say) without a view of it. */
  decodeAt(source: Uint8Array, start: number, end: number): EntryBody {
    const bytes = bufferView(source);
    const size = end - start;
    if (size < fixedBytes) throw new MalformedMessageError(`log entry payload of ${size} bytes is too short`);
    const type = bytes[start]!;
    if (!isKnownEntryType(type)) {
      throw new MalformedMessageError(`log entry payload has unknown type ${type}`);
    }
    const idBytes = bytes.readUInt16BE(start + 1);
    const idEnd = start + 3 + idBytes;
    if (idEnd + 16 > end) throw new MalformedMessageError('log entry payload is shorter than its client id');
    const clientId = this.clientIdOf(bytes, start + 3, idEnd);
    return {
      type,
      clientId,
      callId: bytes.readDoubleBE(idEnd),
      firstUnacked: bytes.readDoubleBE(idEnd + 8),
      data: bytes.subarray(idEnd + 16, end),
    };
  }

  private clientIdOf(bytes: Buffer, start: number, end: number): string {
    const last = this.lastIdBytes;
    const length = end - start;
    if (last.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (last[i] !== bytes[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastId;
    }
    this.lastIdBytes = Uint8Array.prototype.slice.call(bytes, start, end);
    this.lastId = bytes.toString('utf8', start, end);
    return this.lastId;
  }
}
