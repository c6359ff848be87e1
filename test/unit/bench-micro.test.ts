/**
 * The micro-benchmarks run briefly and report what they did: whole batches of operations, a
 * positive rate, and a mean that agrees with the rate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecBenchmarks, batchEntries } from '../../bench/micro/codec.js';
import { logBenchmarks } from '../../bench/micro/log-append.js';
import { threadHopBenchmarks } from '../../bench/micro/thread-hop.js';
import { tcpFrameBenchmarks } from '../../bench/micro/tcp-frame.js';
import type { MicroResult } from '../../bench/micro/measure.js';

function check(results: MicroResult[], names: string[]): void {
  assert.deepEqual(results.map((entry) => entry.name), names);
  for (const entry of results) {
    assert.ok(entry.operations > 0 && entry.opsPerSecond > 0, `${entry.name} did something`);
    assert.equal(entry.operations % Number(entry.details['opsPerStep'] ?? entry.details['framesPerRound']), 0, `${entry.name}: whole steps`);
    assert.ok(Math.abs(entry.meanUs * entry.opsPerSecond - 1e6) / 1e6 < 0.01, `${entry.name}: mean and rate agree`);
  }
}

test('micro: codec, log append + sync, thread hop and TCP frames each report a rate', { timeout: 30_000 }, async () => {
  const options = { seconds: 0.05 };
  const codec = codecBenchmarks(options);
  check(codec, ['codec encode', 'codec decode']);
  assert.equal(codec[0]!.details['batchEntries'], batchEntries);
  check(logBenchmarks(options), ['log append+sync, batch 1', 'log append+sync, batch 1, growing file', 'log append+sync, batch 100', 'log append+sync, batch 100, growing file']);
  check(await threadHopBenchmarks(options), ['thread hop round trip, 1 in flight', 'thread hop round trip, 64 in flight']);
  check(await tcpFrameBenchmarks(options), ['tcp frame write each', 'tcp frame corked x100']);
});
