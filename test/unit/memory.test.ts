/**
 * Memory figures: a worker's heap reaches the server's thread through the shared board (the
 * figures are the worker's, not the reader's: a worker that holds a large buffer reports it), a
 * row not yet reported is absent, an unknown row is refused by name; the process figures add up;
 * the bench's breakdown splits a resident set into heaps, buffers and the rest, with slopes from
 * the warm-up on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { HeapBoard, sampleProcessMemory, sampleThreadHeap } from '../../src/metrics/memory.js';
import { MemorySeries } from '../../bench/memory-series.js';

const MiB = 1024 * 1024;

test('a worker reports its own heap and buffers through the shared board', async () => {
  const board = new HeapBoard(['log', 'updater']);
  assert.deepEqual(board.read(Date.now()), {}, 'nothing reported yet');
  // The worker holds 24 MiB of buffers and reports once; the reader holds none of them. (An eval'd
  // worker is CommonJS: it loads the ESM module with a dynamic import.)
  const module = new URL('../../src/metrics/memory.js', import.meta.url).href;
  const source = `(async () => {
    const { workerData, parentPort } = require('node:worker_threads');
    const kept = Buffer.alloc(24 * 1024 * 1024, 1);
    const memory = await import(workerData.module);
    new memory.HeapBoard(workerData.names, workerData.buffer).report('updater');
    parentPort.postMessage(kept.length);
    parentPort.once('message', () => process.exit(0));
  })();`;
  const reporter = new Worker(source, { eval: true, workerData: { module, names: board.names, buffer: board.buffer } });
  try {
    const held = await new Promise<number>((resolve, reject) => {
      reporter.once('message', resolve);
      reporter.once('error', reject);
    });
    assert.equal(held, 24 * MiB);
    const rows = board.read(Date.now());
    assert.deepEqual(Object.keys(rows), ['updater'], 'only the row that reported');
    const updater = rows['updater']!;
    assert.ok(updater.arrayBufferBytes >= 24 * MiB, `the worker's 24 MiB buffer is in its row: ${updater.arrayBufferBytes}`);
    assert.ok(sampleThreadHeap().arrayBufferBytes < updater.arrayBufferBytes, 'and not in this thread');
    assert.ok(updater.usedBytes > 0 && updater.usedBytes <= updater.committedBytes && updater.residentBytes > 0);
    assert.ok(updater.youngBytes > 0 && updater.youngBytes <= updater.committedBytes);
    assert.ok(updater.ageMs >= 0 && updater.ageMs < 10_000);
    assert.equal(board.read(Date.now() + 5000)['updater']!.ageMs >= 5000, true, 'age counts from the report');
  } finally {
    reporter.postMessage('exit');
    await new Promise((resolve) => reporter.once('exit', resolve));
  }
  assert.throws(() => board.report('appender'), (error: Error) => error instanceof RangeError && /appender/.test(error.message));
});

test('process memory: anonymous and file-backed parts within the resident set (Linux)', () => {
  const memory = sampleProcessMemory();
  assert.ok(memory.rssBytes > 0);
  if (process.platform !== 'linux') return;
  assert.ok(memory.rssAnonBytes !== null && memory.rssFileBytes !== null);
  assert.ok(memory.rssAnonBytes > 0 && memory.rssFileBytes > 0);
  assert.ok(memory.rssAnonBytes + memory.rssFileBytes <= memory.rssBytes, 'VmRSS is anon + file + shmem');
  assert.ok(memory.rssAnonBytes > sampleThreadHeap().residentBytes, "this thread's heap is anonymous memory");
});

test('bench breakdown: heaps, buffers and the rest of each resident set, slopes after the warm-up', () => {
  const series = new MemorySeries();
  const heap = (residentMiB: number, buffersMiB: number) => ({
    usedBytes: residentMiB * MiB / 2, committedBytes: residentMiB * MiB, residentBytes: residentMiB * MiB,
    youngBytes: 4 * MiB, arrayBufferBytes: buffersMiB * MiB, ageMs: 0,
  });
  // n1: heaps flat at 30 MiB, buffers flat at 10, the rest grows 2 MiB a minute; the warm-up (t < 10) is ignored.
  series.add('n1', 0, { rssBytes: 20 * MiB, rssAnonBytes: null, rssFileBytes: null, threads: { main: heap(5, 1) } });
  for (let minute = 0; minute <= 5; minute++) {
    const atS = 10 + minute * 60;
    const restMiB = 100 + 2 * minute;
    series.add('n1', atS, {
      rssBytes: (30 + 10 + restMiB) * MiB, rssAnonBytes: null, rssFileBytes: null,
      threads: { main: heap(20, 4), log: heap(10, 6) },
    });
  }
  series.add('n2', 12, { rssBytes: 50 * MiB, rssAnonBytes: null, rssFileBytes: null, threads: { main: heap(20, 0) } });
  const [n1, ...others] = series.breakdown(10);
  assert.deepEqual(others, [], 'n2 has one point after the warm-up: no slope to tell');
  assert.equal(n1!.id, 'n1');
  assert.deepEqual(n1!.heaps, { firstMiB: 30, lastMiB: 30, slopeMiBPerMinute: 0 });
  assert.deepEqual(n1!.arrayBuffers, { firstMiB: 10, lastMiB: 10, slopeMiBPerMinute: 0 });
  assert.deepEqual(n1!.rest, { firstMiB: 100, lastMiB: 110, slopeMiBPerMinute: 2 });
  assert.deepEqual(n1!.threadsMiB, { main: 20, log: 10 });
  assert.equal(series.series()['n1']!.length, 7);
});
