/**
 * Client sessions in the updater actor (inline, on message channels, with a ledger state machine
 * that records every apply): a session opens at a sessionOpen entry under `<client>@<index>`, its
 * end drops its exactly-once table, a clock entry forgets the sessions idle past the bound it
 * carries (counted from the first clock entry after their last entry), and a write of a session
 * not held is answered SESSION_EXPIRED and never applied. Two updaters fed the same log in
 * different batches, at different real times, and one restarted half-way, end identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { UpdaterActor } from '../../src/actors/updater-actor.js';
import { ActorLink } from '../../src/shell/actor-link.js';
import { Kind } from '../../src/messages/kinds.js';
import { encodeClockData, encodeEntry, EntryType } from '../../src/messages/entry.js';
import { packPayloads } from '../../src/messages/packed-entries.js';
import { decode, encode } from '../../src/messages/codec.js';
import type {
  UpdaterAppliedMessage, UpdaterInput, UpdaterLogInput, UpdaterQueryResultMessage, UpdaterSessionsReport,
} from '../../src/messages/messages.js';
import type { WireError } from '../../src/errors.js';
import { SeededRng } from '../../src/core/rng.js';

const ledgerModule = fileURLToPath(new URL('../support/ledger-sm.js', import.meta.url));
const none = new Uint8Array(0);

const open = (client: string): Uint8Array => encodeEntry({ type: EntryType.sessionOpen, clientId: client, callId: 0, firstUnacked: 0, data: none });
const end = (session: string): Uint8Array => encodeEntry({ type: EntryType.sessionEnd, clientId: session, callId: 0, firstUnacked: 0, data: none });
const clock = (logTimeMs: number, idleMsMax: number): Uint8Array =>
  encodeEntry({ type: EntryType.clock, clientId: '', callId: 0, firstUnacked: 0, data: encodeClockData(logTimeMs, idleMsMax) });
const write = (session: string, callId: number, value: string, firstUnacked = 1): Uint8Array =>
  encodeEntry({ type: EntryType.write, clientId: session, callId, firstUnacked, data: encode(value) });

/** One updater on message channels: entries in, reports out. */
class Harness {
  /** Every outcome reported with a result or an error, by index. */
  readonly outcomes = new Map<number, { result: unknown; error: WireError | null }>();
  readonly reports: UpdaterSessionsReport[] = [];
  appliedIndex = 0;
  private nextIndex = 1;
  private readonly answers = new Map<number, unknown>();
  private nextQuery = 1;

  private constructor(
    private readonly updater: UpdaterActor,
    private readonly toUpdater: ActorLink<UpdaterAppliedMessage | UpdaterQueryResultMessage, UpdaterInput>,
    private readonly fromLog: ActorLink<never, UpdaterLogInput>,
    private readonly channels: MessageChannel[],
  ) {}

  static async start(): Promise<Harness> {
    const main = new MessageChannel();
    const log = new MessageChannel();
    const updater = new UpdaterActor({ stateMachine: ledgerModule, context: { serverId: 'n1', groupId: 'g', dir: os.tmpdir() }, sessionIdleMsMax: 5000 }, {
      main: new ActorLink(main.port2), log: new ActorLink(log.port2),
    });
    const harness = new Harness(updater, new ActorLink(main.port1), new ActorLink(log.port1), [main, log]);
    // The log's first message at start: no snapshot to load.
    new ActorLink<never, UpdaterLogInput>(log.port1).send({ k: Kind.UpdaterRestore, snapshot: null });
    await updater.start();
    harness.toUpdater.onMessage((message) => {
      if (message.k === Kind.UpdaterApplied) {
        message.indexes.forEach((index, i) => harness.outcomes.set(index, {
          result: message.results[i] === null ? null : decode(message.results[i]!), error: message.errors[i]!,
        }));
        if (message.sessions !== undefined) harness.reports.push(message.sessions);
        harness.appliedIndex = Math.max(harness.appliedIndex, message.appliedIndex);
      } else {
        harness.answers.set(message.queryId, decode(message.result!));
      }
    });
    return harness;
  }

  /** Appends `payloads` after the entries so far, committed. */
  async feed(payloads: Uint8Array[]): Promise<void> {
    const firstIndex = this.nextIndex;
    this.nextIndex += payloads.length;
    this.fromLog.send({ k: Kind.UpdaterEntries, firstIndex, terms: payloads.map(() => 1), entries: packPayloads(payloads), commitIndex: this.nextIndex - 1 });
    await until(() => this.appliedIndex >= this.nextIndex - 1, `apply through ${this.nextIndex - 1}`);
  }

  /** The ledger: every value applied, in order. */
  async ledger(): Promise<string[]> {
    const queryId = this.nextQuery++;
    this.toUpdater.send({ k: Kind.UpdaterQuery, queryId, data: encode('dump'), stale: true });
    await until(() => this.answers.has(queryId), 'the query answer');
    return this.answers.get(queryId) as string[];
  }

  get sessions(): UpdaterSessionsReport {
    return this.reports[this.reports.length - 1]!;
  }

  errorAt(index: number): string | null {
    return this.outcomes.get(index)?.error?.code ?? null;
  }

  async stop(): Promise<void> {
    await this.updater.stop();
    for (const channel of this.channels) { channel.port1.close(); channel.port2.close(); }
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

test('a session opens at its entry; its end drops its table; a retry after the end is answered SESSION_EXPIRED, not applied', { timeout: 10_000 }, async () => {
  const updater = await Harness.start();
  try {
    // 1: open of client c (session c@1), 2: its call 1, 3: call 1 again (a retry: the first outcome).
    await updater.feed([open('c'), write('c@1', 1, 'one'), write('c@1', 1, 'one')]);
    assert.deepEqual(updater.outcomes.get(1)?.result, { session: 'c@1', idleMsMax: 5000 }, 'the open names the session and the bound');
    assert.deepEqual(updater.outcomes.get(3)?.result, 1, 'the retry got the first outcome');
    assert.equal(updater.sessions.held, 1);
    // 4: the end (the client's close), 5: call 1 once more, 6: a new call of the ended session.
    await updater.feed([end('c@1'), write('c@1', 1, 'one'), write('c@1', 2, 'two', 2)]);
    assert.equal(updater.errorAt(5), 'SESSION_EXPIRED');
    assert.equal(updater.errorAt(6), 'SESSION_EXPIRED');
    assert.deepEqual(updater.outcomes.get(5)?.error?.details, { session: 'c@1', callId: 1 });
    assert.deepEqual(await updater.ledger(), ['one'], 'applied once; nothing of the ended session after its end');
    assert.deepEqual(updater.sessions, { held: 0, logTimeMs: 0, opened: 1, ended: 1, expired: 0, forgotten: ['c@1'] });
    // A write of a session never opened, and a second end, change nothing.
    await updater.feed([write('x@99', 1, 'x'), end('c@1')]);
    assert.equal(updater.errorAt(7), 'SESSION_EXPIRED');
    assert.deepEqual(await updater.ledger(), ['one']);
    // A late copy of the open makes a new session (c@9), never the ended one again.
    await updater.feed([open('c'), write('c@1', 1, 'one'), write('c@9', 1, 'one-again')]);
    assert.deepEqual(updater.outcomes.get(9)?.result, { session: 'c@9', idleMsMax: 5000 });
    assert.equal(updater.errorAt(10), 'SESSION_EXPIRED');
    assert.deepEqual(await updater.ledger(), ['one', 'one-again']);
  } finally {
    await updater.stop();
  }
});

test('a clock entry forgets the sessions idle past the bound it carries, from the first clock entry after their last entry', { timeout: 10_000 }, async () => {
  const updater = await Harness.start();
  try {
    // 1: a@1, 2: b@2 opened; 3: clock at 1000 (both were active before it: idle from 1000).
    await updater.feed([open('a'), open('b'), clock(1000, 5000)]);
    // 4: a writes; 5: clock at 4000 (a idle from 4000); 6: clock at 6000: b idle 5000, not more.
    await updater.feed([write('a@1', 1, 'a1'), clock(4000, 5000), clock(6000, 5000)]);
    assert.equal(updater.sessions.held, 2, 'idle for exactly the bound is not past it');
    // 7: clock at 6001: b idle 5001 > 5000, forgotten; a idle 2001, kept.
    await updater.feed([clock(6001, 5000)]);
    assert.deepEqual(updater.sessions, { held: 1, logTimeMs: 6001, opened: 2, ended: 0, expired: 1, forgotten: ['b@2'] });
    // 8: b's late write: SESSION_EXPIRED. 9: a retries call 1: the first outcome.
    await updater.feed([write('b@2', 1, 'b1'), write('a@1', 1, 'a1')]);
    assert.equal(updater.errorAt(8), 'SESSION_EXPIRED');
    assert.equal(updater.outcomes.get(9)?.result, 1);
    // A clock value below the log's time does not move it back (10: 3000), but ends a period: a,
    // active at 9, is idle from 6001. The bound is the entry's own: 11, at 7000 with a bound of
    // 1000, keeps a (idle 999); 12, at 7000 with 900, forgets it.
    await updater.feed([clock(3000, 5000)]);
    assert.equal(updater.sessions.logTimeMs, 6001);
    await updater.feed([clock(7000, 1000)]);
    assert.equal(updater.sessions.held, 1);
    await updater.feed([clock(7000, 900)]);
    assert.deepEqual(updater.sessions, { held: 0, logTimeMs: 7000, opened: 2, ended: 0, expired: 2, forgotten: ['a@1'] });
    await updater.feed([write('a@1', 1, 'a1'), write('a@1', 2, 'a2', 2)]);
    assert.equal(updater.errorAt(13), 'SESSION_EXPIRED', 'a retry after the session was forgotten');
    assert.equal(updater.errorAt(14), 'SESSION_EXPIRED');
    assert.deepEqual(await updater.ledger(), ['a1'], 'nothing applied twice, nothing of a forgotten session');
  } finally {
    await updater.stop();
  }
});

/** A log of sessions opening, writing, retrying, ending and idling out, drawn from `seed`. */
function randomLog(seed: number, length: number): Uint8Array[] {
  const rng = new SeededRng(seed);
  const log: Uint8Array[] = [];
  const sessions: { id: string; next: number }[] = [];
  let logTimeMs = 0;
  let client = 0;
  while (log.length < length) {
    const roll = rng.nextFloat();
    const index = log.length + 1;
    if (roll < 0.1 || sessions.length === 0) {
      const name = `client-${client++}`;
      log.push(open(name));
      sessions.push({ id: `${name}@${index}`, next: 1 });
    } else if (roll < 0.15) {
      const session = sessions[Math.floor(rng.nextFloat() * sessions.length)]!;
      log.push(end(session.id));
    } else if (roll < 0.25) {
      logTimeMs += Math.floor(rng.nextFloat() * 30);
      log.push(clock(logTimeMs, 50));
    } else {
      // A new call, or a retry of an earlier one, of any session ever opened (ended and forgotten ones too).
      const session = sessions[Math.floor(rng.nextFloat() * sessions.length)]!;
      const callId = rng.nextFloat() < 0.3 && session.next > 1 ? 1 + Math.floor(rng.nextFloat() * (session.next - 1)) : session.next++;
      log.push(write(session.id, callId, `${session.id}:${callId}`));
    }
  }
  return log;
}

test('two updaters fed the same log in different batches at different times, one restarted half-way, end identical', { timeout: 30_000 }, async () => {
  const log = randomLog(7, 600);
  const all = await Harness.start();
  const batched = await Harness.start();
  let restarted = await Harness.start();
  try {
    await all.feed(log);
    // In batches of 1 to 40 with real time between them (a server's own clock must not matter).
    const rng = new SeededRng(11);
    for (let at = 0; at < log.length;) {
      const size = 1 + Math.floor(rng.nextFloat() * 40);
      await batched.feed(log.slice(at, at + size));
      await new Promise((resolve) => setTimeout(resolve, Math.floor(rng.nextFloat() * 8)));
      at += size;
    }
    // Half the log, then a restart replays it from the start and goes on.
    await restarted.feed(log.slice(0, 300));
    await restarted.stop();
    restarted = await Harness.start();
    await restarted.feed(log);
    const expected = await all.ledger();
    assert.deepEqual(await batched.ledger(), expected);
    assert.deepEqual(await restarted.ledger(), expected);
    const outcomes = (harness: Harness): string => JSON.stringify([...harness.outcomes].sort(([a], [b]) => a - b));
    assert.equal(outcomes(batched), outcomes(all));
    assert.equal(outcomes(restarted), outcomes(all));
    const { held, logTimeMs, opened, ended, expired } = all.sessions;
    for (const other of [batched, restarted]) {
      assert.deepEqual({ ...other.sessions, forgotten: [] }, { held, logTimeMs, opened, ended, expired, forgotten: [] });
    }
    // The log reached every case: ends, expiries, writes refused, retries answered.
    assert.ok(ended > 5 && expired > 5, `ended ${ended}, expired ${expired}`);
    const refused = [...all.outcomes.values()].filter((outcome) => outcome.error?.code === 'SESSION_EXPIRED').length;
    assert.ok(refused > 10, `${refused} writes refused`);
    const values = expected.length;
    assert.equal(new Set(expected).size, values, 'no call applied twice');
  } finally {
    await Promise.all([all.stop(), batched.stop(), restarted.stop()]);
  }
});
