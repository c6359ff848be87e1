/**
 * The gateway: every frame from a socket is decoded and checked here, once. Code past this point
 * trusts the shapes in messages.ts. A frame that fails is a MalformedMessageError, which closes
 * only the connection it came on.
 */
import { decode } from './codec.js';
import { Kind, kindName } from './kinds.js';
import { MalformedMessageError } from '../errors.js';
import { RequestType, type ClientMessage, type PeerMessage, type ServerToClientMessage } from './messages.js';

type FieldType = 'number' | 'string' | 'boolean' | 'bytes' | 'numbers' | 'bytesArray' | 'stringOrNull' | 'bytesOrNull' | 'object' | 'objectOrNull'
  | 'bytesOrNullArray' | 'objectOrNullArray';

const schemas: Record<number, Record<string, FieldType>> = {
  [Kind.AppendEntries]: {
    g: 'string', from: 'string', term: 'number', prevIndex: 'number', prevTerm: 'number',
    leaderCommit: 'number', terms: 'numbers', entries: 'bytesArray', seq: 'number', round: 'number',
  },
  [Kind.AppendEntriesReply]: {
    g: 'string', from: 'string', term: 'number', success: 'boolean', matchIndex: 'number',
    nextIndexHint: 'number', seq: 'number', round: 'number',
  },
  [Kind.VoteRequest]: {
    g: 'string', from: 'string', preVote: 'boolean', term: 'number', candidateId: 'string',
    lastIndex: 'number', lastTerm: 'number',
  },
  [Kind.VoteResponse]: { g: 'string', from: 'string', preVote: 'boolean', term: 'number', granted: 'boolean' },
  [Kind.Refused]: { error: 'object' },
  [Kind.ClientRequest]: {
    g: 'string', clientId: 'string', callId: 'number', firstUnacked: 'number', type: 'number', data: 'bytes',
  },
  [Kind.ClientReply]: { callId: 'number', ok: 'boolean', result: 'bytesOrNull', error: 'objectOrNull', index: 'number' },
  [Kind.ClientRequestBatch]: {
    g: 'string', clientId: 'string', firstUnacked: 'number', callIds: 'numbers', types: 'numbers', data: 'bytesArray',
  },
  [Kind.ClientReplyBatch]: { callIds: 'numbers', indexes: 'numbers', results: 'bytesOrNullArray', errors: 'objectOrNullArray' },
  [Kind.StatusRequest]: { g: 'string', callId: 'number' },
  [Kind.StatusReply]: { callId: 'number', status: 'object' },
};

const peerKinds = new Set<number>([Kind.AppendEntries, Kind.AppendEntriesReply, Kind.VoteRequest, Kind.VoteResponse, Kind.Refused]);
const clientKinds = new Set<number>([Kind.ClientRequest, Kind.ClientRequestBatch, Kind.StatusRequest]);
const inboundKinds = new Set<number>([
  Kind.AppendEntries, Kind.VoteRequest, Kind.VoteResponse, Kind.ClientRequest, Kind.ClientRequestBatch, Kind.StatusRequest,
]);
const requestTypes = new Set<number>(Object.values(RequestType));
const serverToClientKinds = new Set<number>([Kind.ClientReply, Kind.ClientReplyBatch, Kind.StatusReply, Kind.Refused]);

/** Every number on the wire is an index, term, id or count: a non-negative safe integer. */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function checkField(kind: number, name: string, type: FieldType, value: unknown): void {
  let ok: boolean;
  switch (type) {
    case 'number': ok = isCount(value); break;
    case 'string': ok = typeof value === 'string'; break;
    case 'boolean': ok = typeof value === 'boolean'; break;
    case 'bytes': ok = isBytes(value); break;
    case 'numbers': ok = Array.isArray(value) && value.every(isCount); break;
    case 'bytesArray': ok = Array.isArray(value) && value.every(isBytes); break;
    case 'stringOrNull': ok = value === null || typeof value === 'string'; break;
    case 'bytesOrNull': ok = value === null || isBytes(value); break;
    case 'object': ok = typeof value === 'object' && value !== null; break;
    case 'objectOrNull': ok = value === null || (typeof value === 'object'); break;
    case 'bytesOrNullArray': ok = Array.isArray(value) && value.every((item) => item === null || isBytes(item)); break;
    case 'objectOrNullArray': ok = Array.isArray(value) && value.every((item) => typeof item === 'object'); break;
  }
  if (!ok) {
    throw new MalformedMessageError(`${kindName(kind)}: field '${name}' is not ${type}`, { kind, field: name });
  }
}

function decodeChecked(body: Uint8Array, allowed: ReadonlySet<number>): Record<string, unknown> {
  let value: unknown;
  try {
    value = decode(body);
  } catch (error) {
    throw new MalformedMessageError(`frame does not decode: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedMessageError('frame is not a message object');
  }
  const message = value as Record<string, unknown>;
  const kind = message['k'];
  if (typeof kind !== 'number' || !allowed.has(kind)) {
    throw new MalformedMessageError(`frame has unknown or unexpected kind ${String(kind)}`, { kind: String(kind) });
  }
  const schema = schemas[kind]!;
  for (const name in schema) checkField(kind, name, schema[name]!, message[name]);
  if (kind === Kind.ClientRequest && !requestTypes.has(message['type'] as number)) {
    // Any other value would be served as a write by the request dispatch.
    throw new MalformedMessageError(`ClientRequest: unknown request type ${String(message['type'])}`, { kind, field: 'type' });
  }
  return message;
}

/** Rules across fields, once each field has its type. */
function checkRelations(message: Record<string, unknown>): void {
  const kind = message['k'];
  if (kind === Kind.AppendEntries) {
    const terms = message['terms'] as number[];
    const entries = message['entries'] as Uint8Array[];
    if (terms.length !== entries.length) {
      throw new MalformedMessageError('AppendEntries: terms and entries differ in length');
    }
  } else if (kind === Kind.ClientRequestBatch) {
    const count = (message['callIds'] as number[]).length;
    const types = message['types'] as number[];
    if (types.length !== count || (message['data'] as Uint8Array[]).length !== count) {
      throw new MalformedMessageError('ClientRequestBatch: callIds, types and data differ in length', { kind });
    }
    for (const type of types) {
      if (!requestTypes.has(type)) {
        throw new MalformedMessageError(`ClientRequestBatch: unknown request type ${type}`, { kind, field: 'types' });
      }
    }
  } else if (kind === Kind.ClientReplyBatch) {
    const count = (message['callIds'] as number[]).length;
    if ((message['indexes'] as number[]).length !== count || (message['results'] as unknown[]).length !== count ||
        (message['errors'] as unknown[]).length !== count) {
      throw new MalformedMessageError('ClientReplyBatch: columns differ in length', { kind });
    }
  }
}

export function decodePeerMessage(body: Uint8Array): PeerMessage {
  const message = decodeChecked(body, peerKinds);
  checkRelations(message);
  return message as unknown as PeerMessage;
}

/** What a server's listener accepts: requests from peers and from clients on one port. */
export function decodeInboundMessage(body: Uint8Array): ClientMessage | PeerMessage {
  const message = decodeChecked(body, inboundKinds);
  checkRelations(message);
  return message as unknown as ClientMessage | PeerMessage;
}

export function decodeClientMessage(body: Uint8Array): ClientMessage {
  const message = decodeChecked(body, clientKinds);
  checkRelations(message);
  return message as unknown as ClientMessage;
}

export function decodeServerToClientMessage(body: Uint8Array): ServerToClientMessage {
  const message = decodeChecked(body, serverToClientKinds);
  checkRelations(message);
  return message as unknown as ServerToClientMessage;
}
