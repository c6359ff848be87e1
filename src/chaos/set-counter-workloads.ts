/**
 * The two workloads whose writes are not idempotent, on the chaos state machine
 * (chaos-state-machine.ts):
 *  - append-set: clients append unique ids to one set through RaftClient (which retries a call
 *    under its callId across lost connections and leader changes), every fifth through a
 *    short-lived client of its own (connect, append, close: a session opened and ended through
 *    the log); after the faults heal, one linearizable read of the set: every acknowledged id is
 *    there, none twice, none never sent;
 *  - counter: impatient clients (retrying-caller.ts) increment a counter with forced timeouts and
 *    retries under the same callId, and one of them sends a few increments once, idles past the
 *    servers' session bound and sends them again; the final read must show no call applied twice,
 *    every acknowledged one applied, none applied that was refused (SESSION_EXPIRED within a
 *    deadline shorter than the bound included), and a value between the acknowledged and the
 *    possibly applied.
 */
import type { ClientTls } from '../shell/tls-identity.js';
import { RaftClient } from '../client/raft-client.js';
import type { SeededRng } from '../core/rng.js';
import {
  decodeCounter, decodeSet, encodeAppend, encodeIncrement, encodeReadCounter, encodeReadSet,
} from './chaos-state-machine.js';
import { RetryingCaller } from './retrying-caller.js';

export interface WorkloadBase {
  addresses: string[];
  /** The servers' session bound (Limits.sessionIdleMsMax). */
  sessionIdleMs: number;
  clients: number;
  stopAtMs: number;
  rng: SeededRng;
  /** Called when a write completes ok: when it was invoked, when it completed. */
  onWriteOk(invokedMs: number, completedMs: number): void;
  /** The clients' TLS (a TLS cluster). */
  tls?: ClientTls;
}

function tlsOf(options: WorkloadBase): { tls?: ClientTls } {
  return options.tls === undefined ? {} : { tls: options.tls };
}

/** What a final check found; the run fails unless all counts are zero. */
export interface WriteCheck {
  operations: number;
  acknowledged: number;
  /** Writes whose outcome the client never learned (they may or may not have been applied). */
  unknown: number;
  /** Copies sent (attempts); above `operations` when calls were retried. */
  attempts: number;
  /** Acknowledged writes missing from the final state. */
  lostWrites: number;
  /** Writes applied more than once (each extra application counts). */
  duplicateApplies: number;
  /** Values in the final state that no client ever sent. */
  phantoms: number;
  problems: string[];
}

export interface SetWorkload {
  /** Checks the set after the faults healed (retries the read until `deadlineMs`). */
  check(deadlineMs: number): Promise<WriteCheck>;
  done: Promise<void>;
}

const setName = 'chaos-set';

export function startAppendSetWorkload(options: WorkloadBase & { requestTimeoutMs: number }): SetWorkload {
  const sent = new Set<string>();
  const acknowledged = new Set<string>();
  let unknown = 0;
  const clients: RaftClient[] = [];
  const connect = (): Promise<RaftClient> =>
    RaftClient.connect({ peers: options.addresses, requestTimeoutMs: options.requestTimeoutMs, retry: { delayMsMin: 10, delayMsMax: 200 }, ...tlsOf(options) });
  const worker = async (c: number): Promise<void> => {
    const client = await connect();
    clients.push(client);
    for (let n = 0; Date.now() < options.stopAtMs; n++) {
      const id = `a${c}-${n}`;
      sent.add(id);
      const invokedMs = Date.now();
      // Every fifth append by a client of its own, closed at once: sessions come and go.
      const shortLived = n % 5 === 4 ? await connect() : null;
      try {
        await (shortLived ?? client).send(encodeAppend(setName, id));
        acknowledged.add(id);
        options.onWriteOk(invokedMs, Date.now());
      } catch {
        // Unknown: it may still be applied; it is never sent again under another callId.
        unknown++;
      } finally {
        await shortLived?.close();
      }
    }
  };
  const done = Promise.all(Array.from({ length: options.clients }, (_, c) => worker(c))).then(async () => {
    await Promise.all(clients.map((client) => client.close()));
  });
  return {
    done,
    async check(deadlineMs) {
      const items = decodeSet(await readUntil(options, encodeReadSet(setName), deadlineMs));
      const problems: string[] = [];
      const counts = new Map<string, number>();
      for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
      let duplicateApplies = 0;
      let phantoms = 0;
      let lostWrites = 0;
      for (const [item, count] of counts) {
        if (count > 1) {
          duplicateApplies += count - 1;
          problems.push(`append-set: ${item} appears ${count} times`);
        }
        if (!sent.has(item)) {
          phantoms++;
          problems.push(`append-set: ${item} was never sent`);
        }
      }
      for (const item of acknowledged) {
        if (!counts.has(item)) {
          lostWrites++;
          problems.push(`append-set: acknowledged ${item} is missing`);
        }
      }
      return {
        operations: sent.size, acknowledged: acknowledged.size, unknown, attempts: sent.size, lostWrites, duplicateApplies, phantoms,
        problems: problems.slice(0, 20),
      };
    },
  };
}

export function startCounterWorkload(options: WorkloadBase & { attemptTimeoutMsMax: number; callDeadlineMs: number }): SetWorkload {
  const sent = new Set<string>();
  const acknowledged = new Set<string>();
  const refused = new Set<string>();
  let attempts = 0;
  const callers: RetryingCaller[] = [];
  const worker = async (c: number): Promise<void> => {
    const caller = new RetryingCaller(options.addresses, `counter-${c}-${options.rng.nextUint32().toString(16)}`, options.rng, 'default', options.tls);
    callers.push(caller);
    for (let callId = 1; Date.now() < options.stopAtMs; callId++) {
      const tag = `${caller.clientId}:${callId}`;
      sent.add(tag);
      const invokedMs = Date.now();
      // Attempt deadlines from a few ms (shorter than a commit: a forced timeout) upwards.
      const attemptMs = (): number => options.rng.intBetween(2, options.attemptTimeoutMsMax);
      // The first client's 5th and 40th calls go once, then again after idling past the bound
      // (and its clock entries: two periods of a quarter bound each) plus a second.
      const late = c === 0 && (callId === 5 || callId === 40) && Date.now() + 2 * options.sessionIdleMs < options.stopAtMs;
      const outcome = late
        ? await caller.callLate(callId, encodeIncrement(tag), 1.5 * options.sessionIdleMs + 1000, Date.now() + options.callDeadlineMs, attemptMs)
        : await caller.call(callId, encodeIncrement(tag), Date.now() + options.callDeadlineMs, attemptMs);
      attempts += outcome.attempts;
      if (outcome.kind === 'ok') {
        acknowledged.add(tag);
        options.onWriteOk(invokedMs, Date.now());
      } else if (outcome.kind === 'failed') {
        refused.add(tag);
      }
    }
  };
  const done = Promise.all(Array.from({ length: options.clients }, (_, c) => worker(c))).then(() => {
    for (const caller of callers) caller.close();
  });
  return {
    done,
    async check(deadlineMs) {
      const state = decodeCounter(await readUntil(options, encodeReadCounter(), deadlineMs));
      const problems: string[] = [];
      let duplicateApplies = 0;
      let phantoms = 0;
      let lostWrites = 0;
      let total = 0;
      for (const [tag, count] of Object.entries(state.applied)) {
        total += count;
        if (count > 1) {
          duplicateApplies += count - 1;
          problems.push(`counter: call ${tag} applied ${count} times`);
        }
        if (!sent.has(tag) || refused.has(tag)) {
          phantoms++;
          problems.push(`counter: call ${tag} applied but ${refused.has(tag) ? 'refused' : 'never sent'}`);
        }
      }
      for (const tag of acknowledged) {
        if (state.applied[tag] === undefined) {
          lostWrites++;
          problems.push(`counter: acknowledged call ${tag} was not applied`);
        }
      }
      const possible = sent.size - refused.size;
      if (state.value !== total) problems.push(`counter: value ${state.value} but ${total} applications recorded`);
      if (state.value < acknowledged.size) problems.push(`counter: value ${state.value} below ${acknowledged.size} acknowledged increments`);
      if (state.value > possible) {
        duplicateApplies = Math.max(duplicateApplies, state.value - possible);
        problems.push(`counter: value ${state.value} above ${possible} increments that may have been applied`);
      }
      return {
        operations: sent.size, acknowledged: acknowledged.size, unknown: possible - acknowledged.size, attempts, lostWrites, duplicateApplies, phantoms,
        problems: problems.slice(0, 20),
      };
    },
  };
}

/** A linearizable read, retried until it answers or `deadlineMs` passes (then it throws). */
async function readUntil(options: WorkloadBase, query: Uint8Array, deadlineMs: number): Promise<Uint8Array | null> {
  const client = await RaftClient.connect({ peers: options.addresses, requestTimeoutMs: 5000, retry: { delayMsMin: 10, delayMsMax: 200 }, ...tlsOf(options) });
  try {
    for (;;) {
      try {
        return await client.sendReadOnly(query);
      } catch (error) {
        if (Date.now() > deadlineMs) throw error;
      }
    }
  } finally {
    await client.close();
  }
}
