/**
 * The log and updater actors together, inline, on a real directory: a commit index that covers a
 * truncation and its replacement entries must make the updater apply the replacements, never the
 * stale entries the truncation removes — even though the commit travels on another port and may
 * arrive first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { LogActor } from '../../src/actors/log-actor.js';
import { UpdaterActor } from '../../src/actors/updater-actor.js';
import { ActorLink } from '../../src/shell/actor-link.js';
import { Kind } from '../../src/messages/kinds.js';
import { encodeEntry, EntryType } from '../../src/messages/entry.js';
import { packPayloads } from '../../src/messages/packed-entries.js';
import { decode, encode } from '../../src/messages/codec.js';
import type { LogInput, UpdaterAppliedMessage, UpdaterInput, UpdaterQueryResultMessage } from '../../src/messages/messages.js';

const ledgerModule = fileURLToPath(new URL('../support/ledger-sm.js', import.meta.url));

/** A write of session c@1, which the entry at index 1 opens. */
function entry(callId: number, value: string): Uint8Array {
  return encodeEntry({ type: EntryType.write, clientId: 'c@1', callId, firstUnacked: 0, data: encode(value) });
}

const openSession = encodeEntry({ type: EntryType.sessionOpen, clientId: 'c', callId: 0, firstUnacked: 0, data: new Uint8Array(0) });

async function startPair(dir: string) {
  const mainLog = new MessageChannel();
  const mainUpdater = new MessageChannel();
  const logUpdater = new MessageChannel();
  const appenderLog = new MessageChannel();
  const log = new LogActor({ dir, segmentBytesMax: 1 << 20 }, {
    main: new ActorLink(mainLog.port2), updater: new ActorLink(logUpdater.port1), appender: new ActorLink(appenderLog.port2),
  });
  const updater = new UpdaterActor({ stateMachine: ledgerModule, context: { serverId: 'n1', groupId: 'g', dir } }, {
    main: new ActorLink(mainUpdater.port2), log: new ActorLink(logUpdater.port2),
  });
  const toLogLink = new ActorLink<unknown, LogInput>(mainLog.port1);
  const toUpdater = new ActorLink<UpdaterAppliedMessage | UpdaterQueryResultMessage, UpdaterInput>(mainUpdater.port1);
  // The server's side: a commit says how many truncations were submitted before it.
  let truncations = 0;
  const toLog = {
    send(message: LogInput): void {
      if (message.k === Kind.LogTruncate) truncations++;
      toLogLink.send(message);
    },
  };
  const commit = (commitIndex: number): void => toUpdater.send({ k: Kind.UpdaterCommit, commitIndex, truncations });
  const recovered = await log.start();
  await updater.start();
  toLogLink.onMessage(() => {});
  const applied: number[] = [];
  let queryResult: ((value: string[]) => void) | null = null;
  toUpdater.onMessage((message) => {
    if (message.k === Kind.UpdaterApplied) applied.push(message.appliedIndex);
    else queryResult?.(decode(message.result!) as string[]);
  });
  const ledger = (): Promise<string[]> => new Promise((resolve) => {
    queryResult = resolve;
    toUpdater.send({ k: Kind.UpdaterQuery, queryId: 1, data: encode('dump'), stale: true });
  });
  const close = async (): Promise<void> => {
    await updater.stop();
    await log.stop();
    for (const channel of [mainLog, mainUpdater, logUpdater, appenderLog]) { channel.port1.close(); channel.port2.close(); }
  };
  return { recovered, toLog, commit, applied, ledger, close };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('a commit covering a truncation applies the replacement entries, not the stale tail, after a restart', { timeout: 10_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-order-'));
  const closers: (() => Promise<void>)[] = [];
  try {
    // First life: ten entries of term 1 (a session's open, then its writes), the first four committed.
    const first = await startPair(dir);
    closers.push(first.close);
    const values = Array.from({ length: 9 }, (_, i) => `old-${i + 2}`);
    const payloads = [openSession, ...values.map((v, i) => entry(i + 2, v))];
    first.toLog.send({ k: Kind.LogAppend, seq: 1, firstIndex: 1, terms: payloads.map(() => 1), entries: packPayloads(payloads) });
    first.commit(4);
    await until(() => first.applied.includes(4), 'apply of 4');
    await closers.pop()!();

    // Restart: the updater replays the whole recovered log into its buffer, uncommitted tail too.
    const second = await startPair(dir);
    closers.push(second.close);
    assert.equal(second.recovered.lastIndex, 10);
    // The new leader's log differs from index 6 on; its commit index covers the replacements.
    second.toLog.send({ k: Kind.LogTruncate, seq: 1, fromIndex: 6 });
    second.toLog.send({ k: Kind.LogAppend, seq: 2, firstIndex: 6, terms: [2, 2, 2], entries: packPayloads([entry(106, 'new-6'), entry(107, 'new-7'), entry(108, 'new-8')]) });
    // Sent at once, on its own port: it may reach the updater before the truncation does.
    second.commit(8);
    await until(() => second.applied.some((index) => index >= 8), 'apply of 8');
    assert.deepEqual(await second.ledger(), ['old-2', 'old-3', 'old-4', 'old-5', 'new-6', 'new-7', 'new-8']);
  } finally {
    for (const close of closers) await close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
