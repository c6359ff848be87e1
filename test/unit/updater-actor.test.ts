/**
 * The updater actor alone, inline: committed entries are applied strictly in log order
 * (applyTransactionSerial, then applyTransaction), results of async applies may complete out of
 * order and each reaches the server with its call, and the applied index reported never passes
 * an apply that has not settled. A retried call in the log is applied once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { UpdaterActor } from '../../src/actors/updater-actor.js';
import { ActorLink } from '../../src/shell/actor-link.js';
import { Kind } from '../../src/messages/kinds.js';
import { encodeEntry, EntryType } from '../../src/messages/entry.js';
import { packPayloads } from '../../src/messages/packed-entries.js';
import { decode, encode } from '../../src/messages/codec.js';
import type {
  UpdaterAppliedMessage, UpdaterInput, UpdaterLogInput, UpdaterQueryResultMessage,
} from '../../src/messages/messages.js';

const asyncModule = fileURLToPath(new URL('../support/async-sm.js', import.meta.url));

/** The entry that opens client `clientId`'s session; at index i the session is `${clientId}@${i}`. */
function openPayload(clientId: string): Uint8Array {
  return encodeEntry({ type: EntryType.sessionOpen, clientId, callId: 0, firstUnacked: 0, data: new Uint8Array(0) });
}

test('async applies: calls in log order, results out of order, applied index only over settled applies, retries applied once', { timeout: 10_000 }, async () => {
  const main = new MessageChannel();
  const log = new MessageChannel();
  const updater = new UpdaterActor({ stateMachine: asyncModule, context: { serverId: 'n1', groupId: 'g', dir: os.tmpdir() } }, {
    main: new ActorLink(main.port2), log: new ActorLink(log.port2),
  });
  const toUpdater = new ActorLink<UpdaterAppliedMessage | UpdaterQueryResultMessage, UpdaterInput>(main.port1);
  const fromLog = new ActorLink<never, UpdaterLogInput>(log.port1);
  const results: { index: number; result: Uint8Array | null }[] = [];
  const appliedReports: number[] = [];
  let answer: ((value: { serialCalls: number[]; applyCalls: number[] }) => void) | null = null;
  try {
    // The log's first message at start: no snapshot to load.
    fromLog.send({ k: Kind.UpdaterRestore, snapshot: null });
    await updater.start();
    toUpdater.onMessage((message) => {
      if (message.k === Kind.UpdaterApplied) {
        // The applied index claimed never passes an entry whose result has not been reported.
        message.indexes.forEach((index, i) => results.push({ index, result: message.results[i]! }));
        assert.ok(message.errors.every((error) => error === null), 'no apply failed');
        for (let index = 2; index <= message.appliedIndex; index++) {
          assert.ok(results.some((result) => result.index === index), `applied ${message.appliedIndex} reported before ${index} settled`);
        }
        appliedReports.push(message.appliedIndex);
      } else {
        answer?.(decode(message.result!) as { serialCalls: number[]; applyCalls: number[] });
      }
    });
    // Index 1 opens client c's session c@1; 2..9 are its writes; 10 repeats call 3 (a retry after a leader change).
    const payloads = [openPayload('c')];
    for (let call = 1; call <= 8; call++) {
      payloads.push(encodeEntry({ type: EntryType.write, clientId: 'c@1', callId: call, firstUnacked: 1, data: encode(`v${call}`) }));
    }
    payloads.push(encodeEntry({ type: EntryType.write, clientId: 'c@1', callId: 3, firstUnacked: 1, data: encode('v3') }));
    fromLog.send({ k: Kind.UpdaterEntries, firstIndex: 1, terms: payloads.map(() => 1), entries: packPayloads(payloads) });
    toUpdater.send({ k: Kind.UpdaterCommit, commitIndex: 10, truncations: 0 });
    const deadline = Date.now() + 5000;
    while (!appliedReports.includes(10) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(appliedReports.includes(10), 'everything settled and was reported');
    const calls = await new Promise<{ serialCalls: number[]; applyCalls: number[] }>((resolve) => {
      answer = resolve;
      toUpdater.send({ k: Kind.UpdaterQuery, queryId: 1, data: encode('calls'), stale: true });
    });
    assert.deepEqual(calls.serialCalls, [2, 3, 4, 5, 6, 7, 8, 9], 'serial calls in log order, the retry not applied');
    assert.deepEqual(calls.applyCalls, [2, 3, 4, 5, 6, 7, 8, 9], 'apply calls in log order');
    const firstResults = results.filter((result) => result.index >= 2 && result.index <= 9);
    assert.notDeepEqual(firstResults.map((result) => result.index), [2, 3, 4, 5, 6, 7, 8, 9], 'results completed out of order');
    // Index i holds call i - 1, whose value is `v${i - 1}`.
    for (const result of firstResults) assert.equal(decode(result.result!), `applied v${result.index - 1}`);
    const retry = results.find((result) => result.index === 10);
    assert.ok(retry !== undefined);
    assert.equal(decode(retry.result!), 'applied v3', 'the retry (call 3 again) gets the first outcome');
  } finally {
    await updater.stop();
    for (const channel of [main, log]) { channel.port1.close(); channel.port2.close(); }
  }
});

test('a commit index that rides with entries from the log applies them without one from the server; a truncation before it is seen first; a retried write is applied once', { timeout: 10_000 }, async () => {
  const { encodeCas, encodeGet, encodePut } = await import('../../src/statemachines/kv-ops.js');
  const main = new MessageChannel();
  const log = new MessageChannel();
  const updater = new UpdaterActor({ stateMachine: 'kv', context: { serverId: 'n2', groupId: 'g', dir: os.tmpdir() } }, {
    main: new ActorLink(main.port2), log: new ActorLink(log.port2),
  });
  const toUpdater = new ActorLink<UpdaterAppliedMessage | UpdaterQueryResultMessage, UpdaterInput>(main.port1);
  const fromLog = new ActorLink<never, UpdaterLogInput>(log.port1);
  const applied: number[] = [];
  const answers = new Map<number, unknown>();
  const put = (callId: number, value: string, firstUnacked = 1) =>
    encodeEntry({ type: EntryType.write, clientId: 'c@1', callId, firstUnacked, data: encodePut('k', value) });
  const waitFor = async (done: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(done(), what);
  };
  const get = async (queryId: number): Promise<unknown> => {
    toUpdater.send({ k: Kind.UpdaterQuery, queryId, data: encodeGet('k'), stale: true });
    await waitFor(() => answers.has(queryId), `query ${queryId} answered`);
    return answers.get(queryId);
  };
  try {
    // The log's first message at start: no snapshot to load.
    fromLog.send({ k: Kind.UpdaterRestore, snapshot: null });
    await updater.start();
    toUpdater.onMessage((message) => {
      if (message.k === Kind.UpdaterApplied) applied.push(message.appliedIndex);
      else answers.set(message.queryId, decode(message.result!));
    });
    // 1: client c's session opens (c@1), 2: put a, 3: put b (a later leader replaces it), then the commit comes with the next entries.
    fromLog.send({ k: Kind.UpdaterEntries, firstIndex: 1, terms: [1, 1, 1], entries: packPayloads([openPayload('c'), put(1, 'a'), put(2, 'b')]) });
    fromLog.send({ k: Kind.UpdaterTruncate, fromIndex: 3 });
    // Index 3 again from the new leader: call 2 as a cas from 'a' (it fails if the truncated 'b'
    // was applied), then call 1 retried (a second apply would put 'a' back).
    const cas = encodeEntry({ type: EntryType.write, clientId: 'c@1', callId: 2, firstUnacked: 1, data: encodeCas('k', 'a', 'c') });
    fromLog.send({ k: Kind.UpdaterEntries, firstIndex: 3, terms: [2, 2], entries: packPayloads([cas, put(1, 'a')]), commitIndex: 4 });
    await waitFor(() => applied.includes(4), 'applied through the commit that came with the entries');
    assert.equal(await get(1), 'c', "the truncated entry never applied, the retry of call 1 not applied again");
    // A commit from the server still works beside it, and neither goes back.
    fromLog.send({ k: Kind.UpdaterEntries, firstIndex: 5, terms: [2], entries: packPayloads([put(3, 'd', 3)]), commitIndex: 3 });
    toUpdater.send({ k: Kind.UpdaterCommit, commitIndex: 5, truncations: 1 });
    await waitFor(() => applied.includes(5), 'applied through the server commit');
    assert.equal(await get(2), 'd');
  } finally {
    await updater.stop();
    for (const channel of [main, log]) { channel.port1.close(); channel.port2.close(); }
  }
});
