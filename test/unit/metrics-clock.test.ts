/**
 * The shared clock (src/metrics/clock.ts) across threads: a stamp taken on one thread and read on
 * another right after is never later than the reader's own clock, both ways. Plain
 * performance.now() is relative to each thread's time origin, which some Node 20 releases start
 * when the worker starts; nowUs adds the origin, so its stamps compare whichever release runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { nowUs } from '../../src/metrics/clock.js';

const rounds = 300;

test('stamps from a worker thread and the main thread compare on one clock', async () => {
  const clockUrl = new URL('../../src/metrics/clock.js', import.meta.url).href;
  const shared = new SharedArrayBuffer(64);
  const stamps = new Float64Array(shared, 0, 4);
  const flags = new Int32Array(shared, 32, 2);
  // The worker waits for each main stamp, stamps back at once; both orders are checked.
  const worker = new Worker(`
    const { workerData } = require('node:worker_threads');
    import(${JSON.stringify(clockUrl)}).then(({ nowUs }) => {
      const stamps = new Float64Array(workerData, 0, 4);
      const flags = new Int32Array(workerData, 32, 2);
      for (let round = 1; round <= ${rounds}; round++) {
        Atomics.wait(flags, 0, round - 1);
        stamps[1] = nowUs();
        Atomics.store(flags, 1, round);
        Atomics.notify(flags, 1);
      }
    });
  `, { eval: true, workerData: shared });
  const exited = new Promise((resolve, reject) => { worker.once('exit', resolve); worker.once('error', reject); });
  await new Promise((resolve) => setTimeout(resolve, 50));
  let mainToWorkerUsMin = Infinity;
  let workerToMainUsMin = Infinity;
  for (let round = 1; round <= rounds; round++) {
    stamps[0] = nowUs();
    Atomics.store(flags, 0, round);
    Atomics.notify(flags, 0);
    while (Atomics.load(flags, 1) !== round) Atomics.wait(flags, 1, round - 1, 100);
    const back = nowUs();
    mainToWorkerUsMin = Math.min(mainToWorkerUsMin, stamps[1]! - stamps[0]!);
    workerToMainUsMin = Math.min(workerToMainUsMin, back - stamps[1]!);
  }
  await exited;
  assert.ok(mainToWorkerUsMin >= 0, `main -> worker: ${mainToWorkerUsMin} µs`);
  assert.ok(workerToMainUsMin >= 0, `worker -> main: ${workerToMainUsMin} µs`);
  // Both directions are bounded by the round trip: the clocks agree to within a few µs.
  assert.ok(mainToWorkerUsMin < 5000 && workerToMainUsMin < 5000, `${mainToWorkerUsMin} and ${workerToMainUsMin} µs`);
});
