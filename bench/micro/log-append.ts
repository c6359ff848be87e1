/**
 * Log micro-benchmark: SegmentedLog on a temp folder, batches of 128-byte entries appended and
 * made durable with one fdatasync per batch — with batches of 1 (a sync per entry) and of 100
 * (group commit) — in entries per second.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SegmentedLog, type LogEntryRecord } from '../../src/log/segmented-log.js';
import { measureSync, type MeasureOptions, type MicroResult } from './measure.js';

export function logBenchmarks(options: MeasureOptions, dirBase = os.tmpdir()): MicroResult[] {
  const results: MicroResult[] = [];
  for (const batchEntries of [1, 100]) {
    const dir = fs.mkdtempSync(path.join(dirBase, 'raftline-micro-log-'));
    try {
      const log = SegmentedLog.open(dir, { segmentSizeBytesMax: 64 * 1024 * 1024 });
      const payload = new Uint8Array(128).fill(7);
      let next = log.lastIndex + 1;
      results.push(measureSync(`log append+sync, batch ${batchEntries}`, 'entries', batchEntries, () => {
        const batch: LogEntryRecord[] = new Array(batchEntries);
        for (let i = 0; i < batchEntries; i++) batch[i] = { index: next++, term: 1, payload };
        log.append(batch);
        log.sync();
      }, { ...options, warmupSteps: 5 }, { batchEntries, payloadBytes: payload.length, syncsPerSecondNote: 'one fdatasync per batch' }));
      log.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}
