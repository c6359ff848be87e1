/**
 * Snapshots of the built-in state machines, the simulator's and chaos runs' state machines, the
 * test state machines and the updater's session table: a state restored from a snapshot answers
 * every read as the original does and goes on exactly as the original under the same later
 * operations; a snapshot is a point-in-time copy (changing the original afterwards leaves its
 * bytes as they were); damaged or foreign bytes are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import createKvStateMachine from '../../src/statemachines/kv.js';
import createCounterStateMachine, { decodeCounterValue, encodeCounterAdd } from '../../src/statemachines/counter.js';
import { encodeCas, encodeDelete, encodeGet, encodePut } from '../../src/statemachines/kv-ops.js';
import { KV_SNAPSHOT_FILE } from '../../src/statemachines/kv-snapshot.js';
import { SimLedger } from '../../src/sim/sim-ledger.js';
import createChaosStateMachine, {
  decodeCounter, decodeSet, encodeAppend, encodeIncrement, encodeReadCounter, encodeReadSet,
} from '../../src/chaos/chaos-state-machine.js';
import { SessionTable, decodeCallOutcome, encodeCallOutcome, type SettledCallOutcome } from '../../src/actors/session-table.js';
import { CallTable } from '../../src/call-table.js';
import createLedger from '../support/ledger-sm.js';
import createAsyncRecorder from '../support/async-sm.js';
import { decode, encode } from '../../src/messages/codec.js';
import { SeededRng } from '../../src/core/rng.js';
import type { SnapshotReader, SnapshotWriter, StateMachine } from '../../src/state-machine.js';

/** The files a takeSnapshot wrote, each as the chunks it gave. */
type SnapshotFiles = Map<string, readonly Uint8Array[]>;

async function takeSnapshot(machine: StateMachine, index = 1): Promise<SnapshotFiles> {
  const files: SnapshotFiles = new Map();
  const writer: SnapshotWriter = {
    index,
    term: 1,
    addFile(name, chunks) {
      assert.match(name, /^[A-Za-z0-9._-]{1,64}$/);
      assert.ok(!name.startsWith('raftline') && !files.has(name), `file name ${name}`);
      files.set(name, chunks);
    },
  };
  const covered = await machine.takeSnapshot!(writer);
  assert.ok(covered === undefined || covered === index, 'the snapshot covers the writer\'s index');
  return files;
}

function joined(chunks: readonly Uint8Array[]): Buffer {
  return Buffer.concat(chunks.map((chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
}

/** Every file's bytes as one buffer, copied now. */
function frozenFiles(files: SnapshotFiles): Map<string, Buffer> {
  return new Map([...files].map(([name, chunks]) => [name, joined(chunks)]));
}

function readerOf(files: SnapshotFiles | Map<string, Buffer>, index = 1): SnapshotReader {
  return {
    index,
    term: 1,
    files: [...files.keys()],
    read(name) {
      const file = files.get(name);
      if (file === undefined) throw new Error(`no file ${name}`);
      return file instanceof Uint8Array ? file : joined(file);
    },
  };
}

async function restored<M extends StateMachine>(make: () => M, files: SnapshotFiles | Map<string, Buffer>): Promise<M> {
  const machine = make();
  await machine.initialize?.({ serverId: 's', groupId: 'g', dir: '/nowhere' });
  await machine.loadSnapshot!(readerOf(files));
  return machine;
}

const bytesOrNull = (bytes: Uint8Array | null): string => (bytes === null ? 'null' : Buffer.from(bytes).toString('hex'));

// --- kv ---------------------------------------------------------------------------------------

/** A random kv workload over a fixed set of keys (some beyond ASCII: the decoded path). */
class KvWorkload {
  readonly keys: string[] = [];

  constructor(private readonly rng: SeededRng, keyCount: number) {
    for (let i = 0; i < keyCount; i++) this.keys.push(i % 17 === 5 ? `ключ-${i}` : `key-${i}`);
  }

  /** A value whose length crosses the arena's size classes, now and then past the largest (own buffers). */
  value(): string {
    const rng = this.rng;
    const bucket = rng.intBetween(0, 9);
    const length = bucket < 4 ? rng.intBetween(0, 24) : bucket < 8 ? rng.intBetween(25, 600) : bucket < 9 ? rng.intBetween(600, 5000) : rng.intBetween(16 * 1024 - 8, 20_000);
    const letter = String.fromCharCode(97 + rng.intBetween(0, 25));
    return rng.intBetween(0, 5) === 0 ? `é${letter.repeat(Math.max(0, length - 2))}` : letter.repeat(length);
  }

  /**
   * The next operation: [kind, bytes]; a write goes to applyTransaction, a get to query. Half the
   * cas operations expect the key's current value in `machine` (so they succeed), the others null
   * or a value it does not hold.
   */
  async next(machine: StateMachine): Promise<['write' | 'read', Uint8Array]> {
    const rng = this.rng;
    const key = this.keys[rng.intBetween(0, this.keys.length - 1)]!;
    const roll = rng.intBetween(0, 99);
    if (roll < 45) return ['write', encodePut(key, this.value())];
    if (roll < 60) return ['write', encode(['put', key, this.value()])];
    if (roll < 75) return ['write', encodeDelete(key)];
    if (roll < 90) {
      const expected = rng.intBetween(0, 1) === 0 ? await kvGet(machine, key) : rng.intBetween(0, 1) === 0 ? null : 'nope';
      return ['write', encodeCas(key, expected, this.value())];
    }
    return ['read', encodeGet(key)];
  }
}

let kvIndex = 1;
async function runKv(machine: StateMachine, operation: ['write' | 'read', Uint8Array]): Promise<string> {
  const [kind, data] = operation;
  const index = kvIndex++;
  if (kind === 'read') return bytesOrNull(await machine.query(data));
  return bytesOrNull(await machine.applyTransaction({ index, term: 1, clientId: 'c', callId: index, data }));
}

async function kvGet(machine: StateMachine, key: string): Promise<string | null> {
  return decode((await machine.query(encodeGet(key)))!) as string | null;
}

async function assertSameKv(a: StateMachine, b: StateMachine, keys: readonly string[]): Promise<void> {
  for (const key of keys) assert.equal(await kvGet(b, key), await kvGet(a, key), `get ${key}`);
}

/** Applies `count` random operations. */
async function fill(machine: StateMachine, workload: KvWorkload, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await runKv(machine, await workload.next(machine));
}

test('kv: a restored kv answers every get as the original, then goes on identically (results, gets, and its next snapshot byte for byte)', async () => {
  for (const seed of [1, 2, 3]) {
    const rng = new SeededRng(seed);
    const workload = new KvWorkload(rng, 400);
    const original = createKvStateMachine();
    await fill(original, workload, 4000);
    const files = await takeSnapshot(original);
    assert.deepEqual([...files.keys()], [KV_SNAPSHOT_FILE]);
    const copy = await restored(createKvStateMachine, files);
    await assertSameKv(original, copy, workload.keys);
    for (let i = 0; i < 4000; i++) {
      const operation = await workload.next(original);
      assert.equal(await runKv(copy, operation), await runKv(original, operation), `seed ${seed}, operation ${i}`);
    }
    await assertSameKv(original, copy, workload.keys);
    // The same layout after the same operations: free lists, handles and index slots all agree.
    assert.deepEqual(frozenFiles(await takeSnapshot(copy)), frozenFiles(await takeSnapshot(original)));
  }
});

test('kv: two replicas that applied the same entries write the same snapshot bytes', async () => {
  const a = createKvStateMachine();
  const b = createKvStateMachine();
  await fill(a, new KvWorkload(new SeededRng(9), 200), 1500);
  await fill(b, new KvWorkload(new SeededRng(9), 200), 1500);
  assert.deepEqual(frozenFiles(await takeSnapshot(b)), frozenFiles(await takeSnapshot(a)));
});

test('kv: a snapshot of an empty kv restores an empty kv that works', async () => {
  const files = await takeSnapshot(createKvStateMachine());
  const copy = await restored(createKvStateMachine, files);
  const fresh = createKvStateMachine();
  assert.equal(await kvGet(copy, 'a'), null);
  const workload = new KvWorkload(new SeededRng(4), 50);
  for (let i = 0; i < 500; i++) {
    const operation = await workload.next(fresh);
    assert.equal(await runKv(copy, operation), await runKv(fresh, operation));
  }
  await assertSameKv(fresh, copy, workload.keys);
});

test('kv: the snapshot is a point-in-time copy: changing the kv afterwards changes none of its bytes', async () => {
  const workload = new KvWorkload(new SeededRng(5), 300);
  const original = createKvStateMachine();
  await fill(original, workload, 3000);
  const expected = new Map<string, string | null>();
  for (const key of workload.keys) expected.set(key, await kvGet(original, key));
  const files = await takeSnapshot(original);
  const atTake = frozenFiles(files);
  // Puts in place (same size class), deletes, new keys (the index grows), every class touched.
  for (const key of workload.keys) await runKv(original, ['write', encodePut(key, 'x'.repeat(((await kvGet(original, key)) ?? '').length))]);
  await fill(original, workload, 3000);
  for (let i = 0; i < 5000; i++) await runKv(original, ['write', encodePut(`more-${i}`, workload.value())]);
  assert.deepEqual(frozenFiles(files), atTake);
  const copy = await restored(createKvStateMachine, files);
  for (const [key, value] of expected) assert.equal(await kvGet(copy, key), value, `get ${key}`);
});

test('kv: a damaged or foreign kv.state is refused', async () => {
  const original = createKvStateMachine();
  await fill(original, new KvWorkload(new SeededRng(6), 50), 300);
  const file = joined((await takeSnapshot(original)).get(KV_SNAPSHOT_FILE)!);
  const load = (bytes: Buffer) => restored(createKvStateMachine, new Map([[KV_SNAPSHOT_FILE, bytes]]));
  await assert.rejects(load(file.subarray(0, file.length - 1)), /past the end/);
  await assert.rejects(load(Buffer.concat([file, Buffer.alloc(1)])), /left over/);
  const otherVersion = Buffer.from(file);
  otherVersion.writeUInt32LE(2, 4);
  await assert.rejects(load(otherVersion), /version 2/);
  await assert.rejects(load(Buffer.from('not a snapshot')), /not a kv.state/);
  await load(file);
});

// --- counter ----------------------------------------------------------------------------------

test('counter: restored, it reads the same value and goes on adding from it', async () => {
  const original = createCounterStateMachine();
  for (let i = 1; i <= 5; i++) await original.applyTransaction({ index: i, term: 1, clientId: 'c', callId: i, data: encodeCounterAdd(i * 7) });
  const files = await takeSnapshot(original, 5);
  await original.applyTransaction({ index: 6, term: 1, clientId: 'c', callId: 6, data: encodeCounterAdd(1) });
  const copy = await restored(createCounterStateMachine, files);
  assert.equal(decodeCounterValue(await copy.query(new Uint8Array(0))), 105);
  assert.equal(decodeCounterValue(await copy.applyTransaction({ index: 6, term: 1, clientId: 'c', callId: 6, data: encodeCounterAdd(1) })), 106);
  await assert.rejects(restored(createCounterStateMachine, new Map([['counter.state', Buffer.from(encode({ version: 1, value: 1.5 }))]])), /safe integer/);
});

// --- simulator ledger, chaos state machine, test state machines ----------------------------------

test('sim ledger: the snapshot carries the whole ledger; later applies report the same positions; loading replaces what the instance held', async () => {
  const reported: [number, string, number][] = [];
  const original = new SimLedger((index, value, position) => reported.push([index, value, position]));
  for (let i = 1; i <= 30; i++) original.applyTransaction({ index: i * 2, term: 1, clientId: 'c', callId: i, data: encode(`v${i}`) });
  const files = await takeSnapshot(original, 61);
  const seen: [number, string, number][] = [];
  // As the simulated node does: the same ledger object already used in this life.
  const copy = new SimLedger((index, value, position) => seen.push([index, value, position]));
  copy.applyTransaction({ index: 1, term: 1, clientId: 'c', callId: 1, data: encode('stale') });
  seen.length = 0;
  await copy.loadSnapshot(readerOf(files, 61));
  assert.deepEqual(copy.values, original.values);
  assert.equal(copy.lastAppliedIndex, 60);
  assert.deepEqual(decode(copy.query()), 30);
  assert.deepEqual(seen, [], 'loading reports no applies');
  reported.length = 0;
  for (let i = 31; i <= 40; i++) {
    const entry = { index: i * 2, term: 1, clientId: 'c', callId: i, data: encode(`v${i}`) };
    assert.deepEqual(decode(copy.applyTransaction(entry)), decode(original.applyTransaction(entry)));
  }
  assert.deepEqual(seen, reported);
  assert.deepEqual(copy.values, original.values);
});

test('chaos state machine: kv, sets and the counter all come back, and go on identically', async () => {
  const rng = new SeededRng(11);
  const workload = new KvWorkload(rng, 100);
  const original = createChaosStateMachine();
  const chaosOperation = async (): Promise<['write' | 'read', Uint8Array]> => {
    const roll = rng.intBetween(0, 9);
    if (roll < 3) return ['write', encodeAppend(`set-${rng.intBetween(0, 4)}`, `id-${rng.intBetween(0, 50)}`)];
    if (roll < 5) return ['write', encodeIncrement(`tag-${rng.intBetween(0, 20)}`)];
    return workload.next(original);
  };
  for (let i = 0; i < 1500; i++) await runKv(original, await chaosOperation());
  const files = await takeSnapshot(original);
  assert.deepEqual([...files.keys()].sort(), ['chaos.state', KV_SNAPSHOT_FILE]);
  const atTake = frozenFiles(files);
  const copy = await restored(createChaosStateMachine, files);
  const state = async (machine: StateMachine) => ({
    sets: await Promise.all([0, 1, 2, 3, 4].map(async (n) => decodeSet(await machine.query(encodeReadSet(`set-${n}`))))),
    counter: decodeCounter(await machine.query(encodeReadCounter())),
  });
  assert.deepEqual(await state(copy), await state(original));
  await assertSameKv(original, copy, workload.keys);
  for (let i = 0; i < 1500; i++) {
    const operation = await chaosOperation();
    assert.equal(await runKv(copy, operation), await runKv(original, operation), `operation ${i}`);
  }
  assert.deepEqual(await state(copy), await state(original));
  assert.deepEqual(frozenFiles(files), atTake, 'the sets grew after the snapshot; its bytes did not');
});

test('test state machines: the ledger and the async recorder come back whole', async () => {
  const ledger = createLedger();
  for (let i = 1; i <= 5; i++) await ledger.applyTransaction({ index: i, term: 1, clientId: 'c', callId: i, data: encode(`w${i}`) });
  const ledgerCopy = await restored(createLedger, await takeSnapshot(ledger, 5));
  assert.deepEqual(decode((await ledgerCopy.query(new Uint8Array(0)))!), ['w1', 'w2', 'w3', 'w4', 'w5']);
  assert.deepEqual(decode((await ledgerCopy.applyTransaction({ index: 6, term: 1, clientId: 'c', callId: 6, data: encode('w6') }))!), 6);

  const recorder = createAsyncRecorder();
  const applies: Promise<unknown>[] = [];
  for (let i = 1; i <= 3; i++) {
    const entry = { index: i, term: 1, clientId: 'c', callId: i, data: encode(`w${i}`) };
    recorder.applyTransactionSerial!(entry);
    applies.push(Promise.resolve(recorder.applyTransaction(entry)));
  }
  await Promise.all(applies);
  const recorderCopy = await restored(createAsyncRecorder, await takeSnapshot(recorder, 3));
  assert.deepEqual(decode((await recorderCopy.query(new Uint8Array(0)))!), { serialCalls: [1, 2, 3], applyCalls: [1, 2, 3] });
});

// --- session table ----------------------------------------------------------------------------

type Outcome = SettledCallOutcome;

/** A random sequence of what the updater does to its sessions, applied to two tables at once. */
class SessionWorkload {
  private index = 1;
  private logTimeMs = 1000;
  private readonly clients = ['a', 'b', 'c', 'd'];
  /** Ids of sessions opened (some since ended or forgotten: touching them must find nothing). */
  readonly ids: string[] = [];
  private readonly nextCall = new Map<string, number>();

  constructor(private readonly rng: SeededRng) {}

  private outcome(): Outcome {
    const rng = this.rng;
    const roll = rng.intBetween(0, 3);
    if (roll === 0) return { ok: true, result: null, error: null, settled: null };
    if (roll === 1) return { ok: true, result: Uint8Array.from([rng.intBetween(0, 255), rng.intBetween(0, 255)]), error: null, settled: null };
    if (roll === 2) return { ok: false, result: null, error: { code: 'STATE_MACHINE_ERROR', message: `boom ${rng.intBetween(0, 9)}` }, settled: null };
    return { ok: false, result: null, error: { code: 'STATE_MACHINE_ERROR', message: 'with details', details: { at: rng.intBetween(0, 9) } }, settled: null };
  }

  /** One step on every table; returns what each answered, to compare. */
  step(tables: readonly SessionTable<Outcome>[]): unknown[] {
    const rng = this.rng;
    const index = this.index++;
    const roll = rng.intBetween(0, 99);
    if (roll < 10 || this.ids.length === 0) {
      const client = this.clients[rng.intBetween(0, this.clients.length - 1)]!;
      const answers = tables.map((table) => table.open(client, index));
      this.ids.push(answers[0]!);
      return answers;
    }
    const id = this.ids[rng.intBetween(0, this.ids.length - 1)]!;
    if (roll < 75) {
      // A write: touch, look the call up (a retry), else record its outcome; now and then prune.
      const callId = rng.intBetween(0, 3) === 0 ? rng.intBetween(1, this.nextCall.get(id) ?? 1) : (this.nextCall.get(id) ?? 1);
      this.nextCall.set(id, Math.max(callId + 1, this.nextCall.get(id) ?? 1));
      const outcome = this.outcome();
      const prune = rng.intBetween(0, 4) === 0 ? callId - rng.intBetween(0, 5) : -1;
      return tables.map((table) => {
        const session = table.touch(id);
        if (session === undefined) return 'expired';
        const before = session.calls.get(callId) ?? null;
        if (before === null) session.calls.set(callId, outcome);
        if (prune > 0) session.calls.pruneBelow(prune);
        return [before, session.calls.size, session.calls.oldestId() ?? null, session.period, session.idleSinceMs];
      });
    }
    if (roll < 80) return tables.map((table) => { table.end(id); return table.size; });
    if (roll < 85) return tables.map((table) => table.takeReport()?.forgotten ?? null);
    this.logTimeMs += rng.intBetween(0, 3000);
    const idleMsMax = rng.intBetween(1000, 6000);
    return tables.map((table) => [table.clock(this.logTimeMs, idleMsMax), table.size, table.logTimeMs]);
  }
}

const roundTrip = (table: SessionTable<Outcome>, into = new SessionTable<Outcome>()): SessionTable<Outcome> => {
  into.loadSnapshot(table.toSnapshot(encodeCallOutcome), decodeCallOutcome);
  return into;
};

test('session table: restored, it answers touch, calls, end and clock as the original for any later sequence', () => {
  for (const seed of [21, 22, 23, 24]) {
    const rng = new SeededRng(seed);
    const workload = new SessionWorkload(rng);
    const original = new SessionTable<Outcome>();
    for (let i = 0; i < 600; i++) workload.step([original]);
    const copy = roundTrip(original);
    assert.equal(copy.size, original.size);
    assert.equal(copy.logTimeMs, original.logTimeMs);
    // Drain the original's report so both report only what comes after.
    original.takeReport();
    const report = copy.takeReport();
    assert.equal(report?.held, original.size);
    assert.deepEqual(report?.forgotten, []);
    for (const id of workload.ids) {
      const a = original.touch(id);
      const b = copy.touch(id);
      assert.equal(b === undefined, a === undefined, `session ${id}`);
      if (a !== undefined && b !== undefined) {
        assert.deepEqual(b.calls.entries(), a.calls.entries());
        assert.equal(b.idleSinceMs, a.idleSinceMs);
      }
    }
    for (let i = 0; i < 1500; i++) {
      const [a, b] = workload.step([original, copy]);
      assert.deepEqual(b, a, `seed ${seed}, step ${i}`);
    }
    assert.deepEqual(copy.toSnapshot(encodeCallOutcome), original.toSnapshot(encodeCallOutcome));
  }
});

test('session table: loading into a table that holds sessions replaces them and reports those it lacks as forgotten', () => {
  const snapshot = new SessionTable<Outcome>();
  const kept = snapshot.open('a', 1);
  const target = new SessionTable<Outcome>();
  target.open('a', 1);
  const dropped = target.open('b', 2);
  target.takeReport();
  roundTrip(snapshot, target);
  assert.equal(target.size, 1);
  assert.ok(target.touch(kept) !== undefined && target.touch(dropped) === undefined);
  assert.deepEqual(target.takeReport()?.forgotten, [dropped]);
});

test('session table: a subclass made by the updater\'s factory keeps its own behaviour after a load', () => {
  class CountingTable<V> extends SessionTable<V> {
    touches = 0;
    override touch(id: string) {
      this.touches++;
      return super.touch(id);
    }
  }
  const original = new SessionTable<Outcome>();
  const id = original.open('a', 1);
  const copy = roundTrip(original, new CountingTable<Outcome>()) as CountingTable<Outcome>;
  assert.ok(copy.touch(id) !== undefined);
  assert.equal(copy.touches, 1);
});

test('call outcomes: encode and decode round trip; unsettled ones and malformed ones are refused', () => {
  const outcomes: Outcome[] = [
    { ok: true, result: null, error: null, settled: null },
    { ok: true, result: Uint8Array.from([1, 2, 3]), error: null, settled: null },
    { ok: false, result: null, error: { code: 'X', message: 'y', details: { z: 1 } }, settled: null },
    { ok: false, result: null, error: { code: 'X', message: 'y' }, settled: null },
  ];
  for (const outcome of outcomes) assert.deepEqual(decodeCallOutcome(decode(encode(encodeCallOutcome(outcome)))), outcome);
  const shared = decodeCallOutcome([true, null, null]);
  assert.ok(Object.isFrozen(shared) && shared === decodeCallOutcome([true, null, null]));
  assert.throws(() => encodeCallOutcome({ ok: false, result: null, error: null, settled: Promise.resolve() }), /unsettled/);
  assert.throws(() => decodeCallOutcome([true, 'text', null]), /not bytes/);
  assert.throws(() => decodeCallOutcome([false, null, { code: 1 }]), /not \{ code/);
  assert.throws(() => new SessionTable<Outcome>().loadSnapshot(encode({ version: 9 }), decodeCallOutcome), /version/);
});

test('call table: entries and fromEntries round trip, after the head moved', () => {
  const table = new CallTable<string>();
  for (let i = 1; i <= 20; i++) table.set(i, `v${i}`);
  table.pruneBelow(8);
  table.delete(12);
  const { ids, values } = table.entries();
  const copy = CallTable.fromEntries(ids, values);
  assert.deepEqual(copy.entries(), table.entries());
  assert.equal(copy.oldestId(), 8);
  assert.equal(copy.get(13), 'v13');
  copy.set(10, 'x');
  assert.equal(copy.get(10), 'x');
  assert.equal(table.get(10), 'v10', 'the copy shares no list with the original');
  assert.throws(() => CallTable.fromEntries([2, 1], ['a', 'b']), /out of order/);
});
