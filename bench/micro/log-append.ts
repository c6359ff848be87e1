/**
 * Log micro-benchmark: SegmentedLog on a temp folder, batches of 128-byte entries appended and
 * made durable with one fdatasync per batch — with batches of 1 (a sync per entry) and of 100
 * (group commit) — in entries per second; and each of them again on a log that does not
 * preallocate (every append grows the file, so every fdatasync commits the file system's journal),
 * which shows what the preallocation buys on this disk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PREALLOCATE_BYTES_DEFAULT, SegmentedLog, type LogEntryRecord } from '../../src/log/segmented-log.js';
import { measureSync, type MeasureOptions, type MicroResult } from './measure.js';

export function logBenchmarks(options: MeasureOptions, dirBase = os.tmpdir()): MicroResult[] {
  const results: MicroResult[] = [];
  for (const [batchEntries, preallocate] of [[1, true], [1, false], [100, true], [100, false]] as const) {
    const dir = fs.mkdtempSync(path.join(dirBase, 'raftline-micro-log-'));
    try {
      const log = SegmentedLog.open(dir, { segmentSizeBytesMax: 64 * 1024 * 1024, ...(preallocate ? {} : { preallocateBytes: 0 }) });
      const payload = new Uint8Array(128).fill(7);
      let next = log.lastIndex + 1;
      const name = `log append+sync, batch ${batchEntries}${preallocate ? '' : ', growing file'}`;
      results.push(measureSync(name, 'entries', batchEntries, () => {
        const batch: LogEntryRecord[] = new Array(batchEntries);
        for (let i = 0; i < batchEntries; i++) batch[i] = { index: next++, term: 1, payload };
        log.append(batch);
        log.sync();
      }, { ...options, warmupSteps: 5 }, { batchEntries, payloadBytes: payload.length, preallocateBytes: preallocate ? PREALLOCATE_BYTES_DEFAULT : 0, syncsPerSecondNote: 'one fdatasync per batch' }));
      log.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}
