/**
 * The gateway: every frame from a socket is checked and decoded here, once. First the raw bytes'
 * shape (frame-shape.ts: declared counts, nesting, item count, no extension types), then msgpackr
 * decodes, then each field is checked against its kind's schema. Code past this point trusts the
 * shapes in messages.ts. A frame that fails is a MalformedMessageError, which closes only the
 * connection it came on.
 */
import { decode } from './codec.js';
import { packedProblem } from './packed-entries.js';
import { Kind, kindName } from './kinds.js';
import { frameShapeProblem, type FrameShapeLimits } from './frame-shape.js';
import { MalformedMessageError } from '../errors.js';
import { defaultLimits, indexMax, termMax } from '../limits.js';
import { entryPayloadProblem } from './entry.js';
import {
  adminOperations, RequestType, watchLevels, type AppendEntriesMessage, type ClientMessage, type InboundMessage, type PeerMessage, type ServerToClientMessage,
} from './messages.js';

export type { FrameShapeLimits } from './frame-shape.js';

/** The shape limits of the defaults, for a side that has no configured limits (a client). */
export const defaultFrameShape: Readonly<FrameShapeLimits> = {
  nestingDepthMax: defaultLimits.frameNestingDepthMax,
  itemsMax: defaultLimits.frameItemsMax,
};

/**
 * 'number': an index or counter, an integer in [0, indexMax]; 'term': an integer in [0, termMax]
 * (limits.ts: the ceilings leave room for every sum and next term to stay exact).
 */
type FieldType = 'array' | 'number' | 'numberOrAbsent' | 'numbersOrAbsent' | 'booleanOrAbsent' | 'term' | 'string' | 'boolean' | 'bytes' | 'numbers' | 'bytesArray' | 'stringOrNull' | 'bytesOrNull' | 'object' | 'objectOrNull'
  | 'bytesOrNullArray' | 'objectOrNullArray';

const schemas: Record<number, Record<string, FieldType>> = {
  [Kind.AppendEntries]: {
    g: 'string', from: 'string', term: 'term', prevIndex: 'number', prevTerm: 'term',
    leaderCommit: 'number', terms: 'array', entries: 'bytes', seq: 'number', round: 'number',
  },
  [Kind.AppendEntriesReply]: {
    g: 'string', from: 'string', term: 'term', success: 'boolean', matchIndex: 'number',
    nextIndexHint: 'number', seq: 'number', round: 'number',
  },
  [Kind.InstallSnapshot]: {
    g: 'string', from: 'string', term: 'term', seq: 'number', manifest: 'object', file: 'number', offset: 'number',
    data: 'bytes', crc32c: 'number',
  },
  [Kind.InstallSnapshotReply]: {
    g: 'string', from: 'string', term: 'term', seq: 'number', success: 'boolean', file: 'number', offset: 'number',
    installed: 'boolean', matchIndex: 'number', error: 'objectOrNull',
  },
  [Kind.VoteRequest]: {
    g: 'string', from: 'string', preVote: 'boolean', term: 'term', candidateId: 'string',
    lastIndex: 'number', lastTerm: 'term', transfer: 'booleanOrAbsent',
  },
  [Kind.TimeoutNow]: { g: 'string', from: 'string', term: 'term' },
  [Kind.ReadIndexRequest]: { g: 'string', from: 'string', term: 'term', requestId: 'number' },
  [Kind.ReadIndexReply]: {
    g: 'string', from: 'string', term: 'term', requestId: 'number', ok: 'boolean', readIndex: 'number', error: 'objectOrNull',
  },
  [Kind.VoteResponse]: { g: 'string', from: 'string', preVote: 'boolean', term: 'term', granted: 'boolean' },
  [Kind.Refused]: { error: 'object' },
  [Kind.PeerHello]: { g: 'string', from: 'string' },
  [Kind.ClientRequest]: {
    g: 'string', clientId: 'string', callId: 'number', firstUnacked: 'number', type: 'number', data: 'bytes', minIndex: 'numberOrAbsent',
  },
  [Kind.ClientReply]: { callId: 'number', ok: 'boolean', result: 'bytesOrNull', error: 'objectOrNull', index: 'number' },
  [Kind.ClientRequestBatch]: {
    g: 'string', clientId: 'string', firstUnacked: 'number', callIds: 'numbers', types: 'numbers', data: 'bytesArray',
    minIndexes: 'numbersOrAbsent',
  },
  [Kind.ClientReplyBatch]: { callIds: 'numbers', indexes: 'numbers', results: 'bytesOrNullArray', errors: 'objectOrNullArray' },
  [Kind.StatusRequest]: { g: 'string', callId: 'number' },
  [Kind.StatusReply]: { callId: 'number', status: 'object' },
  [Kind.MetricsRequest]: { g: 'string', callId: 'number', reset: 'boolean' },
  [Kind.MetricsReply]: { callId: 'number', metrics: 'object' },
  [Kind.SnapshotRequest]: { g: 'string', callId: 'number' },
  [Kind.SnapshotReply]: { callId: 'number', ok: 'boolean', snapshot: 'objectOrNull', error: 'objectOrNull' },
  [Kind.AdminRequest]: { g: 'string', callId: 'number', operation: 'object' },
  [Kind.AdminReply]: { callId: 'number', ok: 'boolean', result: 'objectOrNull', error: 'objectOrNull' },
};

const peerKinds = new Set<number>([
  Kind.AppendEntries, Kind.AppendEntriesReply, Kind.InstallSnapshotReply, Kind.VoteRequest, Kind.VoteResponse, Kind.Refused,
]);
const clientKinds = new Set<number>([
  Kind.ClientRequest, Kind.ClientRequestBatch, Kind.StatusRequest, Kind.MetricsRequest, Kind.SnapshotRequest, Kind.AdminRequest,
]);
const inboundKinds = new Set<number>([
  Kind.AppendEntries, Kind.InstallSnapshot, Kind.VoteRequest, Kind.VoteResponse, Kind.TimeoutNow, Kind.PeerHello, Kind.ReadIndexRequest,
  Kind.ReadIndexReply, Kind.ClientRequest, Kind.ClientRequestBatch, Kind.StatusRequest,
  Kind.MetricsRequest, Kind.SnapshotRequest, Kind.AdminRequest,
]);
const requestTypes = new Set<number>(Object.values(RequestType));
const serverToClientKinds = new Set<number>([
  Kind.ClientReply, Kind.ClientReplyBatch, Kind.StatusReply, Kind.MetricsReply, Kind.SnapshotReply, Kind.AdminReply, Kind.Refused,
]);

/** Every number on the wire is an index, term, id or count: a non-negative integer within its ceiling. */
function isCount(value: unknown, max = indexMax): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

const isCountItem = (value: unknown): boolean => isCount(value);

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function checkField(kind: number, name: string, type: FieldType, value: unknown): void {
  let ok: boolean;
  switch (type) {
    case 'array': ok = Array.isArray(value); break;
    case 'number': ok = isCount(value); break;
    case 'numberOrAbsent': ok = value === undefined || isCount(value); break;
    case 'numbersOrAbsent': ok = value === undefined || (Array.isArray(value) && value.every(isCountItem)); break;
    case 'term': ok = isCount(value, termMax); break;
    case 'string': ok = typeof value === 'string'; break;
    case 'boolean': ok = typeof value === 'boolean'; break;
    case 'booleanOrAbsent': ok = value === undefined || typeof value === 'boolean'; break;
    case 'bytes': ok = isBytes(value); break;
    case 'numbers': ok = Array.isArray(value) && value.every(isCountItem); break;
    case 'bytesArray': ok = Array.isArray(value) && value.every(isBytes); break;
    case 'stringOrNull': ok = value === null || typeof value === 'string'; break;
    case 'bytesOrNull': ok = value === null || isBytes(value); break;
    case 'object': ok = typeof value === 'object' && value !== null; break;
    case 'objectOrNull': ok = value === null || (typeof value === 'object'); break;
    case 'bytesOrNullArray': ok = Array.isArray(value) && value.every((item) => item === null || isBytes(item)); break;
    case 'objectOrNullArray': ok = Array.isArray(value) && value.every((item) => typeof item === 'object'); break;
  }
  if (!ok) {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && (type === 'number' || type === 'term')) {
      const max = type === 'term' ? termMax : indexMax;
      throw new MalformedMessageError(`${kindName(kind)}: field '${name}' is ${value}, over the ceiling of ${max}`,
        { kind, field: name, value, max });
    }
    throw new MalformedMessageError(`${kindName(kind)}: field '${name}' is not ${type}`, { kind, field: name });
  }
}

function decodeChecked(body: Uint8Array, allowed: ReadonlySet<number>, shape: FrameShapeLimits): Record<string, unknown> {
  const problem = frameShapeProblem(body, shape);
  if (problem !== null) throw new MalformedMessageError(`frame refused before decoding: ${problem}`, { sizeBytes: body.length });
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

/**
 * The terms of an AppendEntries, in the one pass over them: each a term (>= 1), never
 * decreasing (a Raft log's terms never do, §5.3), none before the previous entry's term nor after
 * the request's term; and no previous term before the first entry (previous index 0). A correct
 * leader never sends anything else, and the follower's log bookkeeping asserts all of it. The
 * packed entries must hold exactly one payload per term, each length inside the bytes, and each
 * payload must be an entry this server can apply (entry.ts, entryPayloadProblem): a bad batch closes
 * its connection here, and nothing of it reaches the log.
 */
function checkAppendEntries(message: AppendEntriesMessage): void {
  const { terms, entries, term, prevIndex, prevTerm } = message;
  const problem = packedProblem(entries, terms.length, entryPayloadProblem);
  if (problem !== null) {
    throw new MalformedMessageError(`AppendEntries: entries do not match their ${terms.length} terms: ${problem}`, { kind: Kind.AppendEntries, field: 'entries' });
  }
  if (prevTerm > term || (prevIndex === 0 && prevTerm !== 0)) {
    throw new MalformedMessageError(`AppendEntries: previous entry (${prevIndex}, term ${prevTerm}) does not fit term ${term}`);
  }
  let previous = Math.max(prevTerm, 1);
  for (let i = 0; i < terms.length; i++) {
    const entryTerm = terms[i];
    if (!isCount(entryTerm) || entryTerm < previous || entryTerm > term) {
      throw new MalformedMessageError(`AppendEntries: entry term ${String(entryTerm)} at position ${i} is not in [${previous}, ${term}]`,
        { kind: Kind.AppendEntries, field: 'terms' });
    }
    previous = entryTerm;
  }
}

/** An admin operation is one of the known ones, with its fields of their types (messages.ts, AdminOperation). */
function checkAdminOperation(operation: Record<string, unknown>): void {
  const op = operation['op'];
  if (typeof op !== 'string' || !(adminOperations as readonly string[]).includes(op)) {
    throw new MalformedMessageError(`AdminRequest: unknown operation ${String(op)}`, { kind: Kind.AdminRequest, field: 'operation.op' });
  }
  const isMember = (item: unknown): boolean => typeof item === 'object' && item !== null &&
    typeof (item as Record<string, unknown>)['id'] === 'string' && typeof (item as Record<string, unknown>)['address'] === 'string';
  const refuse = (field: string, what: string): never => {
    throw new MalformedMessageError(`AdminRequest: operation.${field} is not ${what}`, { kind: Kind.AdminRequest, field: `operation.${field}` });
  };
  if (op === 'setConfiguration') {
    for (const field of ['voters', 'learners']) {
      const list = operation[field];
      if (!Array.isArray(list) || !list.every(isMember)) refuse(field, 'a list of { id, address }');
    }
    checkField(Kind.AdminRequest, 'operation.catchUpTimeoutMs', 'number', operation['catchUpTimeoutMs']);
  } else if (op === 'addServer') {
    if (!isMember(operation['member'])) refuse('member', '{ id, address }');
    checkField(Kind.AdminRequest, 'operation.learner', 'boolean', operation['learner']);
    checkField(Kind.AdminRequest, 'operation.catchUpTimeoutMs', 'number', operation['catchUpTimeoutMs']);
  } else if (op === 'removeServer') {
    checkField(Kind.AdminRequest, 'operation.id', 'string', operation['id']);
  }
  if (op === 'watch') {
    checkField(Kind.AdminRequest, 'operation.index', 'number', operation['index']);
    checkField(Kind.AdminRequest, 'operation.timeoutMs', 'number', operation['timeoutMs']);
    if (!(watchLevels as readonly unknown[]).includes(operation['level'])) refuse('level', `one of ${watchLevels.join(', ')}`);
  }
  if (op === 'transferLeadership') {
    checkField(Kind.AdminRequest, 'operation.to', 'stringOrNull', operation['to']);
    checkField(Kind.AdminRequest, 'operation.timeoutMs', 'number', operation['timeoutMs']);
    if (operation['term'] !== undefined) checkField(Kind.AdminRequest, 'operation.term', 'term', operation['term']);
    if ((operation['timeoutMs'] as number) < 1) {
      throw new MalformedMessageError('AdminRequest: operation.timeoutMs must be at least 1', { kind: Kind.AdminRequest, field: 'operation.timeoutMs' });
    }
  }
}

/** Rules across fields, once each field has its type. */
function checkRelations(message: Record<string, unknown>): void {
  const kind = message['k'];
  if (kind === Kind.AppendEntries) {
    checkAppendEntries(message as unknown as AppendEntriesMessage);
  } else if (kind === Kind.InstallSnapshot || kind === Kind.InstallSnapshotReply) {
    // The manifest's own fields are checked by the snapshot store when an install begins (SNAPSHOT_REJECTED).
    if (message['crc32c'] !== undefined && (message['crc32c'] as number) > 0xffffffff) {
      throw new MalformedMessageError(`${kindName(kind as number)}: crc32c is not a 32-bit value`, { kind, field: 'crc32c' });
    }
  } else if (kind === Kind.ClientRequestBatch) {
    const count = (message['callIds'] as number[]).length;
    const types = message['types'] as number[];
    const minIndexes = message['minIndexes'] as number[] | undefined;
    if (types.length !== count || (message['data'] as Uint8Array[]).length !== count || (minIndexes !== undefined && minIndexes.length !== count)) {
      throw new MalformedMessageError('ClientRequestBatch: callIds, types, data and minIndexes differ in length', { kind });
    }
    for (const type of types) {
      if (!requestTypes.has(type)) {
        throw new MalformedMessageError(`ClientRequestBatch: unknown request type ${type}`, { kind, field: 'types' });
      }
    }
  } else if (kind === Kind.AdminRequest) {
    checkAdminOperation(message['operation'] as Record<string, unknown>);
  } else if (kind === Kind.ClientReplyBatch) {
    const count = (message['callIds'] as number[]).length;
    if ((message['indexes'] as number[]).length !== count || (message['results'] as unknown[]).length !== count ||
        (message['errors'] as unknown[]).length !== count) {
      throw new MalformedMessageError('ClientReplyBatch: columns differ in length', { kind });
    }
  }
}

export function decodePeerMessage(body: Uint8Array, shape: FrameShapeLimits = defaultFrameShape): PeerMessage {
  const message = decodeChecked(body, peerKinds, shape);
  checkRelations(message);
  return message as unknown as PeerMessage;
}

/** What a server's listener accepts: requests and hellos from peers, requests from clients, on one port. */
export function decodeInboundMessage(body: Uint8Array, shape: FrameShapeLimits = defaultFrameShape): InboundMessage {
  const message = decodeChecked(body, inboundKinds, shape);
  checkRelations(message);
  return message as unknown as InboundMessage;
}

export function decodeClientMessage(body: Uint8Array, shape: FrameShapeLimits = defaultFrameShape): ClientMessage {
  const message = decodeChecked(body, clientKinds, shape);
  checkRelations(message);
  return message as unknown as ClientMessage;
}

export function decodeServerToClientMessage(body: Uint8Array, shape: FrameShapeLimits = defaultFrameShape): ServerToClientMessage {
  const message = decodeChecked(body, serverToClientKinds, shape);
  checkRelations(message);
  return message as unknown as ServerToClientMessage;
}
